/**
 * Failover mid-session: one session's upload over a succession of recorder
 * uploads (parts), so that a recorder dying or stalling midway does not end
 * the session nor lose a byte.
 *
 * ```
 * tap ─push()─▶ FailoverUpload ──▶ part 1: RecorderUpload ─▶ rec-a  ✗ (dies, stalls)
 *                 │ retained: every record not yet acknowledged
 *                 └─────────────▶ part 2: RecorderUpload ─▶ rec-b   HEADER+continues,
 *                                                                   retained records, …
 * ```
 *
 * Offsets here are the session's: the bytes of its one record stream, as
 * one upload would carry it (the encoder's `bytes`, the end record's
 * `castBytes`). A later part's upload is its own header record
 * (`RecordEncoder.continuation`, not counted) and then the session's
 * records from the offset where it resumes: the start of the oldest record
 * not yet acknowledged. Every pushed batch of whole records is kept until
 * acknowledged, so the unacknowledged window is what is kept (the memory
 * bound is the one the window already sets).
 *
 * When a part breaks (no acknowledgement within `ackTimeoutMs`, the
 * connection cut, the recorder gave up), the next recorders of the grant's
 * list are tried in order, wrapping round, within `ackTimeoutMs`; the first
 * that acknowledges the continuation header takes the rest. Meanwhile
 * nothing is acknowledged, so a fail-closed session holds its output (its
 * client sees a pause) and a fail-open one keeps going within its window.
 * Only when no recorder takes it does {@linkcode FailoverUpload.failure}
 * resolve, and the session's failure policy runs as it always did.
 *
 * Runtime-neutral: the parts are opened through an injected function.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import {
  describeTried,
  type RecorderAttempt,
  RecorderUnavailableError,
  type RecorderUpload,
  RecordingFailedError,
} from "./recorder_client.ts";
import type { Ack, Continuation } from "./wire.ts";
import { CONTINUES_HEADER, PART_HEADER } from "./wire.ts";

/** Opens a continued part: resolves once its header is acknowledged. */
export type OpenPart = (
  url: string,
  header: Uint8Array,
  headers: Record<string, string>,
  connectTimeoutMs: number,
) => Promise<RecorderUpload>;

/** Options of {@linkcode FailoverUpload}. */
export interface FailoverUploadOptions {
  /** The grant's recorder URLs, in order. */
  urls: readonly string[];
  /** The first part, open, its header acknowledged. */
  first: RecorderUpload;
  /** Builds a later part's header record (`RecordEncoder.continuation`). */
  continuation: (c: Continuation) => Uint8Array;
  /** Opens a later part (`openRecorderUpload` with one URL). */
  open: OpenPart;
  /** The window (unacknowledged bytes at which `full` is set). */
  windowBytes: number;
  /** How long a failover may take. */
  ackTimeoutMs: number;
  /** How long each recorder tried may take to accept the part (within it). */
  connectTimeoutMs: number;
  /** Session id, for logs. */
  sessionId: string;
  /** Clock, Unix ms. */
  now: () => number;
  /** Logger. */
  log: Logger;
}

/** A pushed batch of whole records, kept until acknowledged. */
interface Batch {
  start: number;
  end: number;
  chunks: Uint8Array[];
}

/** The live part and where its bytes stand in the session's stream. */
interface Part {
  upload: RecorderUpload;
  /** Part number, from 1. */
  n: number;
  /** Session offset of the part's first session byte. */
  base: number;
  /** Bytes of the part's own header record (0 for the first part). */
  headerBytes: number;
  /** Set once its failure was handled. */
  failed?: boolean;
}

/**
 * The session's upload, failing over between recorders. The surface
 * {@linkcode RecordingSession} uses of a {@linkcode RecorderUpload}.
 */
export class FailoverUpload {
  /** Resolves when the recording broke and no recorder took the rest. */
  readonly failure: Promise<RecordingFailedError>;
  #o: FailoverUploadOptions;
  #part: Part;
  #firstId: string | undefined;
  #batches: Batch[] = [];
  #written: number;
  #acked: number;
  #closing = false;
  #cancelled = false;
  #error: RecordingFailedError | undefined;
  #resolveFailure!: (e: RecordingFailedError) => void;
  /** Set while a failover runs: resolves when it is over, either way. */
  #switching: Promise<void> | undefined;
  #ackListeners: ((n: number) => void)[] = [];
  #terminateListeners: ((t: { by: string; reason: string }) => void)[] = [];
  #ackWaiters: {
    n: number;
    resolve: () => void;
    reject: (e: Error) => void;
  }[] = [];

  /** @param options The first part and how to open more. */
  constructor(options: FailoverUploadOptions) {
    this.#o = options;
    const first = options.first;
    this.#written = first.writtenBytes;
    this.#acked = first.ackedBytes;
    this.#firstId = first.recordingId;
    this.#part = { upload: first, n: 1, base: 0, headerBytes: 0 };
    this.failure = new Promise((r) => this.#resolveFailure = r);
    this.#attach(this.#part);
  }

  /** The recorder taking the session now. */
  get url(): string {
    return this.#part.upload.url;
  }

  /** Session bytes pushed. */
  get writtenBytes(): number {
    return this.#written;
  }

  /** Session bytes acknowledged (by whichever part holds them). */
  get ackedBytes(): number {
    return this.#acked;
  }

  /** Whether the unacknowledged window is at or over its bound. */
  get full(): boolean {
    return this.#written - this.#acked >= this.#o.windowBytes;
  }

  /** @see RecorderUpload.onAck */
  onAck(fn: (acked: number) => void): void {
    this.#ackListeners.push(fn);
  }

  /** @see RecorderUpload.onTerminate */
  onTerminate(fn: (t: { by: string; reason: string }) => void): void {
    this.#terminateListeners.push(fn);
  }

  /**
   * Queues whole records (each call one or more complete records).
   * @param chunks The records' bytes.
   */
  push(chunks: readonly Uint8Array[]): void {
    if (this.#error || this.#closing) return;
    const kept = chunks.filter((c) => c.length > 0);
    if (kept.length === 0) return;
    let n = 0;
    for (const c of kept) n += c.length;
    this.#batches.push({
      start: this.#written,
      end: this.#written + n,
      chunks: kept,
    });
    this.#written += n;
    if (!this.#switching) this.#part.upload.push(kept);
  }

  /** @see RecorderUpload.whenRoom */
  whenRoom(limit: number = this.#o.windowBytes): Promise<void> {
    if (this.#error) return Promise.resolve();
    if (this.#switching) {
      return this.#switching.then(() => this.whenRoom(limit));
    }
    const part = this.#part;
    return part.upload.whenRoom(limit).then(() => {
      // The part broke while waiting: wait for the failover.
      if (!part.upload.error) return;
      this.#partFailed(part, part.upload.error);
      return this.whenRoom(limit);
    });
  }

  /** @see RecorderUpload.whenAcked (session offsets) */
  whenAcked(n: number): Promise<void> {
    if (this.#acked >= n) return Promise.resolve();
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) =>
      this.#ackWaiters.push({ n, resolve, reject })
    );
  }

  /**
   * Ends the body (the end record was pushed) and waits for the final
   * acknowledgement of the part holding the end, failing over as long as
   * records are unacknowledged.
   */
  async finish(): Promise<Ack> {
    this.#closing = true;
    while (true) {
      if (this.#switching) await this.#switching;
      if (this.#error) throw this.#error;
      const part = this.#part;
      try {
        return await part.upload.finish();
      } catch (e) {
        // Fail over (unless everything was acknowledged) and finish there.
        if (part.upload.error) this.#partFailed(part, part.upload.error);
        if (this.#switching || this.#part !== part) continue;
        throw this.#error ?? e;
      }
    }
  }

  /** Drops the upload (the session ends unrecorded from here). */
  cancel(reason: string): void {
    this.#cancelled = true;
    this.#part.upload.cancel(reason);
    this.#finalFail(
      this.#part.upload.error ??
        new RecordingFailedError(this.url, `cancelled: ${reason}`),
    );
  }

  #attach(part: Part): void {
    const up = part.upload;
    up.onAck(() => {
      if (this.#part !== part) return;
      this.#advance(part.base + Math.max(0, up.ackedBytes - part.headerBytes));
    });
    up.onTerminate((t) => {
      for (const fn of this.#terminateListeners) fn(t);
    });
    up.failure.then((err) => this.#partFailed(part, err));
  }

  /** A part broke: fail over (once per part), or give up. */
  #partFailed(part: Part, err: RecordingFailedError): void {
    if (part.failed) return;
    part.failed = true;
    if (this.#part !== part || this.#cancelled || this.#error) return;
    if (this.#closing && this.#batches.length === 0) {
      // Everything, the end included, was acknowledged; only the final
      // line did not come. Nothing is left to send anywhere.
      this.#finalFail(err);
      return;
    }
    const done = Promise.withResolvers<void>();
    this.#switching = done.promise;
    this.#failover(part, err).finally(() => {
      this.#switching = undefined;
      done.resolve();
    });
  }

  #advance(acked: number): void {
    if (acked <= this.#acked) return;
    this.#acked = Math.min(acked, this.#written);
    while (this.#batches.length > 0 && this.#batches[0]!.end <= this.#acked) {
      this.#batches.shift();
    }
    for (const fn of this.#ackListeners) fn(this.#acked);
    const reached = this.#ackWaiters.filter((w) => w.n <= this.#acked);
    this.#ackWaiters = this.#ackWaiters.filter((w) => w.n > this.#acked);
    for (const w of reached) w.resolve();
  }

  async #failover(from: Part, err: RecordingFailedError): Promise<void> {
    const o = this.#o;
    const deadline = o.now() + o.ackTimeoutMs;
    const tried: RecorderAttempt[] = [];
    const urls = o.urls;
    const at = urls.indexOf(from.upload.url);
    const order = [...urls.slice(at + 1), ...urls.slice(0, Math.max(0, at))]
      .filter((u) => u !== from.upload.url);
    const firstId = this.#firstId;
    if (firstId === undefined) {
      this.#finalFail(
        new RecordingFailedError(
          from.upload.url,
          `${err.detail}; no failover: the recorder did not name the recording`,
        ),
      );
      return;
    }
    if (from.n >= 99) {
      this.#finalFail(
        new RecordingFailedError(
          from.upload.url,
          `${err.detail}; no failover: the session has 99 parts already`,
        ),
      );
      return;
    }
    for (const url of order) {
      const left = deadline - o.now();
      if (left <= 0) break;
      const offset = this.#batches[0]?.start ?? this.#written;
      const c: Continuation = {
        part: from.n + 1,
        recording: firstId,
        offset,
        recorder: from.upload.url,
        reason: err.detail.slice(0, 4000),
        at: o.now(),
      };
      let up: RecorderUpload;
      try {
        up = await o.open(url, o.continuation(c), {
          [CONTINUES_HEADER]: firstId,
          [PART_HEADER]: String(c.part),
        }, Math.max(1, Math.min(o.connectTimeoutMs, left)));
      } catch (e) {
        tried.push(
          e instanceof RecorderUnavailableError && e.tried[0]
            ? e.tried[0]
            : { url, reason: (e as Error).message },
        );
        continue;
      }
      if (this.#cancelled || this.#error) {
        up.cancel("the session ended during the failover");
        return;
      }
      const part: Part = {
        upload: up,
        n: c.part,
        base: offset,
        headerBytes: up.writtenBytes,
      };
      this.#part = part;
      this.#attach(part);
      // Everything not acknowledged yet, and what came during the failover.
      for (const b of this.#batches) up.push(b.chunks);
      o.log.warn("recording failed over to the next recorder", {
        sessionId: o.sessionId,
        from: from.upload.url,
        to: url,
        part: c.part,
        offset,
        resent: this.#written - offset,
        reason: err.detail,
      });
      return;
    }
    this.#finalFail(
      new RecordingFailedError(
        from.upload.url,
        `${err.detail}; failover found no recorder to take the rest (${
          order.length === 0
            ? "no other recorder in the grant's list"
            : `tried: ${describeTried(tried)}`
        }${o.now() >= deadline ? `, within ${o.ackTimeoutMs} ms` : ""})`,
      ),
    );
  }

  #finalFail(err: RecordingFailedError): void {
    if (this.#error) return;
    this.#error = err;
    this.#batches = [];
    for (const w of this.#ackWaiters.splice(0)) w.reject(err);
    this.#resolveFailure(err);
  }
}
