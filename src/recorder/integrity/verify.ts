/**
 * Verifies a recording offline (`execgate verify`): that the stored
 * evidence matches the manifest's hash chain, that the manifest (status,
 * header, end record, digests, chain) is signed by a trusted key, that the
 * manifest's header and end are the evidence's header and end records, that
 * the end record's per-channel digests and `castBytes` are those of the
 * evidence, and that a given asciicast is the one the evidence derives.
 *
 * Runtime-neutral: the caller opens the evidence (disk, bundle, S3) and
 * loads the keys. Every check reads the evidence as a stream, in bounded
 * memory.
 *
 * @module
 */

import type { IncrementalDigest } from "../../recording/cast_encoder.ts";
import {
  RECORD_HEADER_BYTES,
  RecordDecoder,
  RecordFormatError,
  RecordType,
} from "../../protocol/records.ts";
import type { RecordingManifest } from "../storage.ts";
import { castOfRecords } from "../views/cast_view.ts";
import { castV3OfRecords } from "../views/cast_v3.ts";
import { canonicalJson } from "./canonical_json.ts";
import { CHAIN_ALG, EvidenceChain } from "./evidence_chain.ts";
import { signedBytes } from "./seal.ts";
import type { ManifestVerifier } from "./signing_key.ts";

/** One finding of {@linkcode verifyRecording}. */
export interface VerifyLine {
  /** `ok` (checked and holds), `warn` (not checked), `fail` (does not hold). */
  level: "ok" | "warn" | "fail";
  /** What, and where. */
  message: string;
}

/** What {@linkcode verifyRecording} found. */
export interface VerifyReport {
  /** No check failed. */
  ok: boolean;
  /** Every finding, in the order checked. */
  lines: VerifyLine[];
}

/** What {@linkcode verifyRecording} checks. */
export interface VerifyInput {
  /** The manifest as stored (parsed JSON). */
  manifest: RecordingManifest;
  /** Opens the stored evidence (called once or twice). */
  openEvidence: () => Promise<ReadableStream<Uint8Array>>;
  /** Opens an asciicast that must be the evidence's (a download, a bundle's). */
  openCast?: () => Promise<ReadableStream<Uint8Array>>;
  /**
   * Which view `openCast` is: asciicast v2 (`views/cast_view.ts`, the
   * bundle's) or v3 (`views/cast_v3.ts`, `…/cast?format=v3`).
   * @default {2}
   */
  castVersion?: 2 | 3;
  /** Trusted public keys (any number: old ones verify old recordings). */
  keys: readonly ManifestVerifier[];
  /** Makes an incremental SHA-256. */
  digest: () => IncrementalDigest;
}

function b64decode(s: string): Uint8Array | undefined {
  try {
    return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function sameJson(payload: Uint8Array, value: unknown): boolean {
  try {
    return canonicalJson(JSON.parse(utf8.decode(payload))) ===
      canonicalJson(value);
  } catch {
    return false;
  }
}

function isHex64(s: unknown): boolean {
  return typeof s === "string" && /^[0-9a-f]{64}$/.test(s);
}

/**
 * Checks a recording.
 * @param input The manifest, how to read its evidence, keys and digest.
 * @returns The findings; `ok` when none failed.
 */
export async function verifyRecording(
  input: VerifyInput,
): Promise<VerifyReport> {
  const lines: VerifyLine[] = [];
  const ok = (message: string) => lines.push({ level: "ok", message });
  const warn = (message: string) => lines.push({ level: "warn", message });
  const fail = (message: string) => lines.push({ level: "fail", message });
  const done = (): VerifyReport => ({
    ok: !lines.some((l) => l.level === "fail"),
    lines,
  });
  const m = input.manifest;
  const integ = m.integrity;
  if (!integ || typeof integ !== "object") {
    fail(
      `the manifest has no integrity block: the recording was stored without tamper evidence (or it was removed), nothing can be verified${
        m.status === "partial"
          ? " (older recorders did not seal a recording they recovered after a crash)"
          : m.format !== "records"
          ? " (a v1 .cast upload is never sealed)"
          : ""
      }`,
    );
    return done();
  }
  if (integ.alg !== CHAIN_ALG) {
    fail(
      `the manifest's integrity.alg is ${JSON.stringify(integ.alg)}, not ${
        JSON.stringify(CHAIN_ALG)
      }`,
    );
    return done();
  }
  const seg = integ.segmentBytes;
  if (
    !Number.isSafeInteger(seg) || seg < 1 ||
    !Number.isSafeInteger(integ.bytes) ||
    integ.bytes < 0 || !Array.isArray(integ.segments) ||
    !integ.segments.every(isHex64) ||
    integ.segments.length !== Math.ceil(integ.bytes / seg)
  ) {
    fail(
      "the manifest's integrity block is malformed (segmentBytes, bytes and segments do not fit together)",
    );
    return done();
  }

  // 1. The chain, and what the evidence's records say, in one pass.
  const chain = new EvidenceChain(input.digest, seg);
  let chainBroken: string | undefined;
  chain.onSegment = (i, hex) => {
    if (chainBroken !== undefined) return;
    const from = i * seg;
    const to = Math.min(from + seg, chain.bytes) - 1;
    if (i >= integ.segments.length) {
      chainBroken = `evidence bytes ${
        i * seg
      } to ${to} (segment ${i}) are beyond the ${integ.bytes} bytes the chain covers: bytes were added`;
    } else if (integ.segments[i] !== hex) {
      chainBroken =
        `evidence bytes ${from} to ${to} (segment ${i}) do not match the chain: a byte in them was changed, added or removed`;
    }
  };
  const records = m.format === "records";
  const decoder = new RecordDecoder();
  const digests = { stdout: input.digest(), stderr: input.digest() };
  const counts = { stdout: 0, stderr: 0 };
  let headerPayload: Uint8Array | undefined;
  let headerEnd = 0;
  let endPayload: Uint8Array | undefined;
  let endOffset = -1;
  let framing: string | undefined;
  const evidence = await input.openEvidence();
  for await (const chunk of evidence) {
    chain.update(chunk);
    if (!records || framing !== undefined) continue;
    try {
      for (const r of decoder.push(chunk)) {
        if (r.type === RecordType.HEADER && headerPayload === undefined) {
          headerPayload = r.payload.slice();
          headerEnd = r.offset + RECORD_HEADER_BYTES + r.payload.length;
        } else if (r.type === RecordType.STDOUT) {
          digests.stdout.update(r.payload);
          counts.stdout += r.payload.length;
        } else if (r.type === RecordType.STDERR) {
          digests.stderr.update(r.payload);
          counts.stderr += r.payload.length;
        } else if (r.type === RecordType.END && endPayload === undefined) {
          endPayload = r.payload.slice();
          endOffset = r.offset;
        }
      }
    } catch (e) {
      if (!(e instanceof RecordFormatError)) throw e;
      framing =
        `the evidence is not a valid record stream at byte ${e.offset}: ${e.message}`;
    }
  }
  const total = chain.bytes;
  chain.finish();
  if (chainBroken === undefined && total < integ.bytes) {
    const i = Math.floor(total / seg);
    chainBroken =
      `the evidence ends at byte ${total} (segment ${i}), but the chain covers ${integ.bytes} bytes: bytes were removed`;
  }
  if (chainBroken !== undefined) fail(chainBroken);
  else {
    ok(
      `evidence: ${total} bytes match the chain (${integ.segments.length} segments of ${seg} bytes)`,
    );
  }
  if (m.castBytes !== integ.bytes) {
    fail(
      `the manifest's castBytes ${m.castBytes} is not the ${integ.bytes} bytes the chain covers`,
    );
  }

  // 2. The manifest derives from the evidence.
  if (records) {
    if (framing !== undefined) fail(framing);
    else if (decoder.pending > 0) {
      const torn =
        `the evidence ends ${decoder.pending} bytes into a record at byte ${decoder.consumed}`;
      if (m.status === "complete") fail(torn);
      else warn(`${torn} (the recording is ${m.status})`);
    }
    if (!headerPayload) fail("the evidence has no header record");
    else if (!sameJson(headerPayload, m.header)) {
      fail("the manifest's header is not the evidence's header record");
    } else ok("header: the manifest's is the evidence's header record");
    if (m.end !== undefined) {
      if (!endPayload) {
        fail("the manifest has an end record, the evidence has none");
      } else if (!sameJson(endPayload, m.end)) {
        fail("the manifest's end is not the evidence's end record");
      } else ok("end: the manifest's is the evidence's end record");
    }
    const continued = m.header?.continues !== undefined;
    if (m.status === "complete" && m.end) {
      const problems: string[] = [];
      if (continued) {
        warn(
          "this is a later part of a failed-over session: the end record's stdout/stderr digests cover the whole session and were not checked (verify each part on its own)",
        );
      } else {
        for (const c of ["stdout", "stderr"] as const) {
          const said = m.end.channels?.[c];
          const hex = digests[c].hex();
          if (said?.bytes !== counts[c] || said?.sha256 !== hex) {
            problems.push(
              `the end record says ${c} is ${said?.bytes} bytes with SHA-256 ${said?.sha256}, but the evidence holds ${
                counts[c]
              } bytes with SHA-256 ${hex}`,
            );
          }
        }
      }
      const base = continued ? m.header.continues!.offset : 0;
      const before = continued ? base + endOffset - headerEnd : endOffset;
      if (m.end.castBytes !== before) {
        problems.push(
          `the end record says castBytes ${m.end.castBytes}, but ${before} bytes of records came before it`,
        );
      }
      for (const p of problems) fail(p);
      if (problems.length === 0) {
        ok(
          continued
            ? "end record: castBytes matches the evidence"
            : `end record: stdout (${counts.stdout} bytes), stderr (${counts.stderr} bytes) and castBytes match the evidence`,
        );
      }
    }
  }

  // Why the recording is not whole (signed with the rest: the signature's
  // line says whether the reason can be trusted).
  if (m.status === "partial") {
    warn(
      `partial: ${
        m.partialReason ?? "no reason given"
      }; what is verified is the evidence the recorder kept, not the whole session`,
    );
  }

  // 3. A given cast is the evidence's.
  if (input.openCast) {
    if (!records) {
      warn("the cast was not checked: the recording is a v1 .cast");
    } else {
      const v3 = input.castVersion === 3;
      const derive = v3 ? castV3OfRecords : castOfRecords;
      const d = await firstDifference(
        derive(await input.openEvidence()),
        await input.openCast(),
      );
      if (d) {
        fail(
          `the cast does not derive from the evidence: it differs at byte ${d.offset} (line ${d.line}${
            d.detail ? `, ${d.detail}` : ""
          })`,
        );
      } else {
        ok(
          `cast${v3 ? " (v3)" : ""}: derives from the evidence byte for byte`,
        );
      }
    }
  }

  // 4. The signature.
  if (integ.signature === undefined) {
    // Keys given: the caller expects signatures, and removing one (with the
    // key id) is the cheapest forgery: a failure, not a warning.
    (input.keys.length > 0 ? fail : warn)(
      `not signed: the recorder had no signing key, or the signature was removed; the chain proves nothing against someone who can rewrite the manifest${
        input.keys.length > 0
          ? " (keys were given, so a signature is required)"
          : ""
      }`,
    );
    return done();
  }
  const keyId = integ.keyId;
  const sig = typeof integ.signature === "string"
    ? b64decode(integ.signature)
    : undefined;
  if (!sig || sig.length !== 64) {
    fail(
      `signature (key ${
        JSON.stringify(keyId)
      }): it is not a base64 Ed25519 signature: the signature was changed`,
    );
    return done();
  }
  const key = input.keys.find((k) => k.keyId === keyId);
  if (!key) {
    if (input.keys.length === 0) {
      warn(
        `signature not checked: the manifest is signed by key ${keyId}; pass its public key with --key`,
      );
    } else {
      fail(
        `signature: the manifest is signed by key ${
          JSON.stringify(keyId)
        }, which is none of the given keys (${
          input.keys.map((k) => k.keyId).join(", ")
        })`,
      );
    }
    return done();
  }
  let bytes: Uint8Array;
  try {
    bytes = signedBytes(m);
  } catch (e) {
    fail(
      `signature: the manifest cannot be serialised: ${(e as Error).message}`,
    );
    return done();
  }
  if (await key.verify(bytes, sig)) {
    ok(`signature: valid, key ${keyId}`);
  } else {
    fail(
      `signature: does not match the manifest (key ${keyId}): the manifest or its signature was changed`,
    );
  }
  return done();
}

/** Where two streams first differ. */
export interface Difference {
  /** Byte offset of the first differing byte (or where one stream ends). */
  offset: number;
  /** Line number (1-based) it is on. */
  line: number;
  /** Set when one stream is a prefix of the other. */
  detail?: string;
}

/**
 * Compares two byte streams, reading both in step (bounded memory).
 * @param expected The reference.
 * @param actual The stream checked against it.
 * @returns Where they first differ, or `undefined` when equal.
 */
export async function firstDifference(
  expected: ReadableStream<Uint8Array>,
  actual: ReadableStream<Uint8Array>,
): Promise<Difference | undefined> {
  const ra = expected.getReader();
  const rb = actual.getReader();
  let a: Uint8Array = new Uint8Array();
  let b: Uint8Array = new Uint8Array();
  let aDone = false;
  let bDone = false;
  let offset = 0;
  let line = 1;
  try {
    while (true) {
      if (a.length === 0 && !aDone) {
        const r = await ra.read();
        if (r.done) aDone = true;
        else a = r.value;
        continue;
      }
      if (b.length === 0 && !bDone) {
        const r = await rb.read();
        if (r.done) bDone = true;
        else b = r.value;
        continue;
      }
      if (a.length === 0 || b.length === 0) {
        if (a.length === 0 && b.length === 0) return undefined;
        return {
          offset,
          line,
          detail: a.length === 0
            ? "the cast has bytes after the derived one ends"
            : "the cast ends before the derived one",
        };
      }
      const n = Math.min(a.length, b.length);
      for (let i = 0; i < n; i++) {
        if (a[i] !== b[i]) return { offset: offset + i, line };
        if (a[i] === 0x0a) line++;
      }
      offset += n;
      a = a.subarray(n);
      b = b.subarray(n);
    }
  } finally {
    await ra.cancel().catch(() => {});
    await rb.cancel().catch(() => {});
  }
}
