/**
 * One canonical reading of an HTTP request target, the way the API server
 * will read it: Go's `net/http` puts the percent-decoded path in `URL.Path`,
 * kube-apiserver's `RequestInfoFactory` splits it on `/` after decoding (so
 * `%2F` splits and `%65xec` is `exec`), and `url.ParseQuery` reads the query
 * (a pair containing `;` is dropped, a pair with a bad escape is dropped,
 * `+` is a space, duplicates are kept in order).
 *
 * The proxy decides on this parse and forwards {@linkcode canonicalTarget}
 * re-encoded from it, never the raw target, so what it decides on and records
 * is what the API server executes. Anything that could be read two ways is
 * refused (unambiguous or nothing): bad path escapes, invalid UTF-8, empty
 * segments (`//`), `.`/`..` segments (also `%2e%2e`), control characters in a
 * segment, `#`, non-ASCII bytes, and every form but origin-form (`/…`).
 *
 * Sources: Go `src/net/url/url.go` (`unescape`, `parseQuery`,
 * `shouldEscape`); kubernetes
 * `staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go`.
 *
 * @module
 */

/** A request target the proxy refuses to read (answered with a 400). */
export class RequestTargetError extends TypeError {
  /** Always `"RequestTargetError"`. */
  override name = "RequestTargetError";
}

/** One kept `key=value` pair of the query, decoded. */
export interface QueryPair {
  /** Decoded key. */
  key: string;
  /** Decoded value ("" when the pair has no `=`). */
  value: string;
}

/** A query pair that Go's `ParseQuery` drops, and why (for logs). */
export interface DroppedPair {
  /** The pair as sent. */
  raw: string;
  /** Offset of the pair in the request target. */
  offset: number;
  /** Why Go drops it. */
  reason: string;
}

/** A request target as the API server will read it. */
export interface RequestTarget {
  /** The target as received. */
  raw: string;
  /** Decoded path segments, after trimming one leading and one trailing `/`. */
  segments: string[];
  /** Whether the path ended with `/` (kept when re-encoding). */
  trailingSlash: boolean;
  /** Kept query pairs, in order. */
  query: QueryPair[];
  /** Pairs Go drops. */
  dropped: DroppedPair[];
}

/** Go's default limit on the number of query parameters (GODEBUG urlmaxqueryparams). */
export const MAX_QUERY_PAIRS = 10000;

const utf8 = new TextDecoder("utf-8", { fatal: true });
const enc = new TextEncoder();

function fail(what: string): never {
  throw new RequestTargetError(`Cannot parse request target: ${what}`);
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Go's `unescape`: `%XX` with two hex digits is a byte, any other `%` is an
 * error; `+` is a space only in a query component.
 * @returns The bytes, or the offset (within `s`) of the bad escape.
 */
function unescape(s: string, query: boolean): Uint8Array | number {
  const out = new Uint8Array(s.length);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37) {
      if (i + 2 >= s.length) return i;
      const hi = hexVal(s.charCodeAt(i + 1));
      const lo = hexVal(s.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return i;
      out[n++] = hi * 16 + lo;
      i += 2;
    } else if (c === 43 && query) {
      out[n++] = 32;
    } else {
      out[n++] = c;
    }
  }
  return out.subarray(0, n);
}

function decodeUtf8(b: Uint8Array): string | undefined {
  try {
    return utf8.decode(b);
  } catch {
    return undefined;
  }
}

function isControl(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return i;
  }
  return -1;
}

/**
 * Parses a request target.
 * @param raw The request target as received (`req.url` of Node's parser).
 * @returns The parse.
 * @throws {RequestTargetError} The target is not origin-form or could be
 *   read more than one way; the message says what and where.
 * @example
 * ```ts
 * import { parseRequestTarget } from "./request_target.ts";
 * const t = parseRequestTarget("/api/v1/namespaces/ns/pods/p/%65xec?command=a;&command=id");
 * if (t.segments.at(-1) !== "exec" || t.query.length !== 1) throw new Error();
 * ```
 */
export function parseRequestTarget(raw: string): RequestTarget {
  if (!raw.startsWith("/")) {
    fail(
      `${
        JSON.stringify(raw.slice(0, 80))
      } is not origin-form (it must start with "/")`,
    );
  }
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) {
      fail(
        `character ${
          JSON.stringify(raw[i])
        } at offset ${i} is not allowed (only printable ASCII)`,
      );
    }
    if (c === 35) fail(`"#" at offset ${i} is not allowed`);
  }
  const q = raw.indexOf("?");
  const rawPath = q < 0 ? raw : raw.slice(0, q);
  const rawQuery = q < 0 ? "" : raw.slice(q + 1);

  const bytes = unescape(rawPath, false);
  if (typeof bytes === "number") {
    fail(
      `${
        JSON.stringify(rawPath.slice(bytes, bytes + 3))
      } at offset ${bytes} is not a valid escape`,
    );
  }
  const path = decodeUtf8(bytes);
  if (path === undefined) fail("the decoded path is not valid UTF-8");
  // RequestInfoFactory trims "/" from both ends; more than one would be an
  // empty segment, refused below.
  const trailingSlash = path.length > 1 && path.endsWith("/");
  const inner = path.slice(1, trailingSlash ? -1 : undefined);
  const segments = inner === "" ? [] : inner.split("/");
  segments.forEach((s, i) => {
    if (s === "") fail(`segment ${i + 1} of ${JSON.stringify(path)} is empty`);
    if (s === "." || s === "..") {
      fail(
        `segment ${i + 1} of ${JSON.stringify(path)} is ${JSON.stringify(s)}`,
      );
    }
    const at = isControl(s);
    if (at >= 0) {
      fail(
        `segment ${i + 1} ${JSON.stringify(s)} contains control character ${
          JSON.stringify(s[at])
        }`,
      );
    }
  });

  const query: QueryPair[] = [];
  const dropped: DroppedPair[] = [];
  if (rawQuery !== "") {
    const parts = rawQuery.split("&");
    if (parts.length > MAX_QUERY_PAIRS) {
      fail(
        `the query has ${parts.length} parameters, more than Go's limit of ${MAX_QUERY_PAIRS}`,
      );
    }
    let offset = q + 1;
    for (const part of parts) {
      const at = offset;
      offset += part.length + 1;
      if (part.includes(";")) {
        dropped.push({ raw: part, offset: at, reason: 'contains ";"' });
        continue;
      }
      if (part === "") continue;
      const eq = part.indexOf("=");
      const k = eq < 0 ? part : part.slice(0, eq);
      const v = eq < 0 ? "" : part.slice(eq + 1);
      const kb = unescape(k, true);
      const vb = typeof kb === "number" ? kb : unescape(v, true);
      if (typeof kb === "number" || typeof vb === "number") {
        const bad = typeof kb === "number" ? kb : (vb as number) + eq + 1;
        dropped.push({
          raw: part,
          offset: at,
          reason: `${JSON.stringify(part.slice(bad, bad + 3))} at offset ${
            at + bad
          } is not a valid escape`,
        });
        continue;
      }
      const key = decodeUtf8(kb);
      const value = decodeUtf8(vb as Uint8Array);
      if (key === undefined || value === undefined) {
        fail(
          `query parameter ${
            JSON.stringify(part.slice(0, 80))
          } at offset ${at} is not valid UTF-8 once decoded`,
        );
      }
      query.push({ key, value });
    }
  }
  return { raw, segments, trailingSlash, query, dropped };
}

const HEX = "0123456789ABCDEF";

function escapeBytes(s: string, keep: (c: number) => boolean, plus: boolean) {
  let out = "";
  for (const b of enc.encode(s)) {
    if (keep(b)) out += String.fromCharCode(b);
    else if (plus && b === 32) out += "+";
    else out += "%" + HEX[b >> 4] + HEX[b & 15];
  }
  return out;
}

function unreserved(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) ||
    (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95 || c === 126;
}

// Sub-delimiters and ":@" stay raw in a path segment (RFC 3986 pchar).
const SEGMENT_RAW = new Set([..."!$&'()*+,;=:@"].map((c) => c.charCodeAt(0)));

/**
 * Escapes one path segment: unreserved characters and `:@!$&'()*+,;=` stay
 * raw, everything else (`%`, `/`, `?`, `#`, controls, non-ASCII) is `%XX`.
 * @param s The decoded segment.
 * @returns The escaped segment.
 */
export function escapeSegment(s: string): string {
  return escapeBytes(s, (c) => unreserved(c) || SEGMENT_RAW.has(c), false);
}

/**
 * Go's `QueryEscape`: unreserved characters raw, space as `+`, all else `%XX`.
 * @param s The decoded key or value.
 * @returns The escaped text.
 */
export function queryEscape(s: string): string {
  return escapeBytes(s, unreserved, true);
}

/**
 * The target to forward upstream, re-encoded from the parse: each segment
 * escaped, joined by `/`, the trailing `/` kept, and the kept query pairs in
 * their original order. Parsing it again gives the same segments and pairs.
 * @param t The parse.
 * @returns Path and query.
 * @example
 * ```ts
 * import { canonicalTarget, parseRequestTarget } from "./request_target.ts";
 * const t = parseRequestTarget("/api/v1/namespaces/ns/pods/p/%65xec?command=echo%20hi&x;=1");
 * if (canonicalTarget(t) !== "/api/v1/namespaces/ns/pods/p/exec?command=echo+hi") throw new Error();
 * ```
 */
export function canonicalTarget(
  t: Pick<RequestTarget, "segments" | "trailingSlash" | "query">,
): string {
  let s = "/" + t.segments.map(escapeSegment).join("/");
  if (t.trailingSlash && t.segments.length > 0) s += "/";
  if (t.query.length > 0) {
    s += "?" +
      t.query.map((p) => `${queryEscape(p.key)}=${queryEscape(p.value)}`)
        .join("&");
  }
  return s;
}

/**
 * All values of a query key, in order (Go's `url.Values[key]`).
 * @param t The parse.
 * @param key The key.
 * @returns The values (empty when absent).
 */
export function queryValues(
  t: Pick<RequestTarget, "query">,
  key: string,
): string[] {
  return t.query.filter((p) => p.key === key).map((p) => p.value);
}

/**
 * Kubernetes' query → bool conversion (`Convert_Slice_string_To_bool` in
 * apimachinery `pkg/runtime/conversion.go`): false when absent or when the
 * FIRST value is `0` or case-insensitive `false`; true otherwise (`yes`, "").
 * @param values The values of the key.
 * @returns The boolean the API server reads.
 */
export function kubeBool(values: readonly string[]): boolean {
  const first = values[0];
  if (first === undefined) return false;
  return !(first === "0" || isFalseFolded(first));
}

/** Go's `strings.EqualFold(s, "false")`: simple Unicode folding, so U+017F (ſ) is an `s`. */
function isFalseFolded(s: string): boolean {
  const want = "false";
  const chars = [...s];
  if (chars.length !== want.length) return false;
  return chars.every((c, i) =>
    c.toLowerCase() === want[i] || (want[i] === "s" && c === "\u017f")
  );
}
