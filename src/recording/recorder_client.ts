/**
 * The uploader side of the recording protocol: opens one streaming
 * `POST /v2/recordings` (a body of binary records, `../protocol/records.ts`;
 * the acknowledgement stream of `wire.ts`) to the first recorder that accepts
 * it, feeds it from a queue, and watches the acknowledgement stream so a
 * recorder that stops making progress is noticed within `ackTimeoutMs`.
 *
 * ```
 * tap ──push()──▶ queue ──pull──▶ fetch body ──▶ recorder
 *   ◀── whenRoom(): written − acked ≤ window ◀── {"ack":N} lines ──┘
 *   ◀── onAck(): the acknowledged prefix grew ◀──┘
 * ```
 *
 * Slowness is not failure: only a recorder whose acknowledged bytes stand
 * still for `ackTimeoutMs` while bytes are outstanding (or the final `done`
 * is awaited), or whose acknowledgement stream falls silent for as long,
 * breaks the upload. "The recorder" is the recorder process behind the URL,
 * not this one upload: while the same recorder acknowledges this proxy's
 * other uploads ({@linkcode RecorderProgress}), one upload's silence counts
 * only after `ackTimeoutMs × stallFactor`. Under 1,000 concurrent sessions
 * on two cores, single upload connections went unread for over 10 s with
 * their acknowledgements already in the proxy's socket buffer (Deno 2.9
 * delivered that read late) while the recorder kept serving the rest; those
 * sessions were slow, not failed.
 *
 * With `header`, a recorder counts as accepting only once it acknowledged
 * bytes covering the header line; one that refuses it (`{"error"}`) or does
 * not acknowledge it within `connectTimeoutMs` is skipped like one that is
 * down.
 *
 * Runtime-neutral: only `fetch`, streams and timers. A custom CA or client
 * certificate is the caller's business: it passes a `fetch` bound to its own
 * HTTP client.
 *
 * @module
 */

import {
  RECORDS_CONTENT_TYPE,
  RECORDS_UPLOAD_PATH,
} from "../protocol/records.ts";
import { type Ack, SESSION_HEADER, SESSION_ID_PATTERN } from "./wire.ts";
import type { WindowBudget } from "./window_budget.ts";

/** Options of {@linkcode openRecorderUpload}. */
export interface RecorderClientOptions {
  /** Recorder base URLs (e.g. `https://rec-a:8443`), tried in order. */
  urls: readonly string[];
  /** Session id, sent as `X-Execgate-Session`. */
  sessionId: string;
  /** Uploader token for `Authorization: Bearer`. @default {undefined} (none) */
  token?: string;
  /** The `fetch` to use (e.g. bound to a client with a custom CA). @default {globalThis.fetch} */
  fetch?: typeof fetch;
  /**
   * How long one recorder may take to answer `200`, and then to acknowledge
   * the `header`.
   * @default {5000}
   */
  connectTimeoutMs?: number;
  /**
   * The first body bytes (the `HEADER` record): the upload is returned only
   * once the recorder acknowledged all of them.
   * @default {undefined} (accepted at `200`)
   */
  header?: Uint8Array | Uint8Array[];
  /**
   * Longest silence of the acknowledgement stream, and longest time acked
   * bytes may stand still while bytes are outstanding.
   * @default {10000}
   */
  ackTimeoutMs?: number;
  /**
   * The window: unacknowledged body bytes (queued here, buffered by `fetch`,
   * or in flight) before `write` makes its caller wait and `full` is set.
   * This is the memory bound per session: `fetch` drains a request body
   * stream without back-pressure of its own, so only the recorder's acks can
   * bound it.
   * @default {4194304}
   */
  maxQueueBytes?: number;
  /**
   * A bound shared with the proxy's other uploads on unacknowledged bytes:
   * {@linkcode RecorderUpload.whenRoom} also waits for it. @default {none}
   */
  budget?: WindowBudget;
  /** Clock for the ack watchdog, milliseconds. @default {Date.now} */
  now?: () => number;
  /**
   * Where uploads to the same recorder share their progress.
   * @default {the process-wide one}
   */
  progress?: RecorderProgress;
  /**
   * How many times `ackTimeoutMs` one upload may go without progress while
   * its recorder makes progress on others. @default {6}
   */
  stallFactor?: number;
  /** More request headers (a continued part's, `wire.ts`). @default {none} */
  headers?: Readonly<Record<string, string>>;
  /**
   * The upload path on the recorder (an events stream's is
   * `EVENTS_UPLOAD_PATH`). @default {RECORDS_UPLOAD_PATH}
   */
  path?: string;
}

/**
 * When each recorder (by URL) last sent an acknowledgement line and last
 * advanced an acknowledgement, over every upload of this process: the
 * evidence that a recorder is making progress even when one upload of it
 * is slow.
 *
 * @example
 * ```ts
 * import { RecorderProgress } from "./recorder_client.ts";
 * const p = new RecorderProgress();
 * p.line("http://rec", 5);
 * p.advance("http://rec", 7);
 * if (p.lastLine("http://rec") !== 7 || p.lastAdvance("http://rec") !== 7) {
 *   throw new Error();
 * }
 * ```
 */
export class RecorderProgress {
  #line = new Map<string, number>();
  #advance = new Map<string, number>();

  /**
   * Notes that a line arrived from the recorder at `t`.
   * @param url The recorder's base URL.
   * @param t When, in the caller's clock (Unix milliseconds).
   */
  line(url: string, t: number): void {
    if (t > (this.#line.get(url) ?? -Infinity)) this.#line.set(url, t);
  }

  /**
   * Notes that an acknowledgement from the recorder advanced at `t` (a line
   * too).
   * @param url The recorder's base URL.
   * @param t When, in the caller's clock (Unix milliseconds).
   */
  advance(url: string, t: number): void {
    this.line(url, t);
    if (t > (this.#advance.get(url) ?? -Infinity)) this.#advance.set(url, t);
  }

  /**
   * Tells when the recorder last sent a line.
   * @param url The recorder's base URL.
   * @returns When the recorder last sent a line (`-Infinity`: never).
   */
  lastLine(url: string): number {
    return this.#line.get(url) ?? -Infinity;
  }

  /**
   * Tells when the recorder last advanced an acknowledgement.
   * @param url The recorder's base URL.
   * @returns When the recorder last advanced an ack (`-Infinity`: never).
   */
  lastAdvance(url: string): number {
    return this.#advance.get(url) ?? -Infinity;
  }
}

/** The process-wide {@linkcode RecorderProgress}. */
const sharedProgress = new RecorderProgress();

/** One recorder that was tried and why it was not used. */
export interface RecorderAttempt {
  /** The recorder's base URL. */
  url: string;
  /** Short reason, e.g. `connection refused` or `401`. */
  reason: string;
}

/**
 * No recorder accepted the upload. `message` lists them:
 * `no recorder accepted the upload (tried: https://a (connection refused), https://b (401))`.
 */
export class RecorderUnavailableError extends Error {
  /** The recorders tried, in order. */
  readonly tried: RecorderAttempt[];

  /**
   * Creates the error; its message lists the recorders tried.
   * @param tried The recorders tried and why each failed.
   */
  constructor(tried: RecorderAttempt[]) {
    super(`No recorder accepted the upload (tried: ${describeTried(tried)})`);
    this.name = "RecorderUnavailableError";
    this.tried = tried;
  }
}

/**
 * Formats tried recorders as `https://a (connection refused), https://b (401)`.
 * @param tried The attempts.
 * @returns The list, or `no recorder configured` when empty.
 */
export function describeTried(tried: readonly RecorderAttempt[]): string {
  if (tried.length === 0) return "no recorder configured";
  return tried.map((t) => `${t.url} (${t.reason})`).join(", ");
}

/** A recording that broke after it was accepted. */
export class RecordingFailedError extends Error {
  /** The recorder's base URL. */
  readonly url: string;
  /** What went wrong, without the recorder's URL. */
  readonly detail: string;

  /**
   * Creates the error: `Recording to URL failed: MESSAGE`.
   * @param url The recorder.
   * @param message What went wrong.
   */
  constructor(url: string, message: string) {
    super(`Recording to ${url} failed: ${message}`);
    this.name = "RecordingFailedError";
    this.url = url;
    this.detail = message;
  }
}

/**
 * Opens an upload to the first recorder that answers `200` within
 * `connectTimeoutMs`.
 * @param options Recorders, credentials and limits.
 * @returns The open upload.
 * @throws {RecorderUnavailableError} No recorder accepted it.
 * @throws {RangeError} The session id is not valid on the wire.
 */
export async function openRecorderUpload(
  options: RecorderClientOptions,
): Promise<RecorderUpload> {
  if (!SESSION_ID_PATTERN.test(options.sessionId)) {
    throw new RangeError(
      `Cannot open a recording: session id "${options.sessionId}" does not match ${SESSION_ID_PATTERN}`,
    );
  }
  const tried: RecorderAttempt[] = [];
  for (const url of options.urls) {
    const upload = new RecorderUpload(url, options);
    let reason = await upload._connect();
    if (reason === undefined && options.header !== undefined) {
      reason = await upload._sendHeader(
        Array.isArray(options.header) ? options.header : [options.header],
      );
    }
    if (reason === undefined) return upload;
    tried.push({ url, reason });
  }
  throw new RecorderUnavailableError(tried);
}

/**
 * One open upload. Write body bytes with {@linkcode RecorderUpload.write},
 * end it with {@linkcode RecorderUpload.finish}, or drop it with
 * {@linkcode RecorderUpload.cancel}. {@linkcode RecorderUpload.failure}
 * resolves when the recording breaks.
 */
export class RecorderUpload {
  /** The recorder's base URL. */
  readonly url: string;
  /** Resolves with the error when the recording breaks; never rejects. */
  readonly failure: Promise<RecordingFailedError>;

  #opts:
    & Required<
      Omit<
        RecorderClientOptions,
        | "token"
        | "header"
        | "budget"
        | "progress"
        | "stallFactor"
        | "headers"
        | "path"
      >
    >
    & { token?: string; headers?: Readonly<Record<string, string>> }
    & { path: string };
  #progress: RecorderProgress;
  #stallFactor: number;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #written = 0;
  #acked = 0;
  #closing = false;
  #error: RecordingFailedError | undefined;
  #finalAck: Ack | undefined;
  #ackEnded = false;
  #accepted = false;
  #recordingId: string | undefined;
  #resolveFailure!: (e: RecordingFailedError) => void;
  #wakePuller: (() => void) | undefined;
  #spaceWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  #roomWaiters: { limit: number; resolve: () => void }[] = [];
  #ackListeners: ((acked: number) => void)[] = [];
  #terminateListeners: ((t: { by: string; reason: string }) => void)[] = [];
  #doneListeners: ((ack: Ack) => void)[] = [];
  #doneWaiters: { resolve: (a: Ack) => void; reject: (e: Error) => void }[] =
    [];
  #ackWaiters: {
    n: number;
    resolve: () => void;
    reject: (e: Error) => void;
  }[] = [];
  #abort = new AbortController();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastLineAt = 0;
  #lastProgressAt = 0;
  #budget: WindowBudget | undefined;
  /** Bytes this upload counts in the budget (written, not yet acked). */
  #budgetHeld = 0;
  #unlistenBudget: (() => void) | undefined;

  /**
   * Use {@linkcode openRecorderUpload}.
   * @param url The recorder.
   * @param options Options.
   */
  constructor(url: string, options: RecorderClientOptions) {
    this.url = url;
    this.#budget = options.budget;
    this.#progress = options.progress ?? sharedProgress;
    this.#stallFactor = Math.max(1, options.stallFactor ?? 6);
    this.#opts = {
      fetch: options.fetch ?? globalThis.fetch,
      connectTimeoutMs: options.connectTimeoutMs ?? 5000,
      ackTimeoutMs: options.ackTimeoutMs ?? 10_000,
      maxQueueBytes: options.maxQueueBytes ?? 4 * 1024 * 1024,
      now: options.now ?? Date.now,
      urls: options.urls,
      sessionId: options.sessionId,
      token: options.token,
      headers: options.headers,
      path: options.path ?? RECORDS_UPLOAD_PATH,
    };
    this.failure = new Promise((resolve) => this.#resolveFailure = resolve);
  }

  /** Body bytes written but not yet acknowledged (the bounded window). */
  get queuedBytes(): number {
    return this.#written - this.#acked;
  }

  /** Whether the unacknowledged window is at or over its bound. */
  get full(): boolean {
    return this.queuedBytes >= this.#opts.maxQueueBytes;
  }

  /** Body bytes written so far. */
  get writtenBytes(): number {
    return this.#written;
  }

  /** Body bytes the recorder acknowledged. */
  get ackedBytes(): number {
    return this.#acked;
  }

  /** The recording's id, once the recorder named it (with the header's ack). */
  get recordingId(): string | undefined {
    return this.#recordingId;
  }

  /** The error that broke the recording, if any. */
  get error(): RecordingFailedError | undefined {
    return this.#error;
  }

  /**
   * Queues body bytes. Resolves at once while the unacknowledged bytes are
   * within `maxQueueBytes`; else once acks bring them back within it (the
   * caller's back-pressure).
   * @param bytes Body bytes.
   * @throws {RecordingFailedError} The recording is broken (also if it
   * breaks while waiting).
   */
  write(bytes: Uint8Array): Promise<void> {
    if (this.#error) return Promise.reject(this.#error);
    if (this.#closing) {
      return Promise.reject(
        new TypeError("Cannot write to a recording upload after finish()"),
      );
    }
    if (bytes.length === 0) return Promise.resolve();
    if (this.#written === this.#acked) this.#lastProgressAt = this.#opts.now();
    this.#queue.push(bytes);
    this.#queued += bytes.length;
    this.#written += bytes.length;
    this.#took(bytes.length);
    this.#wake();
    if (this.queuedBytes <= this.#opts.maxQueueBytes) return Promise.resolve();
    return new Promise((resolve, reject) =>
      this.#spaceWaiters.push({ resolve, reject })
    );
  }

  /**
   * Queues body chunks without waiting (the caller bounds itself with
   * {@linkcode RecorderUpload.whenRoom} or {@linkcode RecorderUpload.full}).
   * A broken or finished upload ignores them.
   * @param chunks Body chunks, sent as they are (not copied unless small).
   */
  push(chunks: readonly Uint8Array[]): void {
    if (this.#error || this.#closing) return;
    for (const c of chunks) {
      if (c.length === 0) continue;
      if (this.#written === this.#acked) {
        this.#lastProgressAt = this.#opts.now();
      }
      this.#queue.push(c);
      this.#queued += c.length;
      this.#written += c.length;
      this.#took(c.length);
    }
    this.#wake();
  }

  /**
   * Resolves once at most `limit` written bytes are unacknowledged, or the
   * upload broke (never rejects: the failure arrives through
   * {@linkcode RecorderUpload.failure}).
   * @param limit Unacknowledged bytes. @default {the window}
   */
  whenRoom(limit: number = this.#opts.maxQueueBytes): Promise<void> {
    if (this.#hasRoom(limit)) return Promise.resolve();
    if (this.#budget && !this.#unlistenBudget) {
      this.#unlistenBudget = this.#budget.onRoom(() => this.#checkRoom());
    }
    return new Promise((resolve) => this.#roomWaiters.push({ limit, resolve }));
  }

  /**
   * Room for more: within this upload's window and the shared budget (an
   * upload with nothing in flight always has room, so none starves).
   */
  #hasRoom(limit: number): boolean {
    if (this.#error) return true;
    const inFlight = this.queuedBytes;
    if (inFlight > limit) return false;
    return !this.#budget || inFlight === 0 || !this.#budget.full;
  }

  #checkRoom(): void {
    if (this.#roomWaiters.length > 0) {
      const ready = this.#roomWaiters.filter((w) => this.#hasRoom(w.limit));
      this.#roomWaiters = this.#roomWaiters.filter((w) =>
        !this.#hasRoom(w.limit)
      );
      for (const w of ready) w.resolve();
    }
    if (this.#roomWaiters.length === 0 && this.#unlistenBudget) {
      this.#unlistenBudget();
      this.#unlistenBudget = undefined;
    }
  }

  #took(n: number): void {
    if (!this.#budget) return;
    this.#budget.take(n);
    this.#budgetHeld += n;
  }

  /** Gives back to the budget what is no longer in flight. */
  #settleBudget(): void {
    if (!this.#budget) return;
    const inFlight = this.#error || this.#finalAck ? 0 : this.queuedBytes;
    const back = this.#budgetHeld - inFlight;
    if (back > 0) {
      this.#budgetHeld -= back;
      this.#budget.give(back);
    }
  }

  /**
   * Calls `fn` with the acknowledged byte count every time it grows.
   * @param fn The listener (synchronous; it must not throw).
   */
  onAck(fn: (acked: number) => void): void {
    this.#ackListeners.push(fn);
  }

  /**
   * Registers a listener told when the recorder says a moderator ended the
   * session (a `terminate` line).
   * @param fn Called with who and why.
   */
  onTerminate(fn: (t: { by: string; reason: string }) => void): void {
    this.#terminateListeners.push(fn);
  }

  /**
   * Registers a listener told when the recorder's final `done` line arrives,
   * also one sent before {@linkcode RecorderUpload.finish}: the recorder
   * then ended the upload on its own (an events stream at its size bound),
   * and bytes past that line's `ack` were not taken.
   * @param fn Called once with the final acknowledgement (synchronous; it
   *   must not throw).
   */
  onDone(fn: (ack: Ack) => void): void {
    this.#doneListeners.push(fn);
  }

  /**
   * Resolves once the recorder acknowledged at least `n` body bytes.
   * @param n Body bytes (at most {@linkcode RecorderUpload.writtenBytes}).
   * @throws {RecordingFailedError} The recording broke first.
   */
  whenAcked(n: number): Promise<void> {
    if (this.#acked >= n) return Promise.resolve();
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) =>
      this.#ackWaiters.push({ n, resolve, reject })
    );
  }

  /**
   * Writes the header and waits for its acknowledgement. Internal to
   * {@linkcode openRecorderUpload}.
   * @param header The header line.
   * @returns undefined when acknowledged, else why not (the upload is then
   * cancelled).
   */
  async _sendHeader(header: Uint8Array[]): Promise<string | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<string>((resolve) => {
      timer = this.#busyTimer(
        (waited) =>
          resolve(`the header was not acknowledged within ${waited} ms`),
        (t) => timer = t,
      );
    });
    const acked = (async () => {
      this.push(header);
      await this.whenAcked(this.#written);
      return undefined;
    })().catch((e: Error) =>
      e instanceof RecordingFailedError ? e.detail : e.message
    );
    const reason = await Promise.race([acked, timeout]);
    clearTimeout(timer);
    if (reason !== undefined) this.cancel(reason);
    return reason;
  }

  /**
   * Ends the body and waits for the recorder's final `{"done":true}` line,
   * as long as the recorder makes progress (the ack watchdog: a recorder that
   * is slow but acknowledging is waited for).
   * @returns The final acknowledgement.
   * @throws {RecordingFailedError} The recording broke or the final ack did
   * not come.
   */
  finish(): Promise<Ack> {
    if (this.#error) return Promise.reject(this.#error);
    this.#closing = true;
    this.#wake();
    if (this.#finalAck && this.#doneWaiters.length === 0 && this.#ackEnded) {
      return Promise.resolve(this.#finalAck);
    }
    if (this.#written === this.#acked) this.#lastProgressAt = this.#opts.now();
    return new Promise<Ack>((resolve, reject) =>
      this.#doneWaiters.push({ resolve, reject })
    );
  }

  /**
   * Drops the upload: aborts the request. The recorder keeps what it stored
   * and marks it partial. Does not resolve {@linkcode RecorderUpload.failure}
   * with a new error if the upload already ended.
   * @param reason Why, for the error seen by pending writers.
   */
  cancel(reason: string): void {
    this.#fail(`cancelled: ${reason}`);
  }

  /**
   * Tries this recorder. Internal to {@linkcode openRecorderUpload}.
   * @returns undefined when accepted, else the reason it was not.
   */
  async _connect(): Promise<string | undefined> {
    const o = this.#opts;
    const headers = new Headers({
      "content-type": RECORDS_CONTENT_TYPE,
      [SESSION_HEADER]: o.sessionId,
    });
    if (o.token !== undefined) {
      headers.set("authorization", `Bearer ${o.token}`);
    }
    for (const [k, v] of Object.entries(o.headers ?? {})) headers.set(k, v);
    const body = new ReadableStream<Uint8Array>({
      pull: (controller) => this.#pull(controller),
      cancel: (reason) => {
        // Before the recorder accepted, fetch's own error says more.
        if (this.#accepted) {
          this.#fail(`the upload body was cancelled (${describe(reason)})`);
        }
      },
    }, { highWaterMark: 0 });
    let timedOut = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    timer = this.#busyTimer((waited) => {
      timedOut = waited;
      this.#abort.abort();
    }, (t) => timer = t);
    let res: Response;
    try {
      res = await o.fetch(this.url.replace(/\/+$/, "") + o.path, {
        method: "POST",
        headers,
        body,
        duplex: "half",
        redirect: "manual",
        signal: this.#abort.signal,
      } as RequestInit);
    } catch (e) {
      clearTimeout(timer);
      this.#error = new RecordingFailedError(this.url, "not connected");
      this.#wake();
      return timedOut ? `no answer within ${timedOut} ms` : short(e);
    }
    clearTimeout(timer);
    if (res.status !== 200) {
      this.#error = new RecordingFailedError(this.url, "not accepted");
      this.#wake();
      this.#abort.abort();
      await res.body?.cancel().catch(() => {});
      return String(res.status);
    }
    this.#accepted = true;
    this.#lastLineAt = this.#lastProgressAt = o.now();
    this.#arm();
    this.#readAcks(res).catch((e) =>
      this.#fail(`the acknowledgement stream broke (${short(e)})`)
    );
    return undefined;
  }

  async #pull(
    controller: ReadableStreamDefaultController<Uint8Array>,
  ): Promise<void> {
    while (this.#queue.length === 0 && !this.#closing && !this.#error) {
      await new Promise<void>((resolve) => this.#wakePuller = resolve);
    }
    if (this.#error) {
      // Break the request body so the connection does not wait for more.
      controller.error(this.#error);
      return;
    }
    if (this.#queue.length === 0) {
      controller.close();
      return;
    }
    // Coalesce small chunks (record headers, short output) into one of at
    // most 64 KiB; a large payload goes on as it is, uncopied.
    let take = this.#queue[0]!.length;
    let n = 1;
    if (take < SMALL_CHUNK) {
      while (n < this.#queue.length && take < 65536) {
        const next = this.#queue[n]!.length;
        if (next >= SMALL_CHUNK) break;
        take += next;
        n++;
      }
    }
    const parts = this.#queue.splice(0, n);
    let chunk: Uint8Array;
    if (parts.length === 1) chunk = parts[0]!;
    else {
      chunk = new Uint8Array(take);
      let off = 0;
      for (const p of parts) {
        chunk.set(p, off);
        off += p.length;
      }
    }
    this.#queued -= take;
    controller.enqueue(chunk);
  }

  #wake(): void {
    const wake = this.#wakePuller;
    this.#wakePuller = undefined;
    wake?.();
  }

  async #readAcks(res: Response): Promise<void> {
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    while (true) {
      const { value, done } = await reader.read();
      if (done) {
        // NDJSON's last line may lack its newline: the stream's end ends it.
        const last = buf.trim();
        buf = "";
        if (last === "") break;
        this.#onLine(last);
        if (this.#error) return;
        if (!this.#finalAck) break;
        this.#handOverFinal(this.#finalAck);
        return;
      }
      buf += value;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line !== "") this.#onLine(line);
      }
      if (buf.length > 65536) {
        this.#fail("the recorder sent an acknowledgement line over 64 KiB");
      }
      if (this.#error) {
        await reader.cancel().catch(() => {});
        return;
      }
      if (this.#finalAck) {
        // `done` is the last line: stop reading and hand the ack over.
        await reader.cancel().catch(() => {});
        this.#handOverFinal(this.#finalAck);
        return;
      }
    }
    this.#fail("the recorder closed the acknowledgement stream early");
  }

  /** The ack stream ended with `done`: whoever waits for it gets it. */
  #handOverFinal(ack: Ack): void {
    this.#ackEnded = true;
    for (const w of this.#doneWaiters.splice(0)) w.resolve(ack);
  }

  #onLine(line: string): void {
    let ack: Ack;
    try {
      ack = JSON.parse(line);
    } catch {
      this.#fail(
        `the recorder sent an invalid acknowledgement line "${
          line.slice(0, 80)
        }"`,
      );
      return;
    }
    if (typeof ack !== "object" || ack === null) {
      this.#fail(
        `the recorder sent an invalid acknowledgement line "${
          line.slice(0, 80)
        }"`,
      );
      return;
    }
    if (typeof ack.error === "string") {
      this.#fail(`the recorder gave up: ${ack.error}`);
      return;
    }
    const now = this.#opts.now();
    this.#lastLineAt = now;
    this.#progress.line(this.url, now);
    if (typeof ack.id === "string" && this.#recordingId === undefined) {
      this.#recordingId = ack.id.slice(0, 200);
    }
    const t = ack.terminate;
    if (
      typeof t === "object" && t !== null && typeof t.by === "string" &&
      typeof t.reason === "string"
    ) {
      const said = { by: t.by.slice(0, 200), reason: t.reason.slice(0, 1000) };
      for (const fn of this.#terminateListeners) fn(said);
    }
    if (typeof ack.ack === "number" && ack.ack > this.#acked) {
      this.#acked = Math.min(ack.ack, this.#written);
      this.#lastProgressAt = now;
      this.#progress.advance(this.url, now);
      while (
        this.#spaceWaiters.length > 0 &&
        this.queuedBytes <= this.#opts.maxQueueBytes
      ) this.#spaceWaiters.shift()!.resolve();
      this.#settleBudget();
      this.#checkRoom();
      for (const fn of this.#ackListeners) fn(this.#acked);
      const reached = this.#ackWaiters.filter((w) => w.n <= this.#acked);
      this.#ackWaiters = this.#ackWaiters.filter((w) => w.n > this.#acked);
      for (const w of reached) w.resolve();
    }
    if (ack.done === true) {
      this.#progress.advance(this.url, now);
      this.#finalAck = ack;
      this.#settleBudget();
      this.#stopTimer();
      for (const fn of this.#doneListeners.splice(0)) fn(ack);
    }
  }

  /**
   * A `connectTimeoutMs` timer that waits longer, up to `connectTimeoutMs ×
   * stallFactor`, while the same recorder answers this proxy's other
   * uploads (it is busy, not down): under 1,000 sessions starting at once a
   * recorder on S3 took over 5 s to accept some headers while it served the
   * rest. A recorder that answers no one is given up on at
   * `connectTimeoutMs`, so the next one in the list is tried.
   * @param fire Called once with how long it waited.
   * @param set Told each timer handle (to clear it).
   */
  #busyTimer(
    fire: (waitedMs: number) => void,
    set: (t: ReturnType<typeof setTimeout>) => void,
  ): ReturnType<typeof setTimeout> {
    const ms = this.#opts.connectTimeoutMs;
    const cap = ms * this.#stallFactor;
    const start = this.#opts.now();
    let extended = false;
    const check = () => {
      const t = this.#opts.now();
      const busy = t - this.#progress.lastLine(this.url) <= ms;
      if (busy && t - start < cap) {
        extended = true;
        set(setTimeout(check, Math.min(ms, Math.max(1, cap - (t - start)))));
      } else fire(extended ? Math.round(t - start) : ms);
    };
    return setTimeout(check, ms);
  }

  #arm(): void {
    const period = Math.max(10, Math.min(1000, this.#opts.ackTimeoutMs / 4));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#check();
      if (!this.#error && !this.#finalAck) this.#arm();
    }, period);
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #check(): void {
    const { ackTimeoutMs, now } = this.#opts;
    const t = now();
    const cap = ackTimeoutMs * this.#stallFactor;
    // Silent for ackTimeoutMs: failed if the recorder is silent to every
    // upload too, or this one has been for `cap`.
    const silent = (since: number, recorder: number) =>
      t - since > ackTimeoutMs &&
      (t - recorder > ackTimeoutMs || t - since > cap);
    // The limit that was passed: ackTimeoutMs when the recorder stopped for
    // everyone, `cap` when only this upload did.
    const limit = (recorder: number) =>
      t - recorder <= ackTimeoutMs
        ? `${cap} ms while the recorder served other sessions`
        : `${ackTimeoutMs} ms`;
    const line = this.#progress.lastLine(this.url);
    const advance = this.#progress.lastAdvance(this.url);
    if (silent(this.#lastLineAt, line)) {
      this.#fail(`no acknowledgement for ${limit(line)}`);
    } else if (
      this.#written > this.#acked && silent(this.#lastProgressAt, advance)
    ) {
      this.#fail(
        `acknowledged bytes stalled at ${this.#acked} of ${this.#written} for ${
          limit(advance)
        }`,
      );
    } else if (
      this.#closing && !this.#finalAck && this.#written === this.#acked &&
      silent(Math.max(this.#lastProgressAt, this.#lastLineAt), line)
    ) {
      // Finalising: the recorder's keepalive lines are its progress.
      this.#fail(
        `no final acknowledgement ${
          limit(line)
        } after all ${this.#written} bytes were acknowledged`,
      );
    }
  }

  #fail(message: string): void {
    if (this.#error || this.#finalAck) {
      if (!this.#error && message.startsWith("cancelled")) this.#abort.abort();
      return;
    }
    const error = new RecordingFailedError(this.url, message);
    this.#error = error;
    this.#stopTimer();
    this.#abort.abort();
    this.#wake();
    for (const w of this.#spaceWaiters.splice(0)) w.reject(error);
    for (const w of this.#doneWaiters.splice(0)) w.reject(error);
    for (const w of this.#ackWaiters.splice(0)) w.reject(error);
    for (const w of this.#roomWaiters.splice(0)) w.resolve();
    this.#settleBudget();
    this.#unlistenBudget?.();
    this.#unlistenBudget = undefined;
    this.#resolveFailure(error);
  }
}

/**
 * Chunks below this are coalesced (copied) with their neighbours into one of
 * at most 64 KiB (a 13-byte record header alone per fetch chunk costs more
 * than copying a small payload); larger ones are sent as they are.
 */
const SMALL_CHUNK = 65536;

function describe(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}

/** A short reason for a failed connection attempt. */
function short(e: unknown): string {
  const text = [e, (e as { cause?: unknown })?.cause]
    .map((x) => (x instanceof Error ? x.message : String(x ?? "")))
    .join(" ");
  if (/connection refused/i.test(text)) return "connection refused";
  if (/connection reset/i.test(text)) return "connection reset";
  if (/certificate|tls|handshake/i.test(text)) {
    return `TLS error: ${describe(e)}`;
  }
  if (/dns|lookup|name resolution|not known/i.test(text)) {
    return "name not resolved";
  }
  return describe(e);
}
