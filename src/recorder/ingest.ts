/**
 * The upload handlers: `POST /v2/recordings` (the record stream, see
 * `records_ingest.ts`) and the v1 `POST /v1/recordings` (asciicast lines,
 * protocol in `../recording/wire.ts`), described here.
 *
 * It answers `200` at once with an NDJSON acknowledgement stream, then
 * reads the body line by line, validates each line, writes complete lines
 * to storage as they arrive and acknowledges the bytes storage holds.
 *
 * The header line is acknowledged as soon as it is stored: the proxy starts
 * the session only then ("accepted before started").
 *
 * What is kept when an upload does not end well. The rule: a recording whose
 * header was accepted is never deleted.
 * - Refused before streaming (bad or missing session id, declared size over
 *   the limit, id taken): `400`/`409`/`413`, nothing stored.
 * - Refused at the header (invalid header, header line over a limit, body
 *   ended before it): `{"error":"line 1: …"}` in the ack stream, nothing
 *   stored. No session has started yet.
 * - Anything later: an invalid or over-long event line, the total size over
 *   `maxRecordingBytes`, data after the manifest, an invalid manifest, the
 *   body breaking off (uploader gone, connection lost, recorder shutting
 *   down), no manifest, a manifest whose `castBytes` differs, a storage
 *   failure: every complete line before that point is kept, the recording is
 *   finalised `partial` with `partialReason` saying what and where
 *   (`line 5231: …`, `the upload exceeded the limit of N bytes at byte N`),
 *   and the ack stream gets `{"error": partialReason}` when the recorder is
 *   the one that stopped.
 * - A manifest with reason `refused` (the API server did not upgrade the
 *   session) is stored `refused`, never `complete`.
 *
 * @module
 */

import {
  type Ack,
  ACK_CONTENT_TYPE,
  type CastHeader,
  SESSION_HEADER,
  SESSION_ID_PATTERN,
  type SessionEnd,
} from "../recording/wire.ts";
import {
  CastFormatError,
  type CastLine,
  LineSplitter,
  LineTooLongError,
  parseBodyLine,
  parseHeaderLine,
} from "./cast_lines.ts";
import { makeRecordingId, type RecordingId } from "./recording_id.ts";
import {
  RecordingExistsError,
  type RecordingManifest,
  type RecordingStorage,
  type RecordingWriter,
} from "./storage.ts";
import { TextIndexBuilder } from "./text_index.ts";
import { concatBytes } from "../bytes.ts";
import type { IncrementalDigest } from "../recording/cast_encoder.ts";
import { Sha256 } from "../recording/sha256.ts";
import { ingestRecords } from "./records_ingest.ts";

/** Bytes taken between two write-driven acks. */
const ACK_STEP = 256 * 1024;

/** Size limits of an upload. */
export interface IngestLimits {
  /** Largest line, newline included. */
  maxLineBytes: number;
  /** Largest header line. */
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

/** Options of {@linkcode Ingestor}. */
export interface IngestOptions {
  /** Where recordings go. */
  storage: RecordingStorage;
  /** Size limits. */
  limits: IngestLimits;
  /** Longest time between two acknowledgements. */
  ackIntervalMs: number;
  /** Clock in Unix ms. @default {Date.now} */
  now?: () => number;
  /** Called when an upload ends. */
  onResult?: (result: IngestResult) => void;
  /**
   * Makes the incremental SHA-256 checked against a v2 end record. The
   * default is the TypeScript one (any runtime, ~100 MB/s); `serve.ts`
   * passes `node:crypto`'s.
   * @default {() => new Sha256()}
   */
  digest?: () => IncrementalDigest;
}

class TooLargeError extends Error {}

/**
 * Handles uploads and tracks the live ones, so that a shutdown can finalise
 * them `partial` instead of leaving them open.
 */
export class Ingestor {
  #o: IngestOptions;
  #now: () => number;
  #live = new Set<AbortController>();
  #running = new Set<Promise<void>>();

  /** @param options Storage, limits and ack interval. */
  constructor(options: IngestOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** Number of uploads in progress. */
  get liveUploads(): number {
    return this.#live.size;
  }

  /**
   * Answers one v1 upload request (asciicast lines; authentication is the
   * caller's job).
   * @param req The `POST` request.
   * @returns `200` with the ack stream, or `400`/`409`/`413` with `{"error"}`.
   */
  handle(req: Request): Promise<Response> {
    return this.#accept(
      req,
      (body, id, sessionId, send, signal) =>
        this.#ingest(body, id, sessionId, send, signal),
    );
  }

  /**
   * Answers one v2 upload request (a record stream; authentication is the
   * caller's job).
   * @param req The `POST` request.
   * @returns `200` with the ack stream, or `400`/`409`/`413` with `{"error"}`.
   */
  handleRecords(req: Request): Promise<Response> {
    return this.#accept(req, async (body, id, sessionId, send, signal) => {
      const result = await ingestRecords({
        storage: this.#o.storage,
        limits: this.#o.limits,
        ackIntervalMs: this.#o.ackIntervalMs,
        now: this.#now,
        digest: this.#o.digest ?? (() => new Sha256()),
        body,
        id,
        sessionId,
        send,
        signal,
      });
      this.#o.onResult?.(result);
    });
  }

  async #accept(
    req: Request,
    run: (
      body: ReadableStream<Uint8Array>,
      id: RecordingId,
      sessionId: string,
      send: (a: Ack) => void,
      signal: AbortSignal,
    ) => Promise<void>,
  ): Promise<Response> {
    const sessionId = req.headers.get(SESSION_HEADER);
    if (sessionId === null) {
      return jsonError(400, `Missing the ${SESSION_HEADER} header`);
    }
    if (!SESSION_ID_PATTERN.test(sessionId)) {
      return jsonError(
        400,
        `Session id ${
          JSON.stringify(sessionId.slice(0, 80))
        } is not valid: expected ${SESSION_ID_PATTERN}`,
      );
    }
    const length = req.headers.get("content-length");
    if (length !== null && Number(length) > this.#o.limits.maxRecordingBytes) {
      return jsonError(
        413,
        `Upload of ${length} bytes exceeds the limit of ${this.#o.limits.maxRecordingBytes} bytes`,
      );
    }
    if (!req.body) return jsonError(400, "The upload has no body");
    const id = makeRecordingId(sessionId, new Date(this.#now()));
    if (await this.#o.storage.exists(id)) {
      return jsonError(
        409,
        `Recording ${JSON.stringify(id.id)} exists already`,
      );
    }
    const enc = new TextEncoder();
    let ctl!: ReadableStreamDefaultController<Uint8Array>;
    let open = true;
    const send = (a: Ack) => {
      if (!open) return;
      try {
        ctl.enqueue(enc.encode(JSON.stringify(a) + "\n"));
      } catch {
        open = false;
      }
    };
    const abort = new AbortController();
    // An uploader that goes away shows up as the ack stream being cancelled
    // (Deno.serve's request.signal also fires on successful responses).
    const acks = new ReadableStream<Uint8Array>({
      start(c) {
        ctl = c;
      },
      cancel() {
        open = false;
        if (!abort.signal.aborted) {
          abort.abort(new Error("the uploader disconnected"));
        }
      },
    });
    this.#live.add(abort);
    const running = run(req.body, id, sessionId, send, abort.signal)
      .catch(() => {})
      .finally(() => {
        this.#live.delete(abort);
        this.#running.delete(running);
        if (open) {
          open = false;
          try {
            ctl.close();
          } catch { /* cancelled */ }
        }
      });
    this.#running.add(running);
    send({ ack: 0 });
    return new Response(acks, {
      status: 200,
      headers: {
        "content-type": ACK_CONTENT_TYPE,
        "cache-control": "no-store",
      },
    });
  }

  /**
   * Stops every live upload: each is finalised `partial`.
   * @returns When all are finalised.
   */
  async shutdown(): Promise<void> {
    for (const a of this.#live) {
      a.abort(new Error("the recorder is shutting down"));
    }
    await Promise.allSettled([...this.#running]);
  }

  async #ingest(
    body: ReadableStream<Uint8Array>,
    id: RecordingId,
    sessionId: string,
    send: (a: Ack) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const { limits, storage } = this.#o;
    const splitter = new LineSplitter(limits.maxLineBytes);
    const text = new TextIndexBuilder(limits.maxTextChars);
    const reader = body.getReader();
    let writer: RecordingWriter | undefined;
    let header: CastHeader | undefined;
    let end: SessionEnd | undefined;
    let manifestBytes = 0;
    let bodyBytes = 0;
    const startedAt = this.#now();
    // Writer calls are serialised: the ack timer syncs while lines arrive.
    let chain: Promise<unknown> = Promise.resolve();
    const locked = <T>(fn: () => Promise<T>): Promise<T> => {
      const p = chain.then(fn);
      chain = p.catch(() => {});
      return p;
    };
    // `ack`: cast bytes taken into the storage writer (the uploader's flow
    // control window); `stored`: bytes the backend holds durably (S3 buffers
    // a segment before it is stored). Sent after every write, and at least
    // every ackIntervalMs while idle so the uploader sees the recorder alive.
    let accepted = 0;
    let lastAck = 0;
    // After writes, ack once 256 KiB more were taken (well inside any
    // uploader window of 1 MiB or more); the timer acks the rest.
    const ack = (force: boolean) => {
      if (!force && accepted - lastAck < ACK_STEP) return;
      lastAck = accepted;
      send({ ack: accepted, stored: writer?.durableBytes ?? 0 });
    };
    const timer = setInterval(() => {
      void locked(async () => {
        await writer?.sync();
        ack(true);
      }).catch(() => {});
    }, this.#o.ackIntervalMs);
    const onAbort = () => reader.cancel(signal.reason).catch(() => {});
    signal.addEventListener("abort", onAbort, { once: true });

    const baseManifest = (h: CastHeader): RecordingManifest => ({
      id: id.id,
      sessionId,
      status: "recording",
      header: h,
      castBytes: 0,
      startedAt,
      updatedAt: startedAt,
    });

    // Takes complete lines in order. On an invalid line, the lines before it
    // are stored first, then the error is thrown.
    const take = async (lines: CastLine[]) => {
      const batch: Uint8Array[] = [];
      const flush = async () => {
        if (batch.length === 0 || !writer) return;
        const w = writer;
        const data = concatBytes(batch.splice(0));
        await locked(() => w.write(data));
        accepted += data.length;
      };
      try {
        for (const line of lines) {
          if (end) {
            throw new CastFormatError(
              line.number,
              "data after the end-of-session manifest",
            );
          }
          if (!header) {
            const h = parseHeaderLine(line, {
              maxHeaderBytes: limits.maxHeaderBytes,
              sessionId,
            });
            const first = withNewline(line.bytes);
            writer = await locked(() =>
              storage.create(id, baseManifest(h), first)
            );
            header = h;
            accepted += first.length;
            // The proxy starts the session once this is acknowledged.
            ack(true);
            continue;
          }
          const parsed = parseBodyLine(line, sessionId);
          if (parsed.kind === "end") {
            end = parsed.end;
            manifestBytes = line.bytes.length;
            continue;
          }
          if (parsed.code === "o") text.add(parsed.data);
          batch.push(withNewline(line.bytes));
        }
      } finally {
        await flush();
      }
      ack(false);
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
            break;
          }
          const last = splitter.end();
          if (last) await take([last]);
          break;
        }
        let chunk = r.value;
        const room = limits.maxRecordingBytes - bodyBytes;
        const over = chunk.length > room;
        if (over) chunk = chunk.subarray(0, room);
        bodyBytes += chunk.length;
        let lines: CastLine[];
        try {
          lines = splitter.push(chunk);
        } catch (e) {
          if (e instanceof LineTooLongError) await take(e.completed);
          throw e;
        }
        await take(lines);
        if (over) {
          throw new TooLargeError(
            `the upload exceeded the limit of ${limits.maxRecordingBytes} bytes at byte ${limits.maxRecordingBytes}`,
          );
        }
      }
    } catch (e) {
      stopped = e;
    }
    clearInterval(timer);
    signal.removeEventListener("abort", onAbort);

    let reason: string | undefined;
    if (stopped !== undefined) {
      const invalid = stopped instanceof CastFormatError ||
        stopped instanceof TooLargeError ||
        stopped instanceof RecordingExistsError;
      reason = invalid
        ? (stopped as Error).message
        : `storage failed: ${(stopped as Error)?.message ?? stopped}`;
      await reader.cancel(reason).catch(() => {});
      send({ error: reason });
    }
    const w = writer;
    if (!w || !header) {
      // Refused at the header: no session started; nothing is kept.
      const message = reason ?? interruption ??
        "the upload ended before its header line";
      if (reason === undefined) send({ error: message });
      this.#o.onResult?.({ outcome: "rejected", bodyBytes, reason: message });
      return;
    }
    reason ??= interruption;
    if (!reason && !end) {
      reason = "the upload ended without the end-of-session manifest";
    }
    try {
      await locked(() => w.sync(true));
    } catch (e) {
      reason ??= `storage failed: ${(e as Error)?.message ?? e}`;
    }
    if (!reason && end && end.castBytes !== w.durableBytes) {
      reason =
        `the manifest says castBytes ${end.castBytes} but ${w.durableBytes} bytes were received`;
    }
    const now = this.#now();
    const status = reason !== undefined
      ? "partial"
      : end?.reason === "refused"
      ? "refused"
      : "complete";
    try {
      await locked(() =>
        w.finish({
          ...baseManifest(header!),
          status,
          ...(end ? { end } : {}),
          updatedAt: now,
          finishedAt: now,
          ...(reason ? { partialReason: reason } : {}),
          ...(text.truncated ? { textTruncated: true } : {}),
        }, text.text())
      );
    } catch (e) {
      // The backend could not write the final manifest: what it holds is
      // recovered `partial` (its final manifest is missing).
      const message = `storage failed: ${(e as Error)?.message ?? e}`;
      if (stopped === undefined) send({ error: message });
      this.#o.onResult?.({
        id: id.id,
        outcome: "partial",
        bodyBytes,
        reason: reason ?? message,
      });
      return;
    }
    if (stopped === undefined) {
      send({
        ack: w.durableBytes + manifestBytes,
        stored: w.durableBytes + manifestBytes,
        done: true,
        id: id.id,
        complete: status === "complete",
      });
    }
    this.#o.onResult?.({
      id: id.id,
      outcome: status,
      bodyBytes,
      ...(reason ? { reason } : {}),
    });
  }
}

const NL = new Uint8Array([10]);

function withNewline(bytes: Uint8Array): Uint8Array {
  return bytes[bytes.length - 1] === 10 ? bytes : concatBytes([bytes, NL]);
}

/**
 * A JSON error response `{"error": message}`.
 * @param status HTTP status.
 * @param message Sentence-case message.
 * @returns The response.
 */
export function jsonError(status: number, message: string): Response {
  return new Response(JSON.stringify({ error: message }) + "\n", {
    status,
    headers: { "content-type": "application/json" },
  });
}
