/**
 * The proxy's one long-lived events upload per recorder list: a record
 * stream (`../protocol/records.ts`) of a `HEADER` and then one `EVENT`
 * record per API request event, on `POST /v2/events`, acknowledged by offset
 * like a recording (`recorder_client.ts`, whose upload it reuses).
 *
 * ```
 * send(event, {wait}) ──▶ EVENT record ──▶ RecorderUpload ──▶ recorder
 *        ◀── resolves when {"ack":N} covers the record's end (wait) ──┘
 * ```
 *
 * - **Lazily opened, reopened on failure**: the first event opens the
 *   upload (the first recorder of the list that accepts its header); one that
 *   breaks is dropped and the next event opens a new one (a new stream id).
 * - **Waiting (fail closed)**: {@linkcode EventStream.send} with
 *   `wait: true` resolves only once the recorder acknowledged every byte up
 *   to the end of this event's record, and rejects with the reason
 *   otherwise: no recorder accepted the stream, or it broke before the ack.
 * - **Not waiting (fail open)**: the record is queued in a bounded queue
 *   (`maxQueueBytes`, counting unacknowledged bytes of the open upload and
 *   events waiting for one); past the bound the new event is dropped and
 *   counted. Events of an upload that breaks with them unacknowledged are
 *   counted lost too. A loss is logged once per burst: when it starts, and
 *   with its count when events are acknowledged again.
 *
 * Runtime-neutral: `fetch` is injected (through the upload options).
 *
 * @module
 */

import {
  encodeRecordHeader,
  EVENTS_UPLOAD_PATH,
  RecordType,
} from "../protocol/records.ts";
import type { Logger } from "../log.ts";
import {
  openRecorderUpload,
  RecorderUnavailableError,
  type RecorderUpload,
} from "./recorder_client.ts";

/** Options of {@linkcode EventStream}. */
export interface EventStreamOptions {
  /** Recorder base URLs, tried in order. */
  urls: readonly string[];
  /** Hostname of the proxy (in the stream's header). */
  proxyHostname: string;
  /** Uploader token. @default {none} */
  token?: string;
  /** The `fetch` towards recorders. @default {globalThis.fetch} */
  fetch?: typeof fetch;
  /** How long a recorder may take to accept the stream. @default {5000} */
  connectTimeoutMs?: number;
  /** How long acknowledgements may stand still. @default {10000} */
  ackTimeoutMs?: number;
  /**
   * Bound on event bytes not yet acknowledged (queued or in flight); fail
   * open drops new events past it. @default {4194304}
   */
  maxQueueBytes?: number;
  /** Logger (losses, reconnects). */
  logger: Logger;
  /** Clock, Unix ms. @default {Date.now} */
  now?: () => number;
  /** Stream id generator (`[A-Za-z0-9_-]{1,64}`). @default {`ev-` + random hex} */
  newStreamId?: () => string;
}

/** Thrown by a waiting {@linkcode EventStream.send} that was not acknowledged. */
export class EventNotAcknowledgedError extends Error {
  /** Always `"EventNotAcknowledgedError"`. */
  override name = "EventNotAcknowledgedError";
}

/** What {@linkcode EventStream.stats} reports. */
export interface EventStreamStats {
  /** Events handed to an upload. */
  sent: number;
  /** Fail-open events dropped at the queue bound or lost with an upload. */
  lost: number;
  /** Uploads opened so far. */
  streams: number;
}

const enc = new TextEncoder();

/** The events upload of one recorder list. */
export class EventStream {
  #o: EventStreamOptions;
  #upload: RecorderUpload | undefined;
  #opening: Promise<RecorderUpload> | undefined;
  /** Fail-open records waiting for an upload to open. */
  #pending: Uint8Array[][] = [];
  #pendingBytes = 0;
  #sent = 0;
  #lost = 0;
  #burst = 0;
  #streams = 0;
  #closed = false;

  /**
   * Creates the stream; its upload is opened on the first event.
   * @param options Recorders, credentials, bounds.
   */
  constructor(options: EventStreamOptions) {
    this.#o = options;
  }

  /** Counters of the stream: events sent and lost, uploads opened. */
  get stats(): EventStreamStats {
    return { sent: this.#sent, lost: this.#lost, streams: this.#streams };
  }

  /**
   * Sends one event.
   * @param event The event (JSON-serialisable).
   * @param opts `wait`: resolve only once acknowledged (fail closed).
   * @throws {EventNotAcknowledgedError} Waiting, and the recorder did not
   *   acknowledge the event (the message says why).
   */
  async send(event: unknown, opts: { wait: boolean }): Promise<void> {
    const now = (this.#o.now ?? Date.now)();
    const payload = enc.encode(JSON.stringify(event));
    const record = [
      encodeRecordHeader(
        RecordType.EVENT,
        Math.round(now * 1000),
        payload.length,
      ),
      payload,
    ];
    const size = record[0]!.length + payload.length;
    if (!opts.wait) {
      this.#sendLater(record, size);
      return;
    }
    let upload: RecorderUpload;
    try {
      upload = await this.#open();
    } catch (e) {
      throw new EventNotAcknowledgedError((e as Error).message);
    }
    upload.push(record);
    this.#sent++;
    const end = upload.writtenBytes;
    try {
      await upload.whenAcked(end);
    } catch (e) {
      throw new EventNotAcknowledgedError((e as Error).message);
    }
    this.#recovered();
  }

  /** Ends the upload (the recorder finalises the stream). */
  async close(): Promise<void> {
    this.#closed = true;
    const u = this.#upload ?? await this.#opening?.catch(() => undefined);
    this.#upload = undefined;
    if (!u || u.error) return;
    await u.finish().catch((e) =>
      this.#o.logger.warn("events stream did not end cleanly", {
        recorder: u.url,
        error: (e as Error).message,
      })
    );
  }

  #sendLater(record: Uint8Array[], size: number): void {
    const max = this.#o.maxQueueBytes ?? 4 * 1024 * 1024;
    const u = this.#upload;
    const inFlight = (u && !u.error ? u.queuedBytes : 0) + this.#pendingBytes;
    if (inFlight + size > max) {
      this.#lose(1, "the events queue is full");
      return;
    }
    if (u && !u.error) {
      u.push(record);
      this.#sent++;
      return;
    }
    this.#pending.push(record);
    this.#pendingBytes += size;
    this.#open().then((up) => this.#flush(up), (e) => {
      const n = this.#pending.length;
      this.#pending = [];
      this.#pendingBytes = 0;
      if (n > 0) this.#lose(n, (e as Error).message);
    });
  }

  #flush(u: RecorderUpload): void {
    const records = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    if (records.length === 0) return;
    for (const r of records) u.push(r);
    this.#sent += records.length;
  }

  /** The open upload, or a new one (shared by concurrent callers). */
  #open(): Promise<RecorderUpload> {
    if (this.#upload && !this.#upload.error) {
      return Promise.resolve(this.#upload);
    }
    if (this.#closed) {
      return Promise.reject(new Error("the events stream is closed"));
    }
    this.#opening ??= this.#connect().finally(() => this.#opening = undefined);
    return this.#opening;
  }

  async #connect(): Promise<RecorderUpload> {
    const o = this.#o;
    const streamId = (o.newStreamId ?? randomStreamId)();
    const now = (o.now ?? Date.now)();
    const header = enc.encode(JSON.stringify({
      kind: "events",
      version: 1,
      proxy: o.proxyHostname,
      streamId,
      startedAt: now,
    }));
    let upload: RecorderUpload;
    try {
      upload = await openRecorderUpload({
        urls: o.urls,
        sessionId: streamId,
        path: EVENTS_UPLOAD_PATH,
        header: [
          encodeRecordHeader(
            RecordType.HEADER,
            Math.round(now * 1000),
            header.length,
          ),
          header,
        ],
        ...(o.token !== undefined ? { token: o.token } : {}),
        ...(o.fetch ? { fetch: o.fetch } : {}),
        ...(o.connectTimeoutMs ? { connectTimeoutMs: o.connectTimeoutMs } : {}),
        ...(o.ackTimeoutMs ? { ackTimeoutMs: o.ackTimeoutMs } : {}),
        // The queue bound is ours (fail open drops, fail closed waits).
        maxQueueBytes: Number.MAX_SAFE_INTEGER,
      });
    } catch (e) {
      if (e instanceof RecorderUnavailableError) {
        throw new Error(
          `no recorder accepted the events stream (tried: ${
            e.tried.map((t) => `${t.url} (${t.reason})`).join(", ") ||
            "no recorder configured"
          })`,
        );
      }
      throw e;
    }
    this.#streams++;
    this.#upload = upload;
    upload.onAck(() => this.#recovered());
    o.logger.info("events stream open", { recorder: upload.url, streamId });
    void upload.failure.then((err) => {
      if (this.#upload === upload) this.#upload = undefined;
      if (this.#closed) return;
      o.logger.warn("events stream broke", {
        recorder: upload.url,
        streamId,
        unacknowledgedBytes: upload.queuedBytes,
        error: err.message,
      });
    });
    return upload;
  }

  #lose(n: number, why: string): void {
    this.#lost += n;
    if (this.#burst === 0) {
      this.#o.logger.warn("API events are being lost (fail open)", {
        reason: why,
      });
    }
    this.#burst += n;
  }

  #recovered(): void {
    if (this.#burst === 0) return;
    this.#o.logger.warn("API events were lost (fail open)", {
      lost: this.#burst,
      lostSinceStart: this.#lost,
    });
    this.#burst = 0;
  }
}

function randomStreamId(): string {
  const b = crypto.getRandomValues(new Uint8Array(12));
  return "ev-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
