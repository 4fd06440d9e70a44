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
 * - **Ended by the recorder at its size bound** (`events.maxStreamBytes`):
 *   its final `done` ack stands at a record boundary; the records it does
 *   not cover, and those queued behind them, go first and in order on a new
 *   stream, so none is lost or stored twice (a waiting sender still
 *   resolves only once its record is acknowledged there). A stream ended
 *   without one event taken counts as broken, so this cannot loop.
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
  /** Events not yet acknowledged: waiting for an upload, or in flight. */
  queued: number;
}

const enc = new TextEncoder();

/** One event record on its way: queued for an upload, or in flight on it. */
interface Outgoing {
  /** The record (header and payload). */
  record: Uint8Array[];
  /** Its bytes. */
  size: number;
  /** Offset of its end in the upload it is in flight on. */
  end: number;
  /** Whether it was counted in `sent` already (a re-sent one is not again). */
  counted: boolean;
  /** A waiting (fail-closed) sender. */
  waiter?: { resolve: () => void; reject: (e: Error) => void };
}

/** The events upload of one recorder list. */
export class EventStream {
  #o: EventStreamOptions;
  #upload: RecorderUpload | undefined;
  #opening: Promise<void> | undefined;
  /** Records pushed on `#upload`, not yet acknowledged, in stream order. */
  #inFlight: Outgoing[] = [];
  #inFlightBytes = 0;
  /** Records waiting for an upload to open (and those to re-send). */
  #pending: Outgoing[] = [];
  #pendingBytes = 0;
  #sent = 0;
  #lost = 0;
  #burst = 0;
  #streams = 0;
  #closed = false;
  /** Uploads that had an event (not only their header) acknowledged. */
  #took = new WeakSet<RecorderUpload>();
  /**
   * The recorder's id of the last stream that ended having taken events:
   * the next stream's header names it (`continues`), so the responses it
   * carries may join requests that stream took.
   */
  #continues: string | undefined;

  /**
   * Creates the stream; its upload is opened on the first event.
   * @param options Recorders, credentials, bounds.
   */
  constructor(options: EventStreamOptions) {
    this.#o = options;
  }

  /** Counters of the stream: events sent, lost and queued, uploads opened. */
  get stats(): EventStreamStats {
    return {
      sent: this.#sent,
      lost: this.#lost,
      streams: this.#streams,
      queued: this.#inFlight.length + this.#pending.length,
    };
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
    const out: Outgoing = { record, size, end: 0, counted: false };
    if (!opts.wait) {
      const max = this.#o.maxQueueBytes ?? 4 * 1024 * 1024;
      if (this.#inFlightBytes + this.#pendingBytes + size > max) {
        this.#lose(1, "the events queue is full");
        return;
      }
      this.#enqueue(out);
      return;
    }
    await new Promise<void>((resolve, reject) => {
      out.waiter = {
        resolve,
        reject: (e) => reject(new EventNotAcknowledgedError(e.message)),
      };
      this.#enqueue(out);
    });
    this.#recovered();
  }

  /** Ends the upload (the recorder finalises the stream). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#opening;
    const u = this.#upload;
    this.#upload = undefined;
    if (!u || u.error) return;
    await u.finish().catch((e) =>
      this.#o.logger.warn("events stream did not end cleanly", {
        recorder: u.url,
        error: (e as Error).message,
      })
    );
  }

  /** Puts a record on the open upload, or queues it for the next one. */
  #enqueue(out: Outgoing): void {
    const u = this.#upload;
    if (u && !u.error && this.#pending.length === 0) {
      this.#push(u, out);
      return;
    }
    this.#pending.push(out);
    this.#pendingBytes += out.size;
    this.#open();
  }

  #push(u: RecorderUpload, out: Outgoing): void {
    u.push(out.record);
    out.end = u.writtenBytes;
    this.#inFlight.push(out);
    this.#inFlightBytes += out.size;
    if (!out.counted) {
      out.counted = true;
      this.#sent++;
    }
  }

  /** Opens an upload for the pending records (one opening at a time). */
  #open(): void {
    if (this.#opening) return;
    if (this.#closed) {
      this.#drop(this.#takePending(), "the events stream is closed");
      return;
    }
    this.#opening = this.#connect().then((u) => {
      this.#opening = undefined;
      if (u !== this.#upload) {
        // It broke or ended before its first event: no second try here.
        this.#drop(
          this.#takePending(),
          u.error?.message ?? "the events stream ended at once",
        );
        return;
      }
      for (const out of this.#takePending()) this.#push(u, out);
    }, (e) => {
      this.#opening = undefined;
      this.#drop(this.#takePending(), (e as Error).message);
    });
  }

  #takePending(): Outgoing[] {
    const p = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    return p;
  }

  /** Records that will not be acknowledged: refused or counted lost. */
  #drop(outs: Outgoing[], why: string): void {
    let lost = 0;
    for (const out of outs) {
      if (out.waiter) out.waiter.reject(new Error(why));
      else lost++;
    }
    if (lost > 0) this.#lose(lost, why);
  }

  /** The recorder acknowledged `acked` bytes of upload `u`. */
  #onAck(u: RecorderUpload, acked: number): void {
    if (u !== this.#upload) return;
    let n = 0;
    while (n < this.#inFlight.length && this.#inFlight[n]!.end <= acked) n++;
    if (n === 0) return;
    for (const out of this.#inFlight.splice(0, n)) {
      this.#inFlightBytes -= out.size;
      out.waiter?.resolve();
    }
    this.#recovered();
  }

  /**
   * The recorder ended upload `u` on its own (`done` before we finished it:
   * the stream reached the recorder's size bound). It took exactly the
   * records its final ack covers; the rest go again, first, on a new stream.
   */
  #onDone(u: RecorderUpload, streamId: string, ack: number): void {
    if (u !== this.#upload || this.#closed) return;
    this.#onAck(u, ack);
    this.#upload = undefined;
    const rest = this.#inFlight;
    this.#inFlight = [];
    this.#inFlightBytes = 0;
    // The recorder stores at least one event per stream: one that took
    // none would make us open streams for ever.
    const progressed = this.#took.has(u);
    if (progressed && u.recordingId) this.#continues = u.recordingId;
    void u.finish().catch(() => {});
    this.#o.logger.info("events stream ended by the recorder", {
      recorder: u.url,
      streamId,
      acknowledgedBytes: ack,
      resent: rest.length,
    });
    if (!progressed) {
      this.#drop(
        rest,
        `the recorder ended events stream ${streamId} without taking an event`,
      );
      return;
    }
    this.#pending = [...rest, ...this.#pending];
    this.#pendingBytes += rest.reduce((n, o) => n + o.size, 0);
    if (this.#pending.length > 0) this.#open();
  }

  /** Upload `u` broke: what it had not acknowledged is refused or lost. */
  #onFailure(u: RecorderUpload, streamId: string, err: Error): void {
    if (u !== this.#upload) return;
    this.#upload = undefined;
    if (this.#took.has(u) && u.recordingId) this.#continues = u.recordingId;
    const rest = this.#inFlight;
    this.#inFlight = [];
    this.#inFlightBytes = 0;
    if (!this.#closed) {
      this.#o.logger.warn("events stream broke", {
        recorder: u.url,
        streamId,
        unacknowledgedBytes: u.queuedBytes,
        error: err.message,
      });
    }
    this.#drop(rest, err.message);
    if (this.#pending.length > 0) this.#open();
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
      ...(this.#continues ? { continues: this.#continues } : {}),
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
    this.#continues = undefined;
    const headerEnd = upload.writtenBytes;
    upload.onAck((acked) => {
      if (acked > headerEnd) this.#took.add(upload);
      this.#onAck(upload, acked);
    });
    upload.onDone((ack) => this.#onDone(upload, streamId, ack.ack ?? 0));
    o.logger.info("events stream open", { recorder: upload.url, streamId });
    void upload.failure.then((err) => this.#onFailure(upload, streamId, err));
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
