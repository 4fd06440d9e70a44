/**
 * What an API event keeps of a request body: the JSON with every Secret
 * value replaced by its SHA-256, or, for anything that is not one complete
 * JSON document (YAML, protobuf, a body cut at the capture bound), only its
 * size and SHA-256. Secret values never reach the recorder:
 *
 * - any object whose `kind` is `Secret` (keys and value in any letter case,
 *   at any depth: a `List` of Secrets too) has each value of its `data` and `stringData`
 *   replaced by `sha256:<hex>` of the value's JSON text;
 * - for a request to the `secrets` resource (never captured by the proxy,
 *   but a caller may pass one) `data`/`stringData` values are replaced at
 *   every depth, whatever the `kind`, and a JSON patch operation whose
 *   `path` starts with `/data` or `/stringData` gets its `value` replaced.
 *
 * Duplicate keys are read as `JSON.parse` and Go's decoder read them (the
 * last one wins), so the object checked is the object the API server sees.
 *
 * @module
 */

import { Sha256 } from "../../recording/sha256.ts";

/** A request body as an event keeps it. */
export interface EventBody {
  /** Bytes captured (at most the bound). */
  bytes: number;
  /** Whether the body was longer than the capture bound (cut there). */
  truncated: boolean;
  /** SHA-256 (hex) of the captured bytes. */
  sha256: string;
  /** The JSON document, Secret values replaced; absent when not JSON. */
  json?: unknown;
  /** Why `json` is absent although the body was JSON (too large). */
  jsonOmitted?: string;
}

const enc = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The SHA-256 of bytes, hex.
 * @param b Bytes.
 * @returns 64 hex digits.
 */
export function sha256Hex(b: Uint8Array): string {
  return new Sha256().update(b).hex();
}

/**
 * Describes a captured request body for an event.
 * @param captured The bytes read (at most the bound).
 * @param truncated Whether the body went on past them.
 * @param resource The request's resource (`secrets` hashes harder).
 * @returns What the event keeps.
 * @example
 * ```ts
 * import { describeBody } from "./event_body.ts";
 * const b = describeBody(new TextEncoder().encode(
 *   '{"kind":"Secret","data":{"pw":"aHVudGVyMg=="}}'), false, "pods");
 * const s = JSON.stringify(b.json);
 * if (s.includes("aHVudGVyMg") || !s.includes("sha256:")) throw new Error(s);
 * ```
 */
export function describeBody(
  captured: Uint8Array,
  truncated: boolean,
  resource: string | undefined,
): EventBody {
  const base = {
    bytes: captured.length,
    truncated,
    sha256: sha256Hex(captured),
  };
  if (truncated || captured.length === 0) return base;
  let doc: unknown;
  try {
    doc = JSON.parse(utf8.decode(captured));
  } catch {
    // Not JSON, or nested deeper than the parser goes.
    return base;
  }
  return { ...base, json: redactSecrets(doc, resource === "secrets") };
}

/**
 * A copy of a JSON value with Secret values replaced by `sha256:<hex>`.
 * @param v The parsed JSON.
 * @param secretsRequest True for a request to the `secrets` resource:
 *   `data`/`stringData` are replaced at every depth, and JSON patch values
 *   under those paths.
 * @returns The redacted copy.
 */
export function redactSecrets(v: unknown, secretsRequest = false): unknown {
  return walk(v, secretsRequest, 0);
}

/** Deeper than this, a value is left out (no stack exhaustion, no leak). */
const MAX_DEPTH = 64;

/** What stands for a value nested deeper than {@linkcode MAX_DEPTH}. */
export const TOO_DEEP = `(nested deeper than ${MAX_DEPTH} levels: left out)`;

function walk(v: unknown, all: boolean, depth: number): unknown {
  if (v === null || typeof v !== "object") return v;
  if (depth > MAX_DEPTH) return TOO_DEEP;
  if (Array.isArray(v)) return v.map((x) => walk(x, all, depth + 1));
  const o = v as Record<string, unknown>;
  // Keys in any letter case: older decoders matched fields so.
  const secret = all ||
    Object.entries(o).some(([k, x]) =>
      k.toLowerCase() === "kind" && typeof x === "string" &&
      x.toLowerCase() === "secret"
    );
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) {
    const key = k.toLowerCase();
    if (secret && (key === "data" || key === "stringdata")) {
      out[k] = hashValues(x);
    } else if (
      all && key === "value" && typeof o.path === "string" &&
      /^\/(data|stringdata)(\/|$)/i.test(o.path)
    ) {
      out[k] = hashed(x);
    } else out[k] = walk(x, all, depth + 1);
  }
  return out;
}

function hashValues(x: unknown): unknown {
  if (x === null || typeof x !== "object" || Array.isArray(x)) {
    return hashed(x);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(x)) out[k] = hashed(v);
  return out;
}

function hashed(v: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(v) ?? "null";
  } catch {
    // Too deep to serialise: a hash of nothing the caller chose.
    text = TOO_DEEP;
  }
  return "sha256:" + sha256Hex(enc.encode(text));
}
