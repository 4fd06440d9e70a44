/**
 * The version 2 upload: a record stream (`../protocol/records.ts`) posted to
 * `RECORDS_UPLOAD_PATH`, stored as it arrived (the evidence), acknowledged
 * after every write.
 *
 * Per byte the recorder only checks the framing ({@linkcode RecordDecoder}),
 * hashes stdout/stderr (an injected, native digest) and feeds the text index
 * until its bound; it JSON-parses only the header and end records. Views
 * (the asciicast, the raw stdout) are derived when read (`views/`).
 *
 * - The header record is the acceptance point: an invalid one (not first,
 *   not UTF-8 JSON, failing the header checks of `cast_lines.ts`, over
 *   `maxHeaderBytes`) refuses the upload and nothing is stored.
 * - Anything after it never deletes: an unknown record type, a record over
 *   the payload bound, a record after the end record, an invalid end
 *   record, a torn record at the end of the body, the body over
 *   `maxRecordingBytes`, a disconnect, an end record whose stdout/stderr
 *   bytes or SHA-256 differ from what was stored, or whose `castBytes`
 *   differs from the bytes before it: every complete record
 *   before that point is kept, the recording is `partial` with a reason
 *   naming what and where (`Cannot decode record at byte 5231: type 9 is
 *   unknown`), and the ack stream gets `{"error"}` when the recorder is the
 *   one that stopped.
 * - An end record with reason `refused` is stored `refused`.
 *
 * @module
 */

import {
  RECORD_HEADER_BYTES,
  RecordDecoder,
  RecordFormatError,
  RecordType,
  type SessionRecord,
} from "../protocol/records.ts";
import type { IncrementalDigest } from "../recording/cast_encoder.ts";
import type { Ack, CastHeader, SessionEnd } from "../recording/wire.ts";
import { castHeaderProblem } from "./cast_lines.ts";
import { partId, type RecordingId } from "./recording_id.ts";
import { openJoined, readParts } from "./parts.ts";
import {
  RecordingExistsError,
  type RecordingManifest,
  type RecordingStorage,
  type RecordingWriter,
} from "./storage.ts";
import { concatBytes } from "../bytes.ts";
import type { IngestMetrics } from "../metrics/recorder_metrics.ts";
import { EvidenceChain } from "./integrity/evidence_chain.ts";
import { sealManifest } from "./integrity/seal.ts";
import type { ManifestSigner } from "./integrity/signing_key.ts";

/** Size limits of an upload. */
export interface IngestLimits {
  /** Largest header record payload. */
  maxHeaderBytes: number;
  /** Largest upload body. */
  maxRecordingBytes: number;
  /** Largest text index per recording, in characters. */
  maxTextChars: number;
}

/** How one upload ended, for logs and tests. */
export interface IngestResult {
  /** Recording id, when storage was opened. */
  id?: string;
  /** `complete`, `partial`, `refused`, or `rejected` (nothing kept). */
  outcome: "complete" | "partial" | "refused" | "rejected";
  /** Body bytes read. */
  bodyBytes: number;
  /** The error or partial reason. */
  reason?: string;
}

/** What {@linkcode ingestRecords} works with. */
export interface RecordsIngestContext {
  /** Where recordings go. */
  storage: RecordingStorage;
  /** Size limits. */
  limits: IngestLimits;
  /** Longest time between two acknowledgements while idle. */
  ackIntervalMs: number;
  /** Clock in Unix ms. */
  now: () => number;
  /** Makes the SHA-256 of stdout and of stderr. */
  digest: () => IncrementalDigest;
  /** The upload body. */
  body: ReadableStream<Uint8Array>;
  /** Recording id. */
  id: RecordingId;
  /** Session id (the request header). */
  sessionId: string;
  /** Sends an ack line. */
  send: (a: Ack) => void;
  /** Aborted when the uploader goes away or the recorder shuts down. */
  signal: AbortSignal;
  /** Called once the recording is finalised (e.g. to derive its text). */
  /**
   * Called once the recording is finalised (e.g. to update the index and
   * derive its text); the final acknowledgement waits for what it returns
   * (it must not reject), so a listing after `done` shows the final status.
   */
  onFinished?: (id: RecordingId) => void | Promise<void>;
  /** Called once the header is stored, with the live manifest (the index). */
  onStarted?: (manifest: RecordingManifest) => void;
  /**
   * Signs the final manifest (`integrity/`); without it the manifest
   * carries the evidence's hash chain only.
   */
  signer?: ManifestSigner;
  /** Set by the recorder when a moderator ends the session. */
  control?: { terminated?: { by: string; reason: string; at: number } };
  /** Where received bytes and acknowledgement latency are counted. */
  metrics?: IngestMetrics;
}

/**
 * What is wrong with a header's `continues` (failover, `wire.ts`
 * `Continuation`) for the upload's id: a later part must carry one that
 * names its first part and number, a first part none.
 * @returns The problem, or `undefined`.
 */
export function continuationProblem(
  c: unknown,
  id: RecordingId,
): string | undefined {
  if (id.part === undefined) {
    return c === undefined
      ? undefined
      : "header continues is set, but the upload is not a continued part";
  }
  if (!isObject(c)) {
    return `header continues is missing: the upload is part ${id.part}`;
  }
  const first = partId(id, 1).id;
  if (c.part !== id.part) {
    return `header continues.part is ${
      JSON.stringify(c.part)
    }, but the upload is part ${id.part}`;
  }
  if (c.recording !== first) {
    return `header continues.recording is ${
      JSON.stringify(String(c.recording).slice(0, 120))
    }, but the upload continues ${first}`;
  }
  if (!Number.isSafeInteger(c.offset) || (c.offset as number) < 0) {
    return "header continues.offset is not a byte offset";
  }
  if (typeof c.recorder !== "string" || c.recorder.length > 2048) {
    return "header continues.recorder is not a URL";
  }
  if (typeof c.reason !== "string" || c.reason.length > 4096) {
    return "header continues.reason is not a text of at most 4096 characters";
  }
  if (typeof c.at !== "number" || !Number.isFinite(c.at)) {
    return "header continues.at is not a time";
  }
  return undefined;
}

/** A reason to stop the upload that is the upload's fault (not storage's). */
class Stop extends Error {}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function parseJsonPayload(payload: Uint8Array): unknown {
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    throw new Error("it is not valid UTF-8");
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`it is not valid JSON (${(e as Error).message})`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isDigest(v: unknown): boolean {
  return isObject(v) && typeof v.bytes === "number" &&
    typeof v.sha256 === "string";
}

/**
 * Validates an end record's payload.
 * @param payload The bytes.
 * @param sessionId The session id it must name.
 * @returns The end manifest.
 * @throws {Error} What is wrong, without a location.
 */
export function parseEndRecord(
  payload: Uint8Array,
  sessionId: string,
): SessionEnd {
  const v = parseJsonPayload(payload);
  if (!isObject(v)) throw new Error("it is not a JSON object");
  if (v.sessionId !== sessionId) {
    throw new Error(
      `its sessionId ${
        JSON.stringify(v.sessionId)
      } does not match the session id ${JSON.stringify(sessionId)}`,
    );
  }
  if (typeof v.reason !== "string") throw new Error("its reason is missing");
  if (typeof v.castBytes !== "number") {
    throw new Error("its castBytes is not a number");
  }
  const ch = v.channels;
  if (!isObject(ch) || !isDigest(ch.stdout) || !isDigest(ch.stderr)) {
    throw new Error(
      "its channels are not {stdout, stderr} of {bytes, sha256}",
    );
  }
  // Optional (recordings before it was counted have none): a count only.
  if (
    v.stdinBytes !== undefined &&
    !(Number.isSafeInteger(v.stdinBytes) && (v.stdinBytes as number) >= 0)
  ) throw new Error("its stdinBytes is not a byte count");
  return v as unknown as SessionEnd;
}

/**
 * Runs one version 2 upload to its end (the caller answered `200` and owns
 * the ack stream).
 * @param ctx The upload and its seams.
 * @returns How it ended.
 */
export async function ingestRecords(
  ctx: RecordsIngestContext,
): Promise<IngestResult> {
  const { limits, storage, id, sessionId, send, signal } = ctx;
  const decoder = new RecordDecoder();
  const digests = { stdout: ctx.digest(), stderr: ctx.digest() };
  // Tamper evidence: every byte handed to storage, chained in segments.
  const evidenceChain = new EvidenceChain(ctx.digest);
  const counts = { stdout: 0, stderr: 0 };
  const reader = ctx.body.getReader();
  let writer: RecordingWriter | undefined;
  let header: CastHeader | undefined;
  let end: SessionEnd | undefined;
  let endOffset = 0;
  let bodyBytes = 0;
  const startedAt = ctx.now();
  // Received bytes from offset `written` on, not handed to storage yet.
  const unwritten: Uint8Array[] = [];
  let written = 0;
  // Stream offset up to which records were taken (digest, text, end).
  let taken = 0;

  let chain: Promise<unknown> = Promise.resolve();
  const locked = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = chain.then(fn);
    chain = p.catch(() => {});
    return p;
  };
  let lastAck = -1;
  /** Counts and hashes a stdout/stderr record (others are ignored). */
  const hashOutput = (r: SessionRecord) => {
    if (r.type !== RecordType.STDOUT && r.type !== RecordType.STDERR) return;
    const which = r.type === RecordType.STDOUT ? "stdout" : "stderr";
    digests[which].update(r.payload);
    counts[which] += r.payload.length;
  };
  // A later part (failover): its records start at session offset `base`,
  // after its own header record of `headerEnd` bytes.
  let base = 0;
  let headerEnd = 0;
  let seeding: Promise<void> | undefined;
  let unverified: string | undefined;
  let gaps: string | undefined;
  /**
   * Feeds the earlier parts' stdout/stderr (over storage shared with their
   * recorders) into the digests, so the whole session's end record is
   * checked; without them, says what could not be checked.
   */
  const seedFromParts = async (upTo: number) => {
    const firstId = partId(id, 1);
    const first = await storage.get(firstId);
    const parts = first
      ? (await readParts(storage, first, firstId)).slice(0, id.part! - 1)
      : [];
    if (parts.length !== id.part! - 1) {
      unverified = `part ${parts.length + 1} of this session (${
        partId(id, parts.length + 1).id
      }) is not in this recorder's storage: this part's records and the session's castBytes were checked; the end record's stdout/stderr digests cover the whole session and were not`;
      return;
    }
    const missing: string[] = [];
    const stream = await openJoined(
      storage,
      parts,
      firstId,
      upTo,
      (from, to) => missing.push(`${from} to ${to}`),
    );
    const d = new RecordDecoder();
    if (stream) {
      for await (const chunk of stream) {
        for (const r of d.push(chunk)) hashOutput(r);
      }
    }
    if (missing.length > 0 || !stream) {
      gaps =
        `the earlier parts do not hold every byte before this part (missing bytes ${
          missing.join(", ") || `0 to ${upTo}`
        })`;
    }
  };
  const ack = () => {
    if (written === lastAck) return;
    lastAck = written;
    send({ ack: written, stored: writer?.durableBytes ?? 0 });
  };
  // Set while the recording is being finalised: the keepalive then goes out
  // directly (the lock is held by finish), so the uploader sees the
  // recorder alive however long finishing takes (an S3 join under load).
  let finishing = false;
  const timer = setInterval(() => {
    if (finishing) {
      send({ ack: written, stored: writer?.durableBytes ?? 0 });
      return;
    }
    void locked(async () => {
      await writer?.sync();
      lastAck = -1;
      ack();
    }).catch(() => {});
  }, ctx.ackIntervalMs);
  const onAbort = () => reader.cancel(signal.reason).catch(() => {});
  signal.addEventListener("abort", onAbort, { once: true });

  const baseManifest = (h: CastHeader): RecordingManifest => ({
    id: id.id,
    sessionId,
    status: "recording",
    format: "records",
    header: h,
    castBytes: 0,
    startedAt,
    updatedAt: startedAt,
  });

  /** Takes the first `n` unwritten bytes off the list. */
  const takeBytes = (n: number): Uint8Array[] => {
    const out: Uint8Array[] = [];
    while (n > 0) {
      const c = unwritten[0]!;
      if (c.length <= n) {
        out.push(c);
        unwritten.shift();
        n -= c.length;
      } else {
        out.push(c.subarray(0, n));
        unwritten[0] = c.subarray(n);
        n = 0;
      }
    }
    return out;
  };

  /** Hands every byte before `offset` to storage. */
  const writeTo = async (offset: number) => {
    if (!writer || offset <= written) return;
    const w = writer;
    const pieces = takeBytes(offset - written);
    await locked(async () => {
      for (const p of pieces) {
        await w.write(p);
        evidenceChain.update(p);
      }
    });
    written = offset;
  };

  const takeRecord = async (r: SessionRecord) => {
    const next = r.offset + RECORD_HEADER_BYTES + r.payload.length;
    switch (r.type) {
      case RecordType.HEADER: {
        if (r.payload.length > limits.maxHeaderBytes) {
          throw new Stop(
            `Cannot accept the header record at byte ${r.offset}: ${r.payload.length} bytes exceed the limit of ${limits.maxHeaderBytes}`,
          );
        }
        let h: unknown;
        try {
          h = parseJsonPayload(r.payload);
        } catch (e) {
          throw new Stop(
            `Cannot accept the header record at byte ${r.offset}: ${
              (e as Error).message
            }`,
          );
        }
        const problem = castHeaderProblem(h, sessionId) ??
          continuationProblem((h as CastHeader).continues, id);
        if (problem !== undefined) {
          throw new Stop(
            `Cannot accept the header record at byte ${r.offset}: ${problem}`,
          );
        }
        const first = takeBytes(next);
        const bytes = concatBytes(first);
        const live = baseManifest(h as CastHeader);
        writer = await locked(() => storage.create(id, live, bytes));
        evidenceChain.update(bytes);
        ctx.onStarted?.(live);
        header = h as CastHeader;
        written = next;
        if (header.continues) {
          base = header.continues.offset;
          headerEnd = next;
          seeding = seedFromParts(header.continues.offset);
        }
        // The proxy starts the session once this is acknowledged; it needs
        // the id should it fail over later.
        lastAck = written;
        send({ ack: written, stored: writer.durableBytes, id: id.id });
        break;
      }
      case RecordType.STDOUT:
      case RecordType.STDERR: {
        // A later part: the earlier parts' output comes first.
        if (seeding) await seeding;
        hashOutput(r);
        break;
      }
      case RecordType.END:
        endOffset = r.offset;
        try {
          end = parseEndRecord(r.payload, sessionId);
        } catch (e) {
          throw new Stop(
            `Cannot accept the end record at byte ${r.offset}: ${
              (e as Error).message
            }`,
          );
        }
        break;
      case RecordType.EVENT:
        // API events have their own stream (events_ingest.ts): one in a
        // recording is not evidence of the session.
        throw new Stop(
          `Cannot accept the record at byte ${r.offset}: an API event record belongs to an events stream, not a recording`,
        );
    }
    taken = next;
  };

  /** Takes records; on a bad one, stores every record before it first. */
  const takeAll = async (records: SessionRecord[]) => {
    try {
      for (const r of records) await takeRecord(r);
    } catch (e) {
      if (e instanceof Stop && writer) await writeTo(taken);
      throw e;
    }
    await writeTo(taken);
  };

  let interruption: string | undefined;
  let stopped: unknown;
  try {
    while (true) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        interruption = `the upload was interrupted at byte ${bodyBytes}: ${
          signal.aborted
            ? String((signal.reason as Error)?.message ?? signal.reason)
            : (e as Error)?.message ?? String(e)
        }`;
        break;
      }
      if (r.done) {
        if (signal.aborted) {
          interruption = `the upload was interrupted at byte ${bodyBytes}: ${
            String((signal.reason as Error)?.message ?? signal.reason)
          }`;
        } else if (decoder.pending > 0) {
          throw new Stop(
            `Cannot decode record at byte ${decoder.consumed}: the upload ended ${decoder.pending} bytes into it`,
          );
        }
        break;
      }
      let chunk = r.value;
      const room = limits.maxRecordingBytes - bodyBytes;
      const over = chunk.length > room;
      if (over) chunk = chunk.subarray(0, room);
      const gotAt = ctx.metrics ? performance.now() : 0;
      const storedBefore = written;
      if (chunk.length > 0) {
        bodyBytes += chunk.length;
        ctx.metrics?.ingestedBytes.inc(chunk.length);
        unwritten.push(chunk);
        let records: SessionRecord[];
        try {
          records = decoder.push(chunk);
        } catch (e) {
          if (!(e instanceof RecordFormatError)) throw e;
          // The records this push completed before the bad one are whole
          // and valid: take them from the bytes, then stop.
          await takeAll(
            splitRecords(peekBytes(unwritten, written, taken, e.offset), taken),
          );
          throw new Stop(e.message);
        }
        await takeAll(records);
      }
      ack();
      if (ctx.metrics && written > storedBefore) {
        ctx.metrics.ackLatency.observe((performance.now() - gotAt) / 1000);
      }
      if (over) {
        throw new Stop(
          `the upload exceeded the limit of ${limits.maxRecordingBytes} bytes at byte ${limits.maxRecordingBytes}`,
        );
      }
    }
  } catch (e) {
    stopped = e;
  }
  signal.removeEventListener("abort", onAbort);

  let reason: string | undefined;
  if (stopped !== undefined) {
    reason = stopped instanceof Stop || stopped instanceof RecordingExistsError
      ? (stopped as Error).message
      : `storage failed: ${(stopped as Error)?.message ?? stopped}`;
    await reader.cancel(reason).catch(() => {});
    send({ error: reason });
  }
  const w = writer;
  if (!w || !header) {
    clearInterval(timer);
    // Refused at the header: no session started; nothing is kept.
    const message = reason ?? interruption ??
      "the upload ended before its header record";
    if (reason === undefined) send({ error: message });
    return { outcome: "rejected", bodyBytes, reason: message };
  }
  reason ??= interruption;
  if (!reason && !end) reason = "the upload ended without the end record";
  // Everything written is made durable by finish() below (S3 writes a small
  // recording in one PUT there; a separate flush first would cost a segment).
  await chain;
  const hex = { stdout: digests.stdout.hex(), stderr: digests.stderr.hex() };
  if (seeding) await seeding.catch((e) => gaps ??= `storage failed: ${e}`);
  if (!reason && end) {
    for (const c of ["stdout", "stderr"] as const) {
      if (unverified) break;
      const said = end.channels[c];
      if (said.bytes !== counts[c] || said.sha256 !== hex[c]) {
        reason =
          `the end record says ${c} is ${said.bytes} bytes with SHA-256 ${said.sha256}, but the recorder stored ${
            counts[c]
          } bytes with SHA-256 ${hex[c]}${gaps ? `: ${gaps}` : ""}`;
        send({ error: reason });
        break;
      }
    }
    // A later part's records stand at `base` in the session's stream.
    const before = base + endOffset - headerEnd;
    if (!reason && end.castBytes !== before) {
      reason =
        `the end record says castBytes ${end.castBytes}, but ${before} bytes of records came before it`;
      send({ error: reason });
    }
  }
  finishing = true;
  const now = ctx.now();
  const status = reason !== undefined
    ? "partial"
    : end?.reason === "refused"
    ? "refused"
    : "complete";
  try {
    await locked(async () => {
      // Signed with the evidence size the chain saw (storage writes its own
      // count; verify reports the two differing).
      const chained = evidenceChain.finish();
      await w.finish(
        await sealManifest(
          {
            ...baseManifest(header!),
            castBytes: chained.bytes,
            status,
            ...(end ? { end } : {}),
            updatedAt: now,
            finishedAt: now,
            ...(reason ? { partialReason: reason } : {}),
            ...(ctx.control?.terminated
              ? { terminated: ctx.control.terminated }
              : {}),
            ...(unverified ? { unverified } : {}),
          },
          chained,
          ctx.signer,
        ),
      );
    });
  } catch (e) {
    clearInterval(timer);
    const message = `storage failed: ${(e as Error)?.message ?? e}`;
    if (stopped === undefined) send({ error: message });
    return {
      id: id.id,
      outcome: "partial",
      bodyBytes,
      reason: reason ?? message,
    };
  }
  // Keepalives go on while the index is told (a slow shared index).
  await Promise.resolve(ctx.onFinished?.(id)).catch(() => {});
  clearInterval(timer);
  if (stopped === undefined) {
    send({
      ack: written,
      stored: w.durableBytes,
      done: true,
      id: id.id,
      complete: status === "complete",
    });
  }
  return {
    id: id.id,
    outcome: status,
    bodyBytes,
    ...(reason ? { reason } : {}),
  };
}

/**
 * Copies stream bytes `[from, to)` out of the unwritten list (which starts
 * at stream offset `base`).
 */
function peekBytes(
  list: Uint8Array[],
  base: number,
  from: number,
  to: number,
): Uint8Array {
  const out = new Uint8Array(Math.max(0, to - from));
  let pos = base;
  for (const c of list) {
    const s = Math.max(from, pos);
    const e = Math.min(to, pos + c.length);
    if (s < e) out.set(c.subarray(s - pos, e - pos), s - from);
    pos += c.length;
    if (pos >= to) break;
  }
  return out;
}

/**
 * Splits bytes the decoder already checked into their records.
 * @param bytes Whole records.
 * @param offset Stream offset of the first byte.
 * @returns The records.
 */
function splitRecords(bytes: Uint8Array, offset: number): SessionRecord[] {
  const out: SessionRecord[] = [];
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at + RECORD_HEADER_BYTES <= bytes.length) {
    const type = v.getUint8(at);
    const timeUs = v.getUint32(at + 1) * 2 ** 32 + v.getUint32(at + 5);
    const length = v.getUint32(at + 9);
    const start = at + RECORD_HEADER_BYTES;
    if (start + length > bytes.length) break;
    out.push({
      type: type as SessionRecord["type"],
      timeUs,
      payload: bytes.subarray(start, start + length),
      offset: offset + at,
    });
    at = start + length;
  }
  return out;
}
