/**
 * The upload handler: `POST /v2/recordings`, a record stream
 * (`../protocol/records.ts`; the upload itself in `records_ingest.ts`).
 *
 * It answers `200` at once with an NDJSON acknowledgement stream (`Ack` in
 * `../recording/wire.ts`), then takes the body as it arrives, stores complete
 * records and acknowledges them after every write. Uploads still running are
 * tracked so a shutdown finalises them `partial`.
 *
 * - Refused before streaming (bad or missing session id, declared size over
 *   the limit, id taken): `400`/`409`/`413`, nothing stored.
 * - Refused at the header record: `{"error"}` in the ack stream, nothing
 *   stored. No session has started yet.
 * - Anything later never deletes: `partial` with every complete record
 *   before the point and a reason naming what and where.
 *
 * The v1 upload (asciicast lines at `/v1/recordings`) is gone: every proxy
 * uploads records. Recordings it stored (`.cast`) stay readable.
 *
 * @module
 */

import {
  type Ack,
  ACK_CONTENT_TYPE,
  CONTINUES_HEADER,
  PART_HEADER,
  SESSION_HEADER,
  SESSION_ID_PATTERN,
} from "../recording/wire.ts";
import type { IncrementalDigest } from "../recording/cast_encoder.ts";
import { Sha256 } from "../recording/sha256.ts";
import {
  makeRecordingId,
  MAX_PART,
  parseRecordingId,
  partId,
  type RecordingId,
} from "./recording_id.ts";
import type { RecordingManifest, RecordingStorage } from "./storage.ts";
import {
  type IngestLimits,
  ingestRecords,
  type IngestResult,
} from "./records_ingest.ts";
import type { IngestMetrics } from "../metrics/recorder_metrics.ts";
import type { ManifestSigner } from "./integrity/signing_key.ts";

export type { IngestLimits, IngestResult } from "./records_ingest.ts";

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
  /** Where received bytes and acknowledgement latency are counted. */
  metrics?: IngestMetrics;
  /** Called once a recording is finalised (e.g. to derive its text). */
  onFinished?: (id: RecordingId) => void | Promise<void>;
  /** Called once an upload's header is stored, with its live manifest. */
  onStarted?: (manifest: RecordingManifest) => void;
  /**
   * Makes the incremental SHA-256 checked against a v2 end record. The
   * default is the TypeScript one (any runtime, ~100 MB/s); `serve.ts`
   * passes `node:crypto`'s.
   * @default {() => new Sha256()}
   */
  digest?: () => IncrementalDigest;
  /**
   * Signs each final manifest of a v2 upload (`integrity/`); without it a
   * manifest carries the evidence's hash chain only.
   */
  signer?: ManifestSigner;
}

/**
 * Handles uploads and tracks the live ones, so that a shutdown can finalise
 * them `partial` instead of leaving them open.
 */
export class Ingestor {
  #o: IngestOptions;
  #now: () => number;
  #live = new Set<AbortController>();
  /** Live uploads by recording id: how to tell the proxy, and the record. */
  #byId = new Map<
    string,
    {
      send: (a: Ack) => void;
      control: { terminated?: { by: string; reason: string; at: number } };
    }
  >();
  #running = new Set<Promise<void>>();

  /**
   * Creates the ingest, with no upload in progress.
   * @param options Storage, limits and ack interval.
   */
  constructor(options: IngestOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** Number of uploads in progress. */
  get liveUploads(): number {
    return this.#live.size;
  }

  /**
   * Answers one upload request (a record stream; authentication is the
   * caller's job).
   * @param req The `POST` request.
   * @returns `200` with the ack stream, or `400`/`409`/`413` with `{"error"}`.
   */
  handle(req: Request): Promise<Response> {
    return this.#accept(req, async (body, id, sessionId, send, signal) => {
      const control: {
        terminated?: { by: string; reason: string; at: number };
      } = {};
      this.#byId.set(id.id, { send, control });
      const result = await ingestRecords({
        control,
        storage: this.#o.storage,
        limits: this.#o.limits,
        ackIntervalMs: this.#o.ackIntervalMs,
        now: this.#now,
        ...(this.#o.metrics ? { metrics: this.#o.metrics } : {}),
        digest: this.#o.digest ?? (() => new Sha256()),
        body,
        id,
        sessionId,
        send,
        signal,
        ...(this.#o.onFinished ? { onFinished: this.#o.onFinished } : {}),
        ...(this.#o.onStarted ? { onStarted: this.#o.onStarted } : {}),
        ...(this.#o.signer ? { signer: this.#o.signer } : {}),
      });
      this.#byId.delete(id.id);
      this.#o.onResult?.(result);
    });
  }

  /**
   * Tells whether a recording's upload is in progress here.
   * @param id A recording id.
   * @returns Whether its upload is live on this recorder.
   */
  isLive(id: string): boolean {
    return this.#byId.has(id);
  }

  /**
   * Ends a live session: the proxy is told on the acknowledgement stream
   * (it ends the session with `execgate: session ended by <by>: <reason>`),
   * and the recording's manifest says who ended it and why.
   * @param id The recording id.
   * @param by The moderator's name.
   * @param reason Why.
   * @returns Whether the upload was live here.
   */
  terminate(id: string, by: string, reason: string): boolean {
    // A failed-over session is live as its latest part (`<id>~<part>`).
    let live = this.#byId.get(id);
    for (const [k, v] of this.#byId) {
      if (k.startsWith(`${id}~`)) live = v;
    }
    if (!live) return false;
    live.control.terminated ??= { by, reason, at: this.#now() };
    live.send({ terminate: { by, reason } });
    return true;
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
    const id = continuedId(req.headers, sessionId) ??
      makeRecordingId(sessionId, new Date(this.#now()));
    if (typeof id === "string") return jsonError(400, id);
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
}

/**
 * The id of a continued upload's part (failover, `wire.ts`
 * {@linkcode Continuation}), from its request headers.
 * @param headers The request headers.
 * @param sessionId The validated session id.
 * @returns The part's id; `undefined` for a first part; a string saying
 * what is wrong with the headers.
 */
function continuedId(
  headers: Headers,
  sessionId: string,
): RecordingId | string | undefined {
  const first = headers.get(CONTINUES_HEADER);
  const part = headers.get(PART_HEADER);
  if (first === null && part === null) return undefined;
  if (first === null || part === null) {
    return `A continued upload needs both the ${CONTINUES_HEADER} and the ${PART_HEADER} header`;
  }
  const id = parseRecordingId(first);
  if (!id || id.part !== undefined || id.sessionId !== sessionId) {
    return `The ${CONTINUES_HEADER} header ${
      JSON.stringify(first.slice(0, 120))
    } is not the id of this session's first part (YYYY/MM/DD/${sessionId})`;
  }
  if (
    !/^[0-9]{1,2}$/.test(part) || Number(part) < 2 || Number(part) > MAX_PART
  ) {
    return `The ${PART_HEADER} header ${
      JSON.stringify(part.slice(0, 20))
    } is not a part number from 2 to ${MAX_PART}`;
  }
  return partId(id, Number(part));
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
