/**
 * The recording tap: a {@linkcode RelayTap} that joins a {@linkcode ChannelTap}
 * (wire decoding), the {@linkcode CastEncoder} (asciicast) and the recorder
 * upload, and owns the failure policy (`failure_policy.ts`).
 *
 * ```
 * client ──bytes──▶ relay ──▶ upstream          upstream ──bytes──▶ tap.fromUpstream
 *             └─copy─▶ fromClient                   ChannelTap → CastEncoder → upload.write()
 *                       (resize → "r"/header)        └─ resolves with whole frames, once written
 * ```
 *
 * Accepted before started: {@linkcode RecordingSession.start} writes the
 * cast header (every field the client controls) and resolves only once the
 * recorder acknowledged it, so a header the recorder refuses refuses the
 * session before anything reaches upstream. Everything recorded later is
 * bounded to what the recorder accepts: terminal sizes are `"r"` events as
 * sent, a resize message that is not a size is a `"m"` marker, output is cut
 * into bounded events.
 *
 * Upstream bytes reach the client only after the messages of their complete
 * frames were handed to the upload (whose unacknowledged bytes are bounded,
 * so a slow recorder slows the session instead of growing memory). A partial
 * frame is held until it is complete.
 *
 * Runtime-neutral: `fetch`, the clock and the logger are injected.
 *
 * @module
 */

import type { Identity } from "../identity/identity.ts";
import type { ChannelTap } from "../k8s/channel_tap.ts";
import {
  CHANNEL_ERROR,
  CHANNEL_RESIZE,
  CHANNEL_STDERR,
  CHANNEL_STDOUT,
} from "../k8s/constants.ts";
import type { TerminalSize } from "../k8s/terminal_size.ts";
import { WsChannelTap } from "../k8s/ws_channel_tap.ts";
import { jsonLogger, type Logger } from "../log.ts";
import type { RelayTap } from "../proxy/relay_tap.ts";
import { CastEncoder, type CastEncoderOptions } from "./cast_encoder.ts";
import {
  abortMessage,
  abortStatus,
  RecordingRequiredError,
} from "./failure_policy.ts";
import {
  openRecorderUpload,
  RecorderUnavailableError,
  type RecorderUpload,
} from "./recorder_client.ts";
import type { CastHeader, EndReason, UpstreamRefusal } from "./wire.ts";
import { concatBytes } from "../bytes.ts";

/** Limits of a recording session; every field has a default. */
export interface RecordingLimits {
  /** How long one recorder may take to accept and acknowledge the header. @default {5000} */
  connectTimeoutMs?: number;
  /** Longest ack silence or ack stall before the recording counts as failed. @default {10000} */
  ackTimeoutMs?: number;
  /** How long `end` waits for the recorder's final ack. @default {10000} */
  finishTimeoutMs?: number;
  /** Unacknowledged upload bytes before upstream waits. @default {1048576} */
  maxQueueBytes?: number;
  /** Largest channel message. @default {16777216} */
  maxMessageBytes?: number;
}

/** Options of {@linkcode RecordingSession.start}. */
export interface RecordingSessionOptions {
  /** Session id (`[A-Za-z0-9_-]{1,64}`), in logs, the header and the upload. */
  sessionId: string;
  /** The caller. */
  identity: Identity;
  /** Pod, namespace, container and exec/attach. */
  kubernetes: CastHeader["kubernetes"];
  /** The command's argv (empty for attach). */
  argv: string[];
  /** Whether the session has a TTY (`tty=true` in the query). */
  tty: boolean;
  /** Hostname of this proxy. */
  proxyHostname: string;
  /** Recorder base URLs, resolved from the decision's recorder tags, in order. */
  recorderUrls: readonly string[];
  /** Fail closed (the decision's `enforceRecorder`). */
  enforce: boolean;
  /** Uploader token (`Authorization: Bearer`). @default {undefined} */
  uploaderToken?: string;
  /** `fetch` for the recorders (e.g. with a custom CA). @default {globalThis.fetch} */
  fetch?: typeof fetch;
  /** Clock, Unix milliseconds. @default {Date.now} */
  now?: () => number;
  /** Logger. @default {jsonLogger("recording")} */
  logger?: Logger;
  /** Limits. */
  limits?: RecordingLimits;
  /** Size written in the header (the client's sizes are `"r"` events). @default {80x24} */
  defaultSize?: TerminalSize;
  /** Makes the SHA-256 of stdout/stderr. @default {our TypeScript Sha256} */
  digest?: CastEncoderOptions["digest"];
  /**
   * Makes the wire decoder for the negotiated protocol; throws when the
   * protocol cannot be recorded.
   * @default {(p) => new WsChannelTap(p)} (WebSocket v4/v5)
   */
  channelTap?: (
    protocol: string,
    limits: { maxMessageBytes: number },
  ) => ChannelTap;
}

const EMPTY = new Uint8Array(0);
/** Bytes of a resize message kept for parsing or for its marker. */
const MAX_RESIZE_BYTES = 4096;
/** Resize events held while the upload's window is full. */
const MAX_PENDING_RESIZES = 256;

/** What one resize message records: a size, or a marker saying what came. */
export type ResizeRecord =
  | { size: TerminalSize; marker?: undefined }
  | { marker: string; size?: undefined };

/**
 * Reads a resize message the way the kubelet's Go JSON decoder would (field
 * names match case-insensitively, the last one wins), accepting any
 * non-negative integer size, since it is recorded as sent.
 * @param data The message payload (at most 4096 bytes of it).
 * @param totalBytes The whole message's size.
 * @returns The size, or a marker text naming what came instead.
 * @example
 * ```ts
 * import { readResize } from "./recording_session.ts";
 * const r = readResize(new TextEncoder().encode('{"Width":0,"Height":0}'), 22);
 * if (r.size?.width !== 0) throw new Error();
 * ```
 */
export function readResize(
  data: Uint8Array,
  totalBytes: number,
): ResizeRecord {
  const text = new TextDecoder().decode(data);
  const bad = (why: string): ResizeRecord => ({
    marker: `resize message is not a terminal size (${why}): ${
      JSON.stringify(text)
    }`,
  });
  if (totalBytes > data.length) {
    return bad(`${totalBytes} bytes, the first ${data.length} shown`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return bad("not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return bad("not a JSON object");
  }
  let width: unknown;
  let height: unknown;
  for (const [k, v] of Object.entries(value)) {
    const key = k.toLowerCase();
    if (key === "width") width = v;
    else if (key === "height") height = v;
  }
  const ok = (n: unknown): n is number =>
    typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
  if (!ok(width) || !ok(height)) {
    return bad("Width and Height are not both non-negative integers");
  }
  return { size: { width, height } };
}

/**
 * A tap that does nothing: the session is not recorded. What
 * {@linkcode RecordingSession.start} returns when a best-effort recording
 * cannot start.
 */
export class UnrecordedTap implements RelayTap {
  /** @inheritdoc */
  upgraded(_protocol: string): void {}
  /** @inheritdoc */
  fromClient(_chunk: Uint8Array): void {}
  /** @inheritdoc */
  fromUpstream(chunk: Uint8Array): Uint8Array {
    return chunk;
  }
  /** @inheritdoc */
  end(
    _reason: EndReason,
    _detail?: string,
    _upstream?: UpstreamRefusal,
  ): Promise<void> {
    return Promise.resolve();
  }
  /** @inheritdoc */
  abort?: (toClient: Uint8Array, detail: string) => void;
}

/**
 * Records one exec/attach session. Create it with
 * {@linkcode RecordingSession.start} before the request goes upstream; hand
 * it to the relay as its `RelayTap`.
 */
export class RecordingSession implements RelayTap {
  /** Set by the relay: ends the session (fail closed). */
  abort?: (toClient: Uint8Array, detail: string) => void;

  #o: RecordingSessionOptions;
  #log: Logger;
  #now: () => number;
  #upload: RecorderUpload;
  #maxMessage: number;
  #state: "recording" | "passthrough" | "failed" | "ending" | "ended" =
    "recording";
  #tap: ChannelTap | undefined;
  #encoder: CastEncoder;
  #held: Uint8Array[] = [];
  #heldBytes = 0;
  #released = 0;
  #resize: Uint8Array[] = [];
  #resizeBytes = 0;
  #status: Uint8Array[] = [];
  #statusBytes = 0;
  #pendingResize: { record: ResizeRecord; at: number }[] = [];
  #droppedResizes = 0;
  #abortPending: string | undefined;
  #broken = Promise.withResolvers<string>();

  /**
   * Opens the recording. Call it before sending the exec upstream.
   * @param options The session, recorders, policy and seams.
   * @returns The recording tap; for a best-effort session whose recording
   * cannot start, an {@linkcode UnrecordedTap} (a warning is logged).
   * @throws {RecordingRequiredError} `enforce` is set and no recorder accepted
   * the upload: answer `403` with its message; do not start the command.
   * @example
   * ```ts ignore
   * const tap = await RecordingSession.start({
   *   sessionId, identity, argv, tty, enforce: decision.enforceRecorder,
   *   kubernetes: { podName, namespace, container, sessionType: "exec" },
   *   proxyHostname: "execgate-0", recorderUrls, uploaderToken,
   * });
   * ```
   */
  static async start(
    options: RecordingSessionOptions,
  ): Promise<RecordingSession | UnrecordedTap> {
    const log = options.logger ?? jsonLogger("recording");
    const l = options.limits ?? {};
    const now = options.now ?? Date.now;
    const encoder = new CastEncoder({
      sessionId: options.sessionId,
      argv: options.argv,
      tty: options.tty,
      identity: options.identity,
      kubernetes: options.kubernetes,
      proxy: options.proxyHostname,
      startMs: now(),
      defaultSize: options.defaultSize,
      digest: options.digest,
    });
    let upload: RecorderUpload;
    try {
      upload = await openRecorderUpload({
        urls: options.recorderUrls,
        sessionId: options.sessionId,
        token: options.uploaderToken,
        fetch: options.fetch,
        connectTimeoutMs: l.connectTimeoutMs,
        ackTimeoutMs: l.ackTimeoutMs,
        finishTimeoutMs: l.finishTimeoutMs ?? 10_000,
        maxQueueBytes: l.maxQueueBytes,
        header: encoder.begin(),
      });
    } catch (e) {
      const tried = e instanceof RecorderUnavailableError ? e.tried : [];
      if (options.enforce) {
        const err = e instanceof RecorderUnavailableError
          ? new RecordingRequiredError(tried)
          : new RecordingRequiredError([{
            url: "(none)",
            reason: (e as Error).message,
          }]);
        log.warn("session refused: it must be recorded", {
          sessionId: options.sessionId,
          reason: err.message,
        });
        throw err;
      }
      log.warn("session continues unrecorded: no recorder accepted it", {
        sessionId: options.sessionId,
        reason: (e as Error).message,
      });
      return new UnrecordedTap();
    }
    log.info("recording started", {
      sessionId: options.sessionId,
      recorder: upload.url,
    });
    return new RecordingSession(options, upload, encoder, log);
  }

  private constructor(
    options: RecordingSessionOptions,
    upload: RecorderUpload,
    encoder: CastEncoder,
    log: Logger,
  ) {
    this.#o = options;
    this.#encoder = encoder;
    this.#log = log;
    this.#now = options.now ?? Date.now;
    this.#upload = upload;
    this.#maxMessage = options.limits?.maxMessageBytes ?? 16 * 1024 * 1024;
    upload.failure.then((err) => this.#fail(err.message));
  }

  /** The recorder receiving the session. */
  get recorderUrl(): string {
    return this.#upload.url;
  }

  /**
   * Resolves with the reason when the recording breaks midway (whatever the
   * policy did about it); stays pending for a recording that ends well.
   */
  get broken(): Promise<string> {
    return this.#broken.promise;
  }

  /** Whether the session is still being recorded. */
  get recording(): boolean {
    return this.#state === "recording";
  }

  /** @inheritdoc */
  upgraded(protocol: string): void {
    if (this.#abortPending !== undefined) {
      // The recording broke before the relay could be told: end it now.
      try {
        this.#tap = this.#makeTap(protocol);
      } catch { /* no frames to send then */ }
      this.#sendAbort(this.#abortPending);
      return;
    }
    if (this.#state !== "recording" || this.#tap) return;
    this.#encoder.upgraded(protocol);
    try {
      this.#tap = this.#makeTap(protocol);
    } catch (e) {
      this.#fail(
        `cannot record protocol "${protocol}": ${(e as Error).message}`,
      );
    }
  }

  /** @inheritdoc */
  fromClient(chunk: Uint8Array): void {
    if (this.#state !== "recording" || !this.#tap) return;
    let messages;
    try {
      messages = this.#tap.client(chunk);
    } catch (e) {
      this.#fail(`protocol error from the client: ${(e as Error).message}`);
      return;
    }
    for (const m of messages) {
      if (m.channel !== CHANNEL_RESIZE) continue; // stdin is never recorded
      if (m.first) {
        this.#resize = [];
        this.#resizeBytes = 0;
      }
      const room = MAX_RESIZE_BYTES -
        Math.min(this.#resizeBytes, MAX_RESIZE_BYTES);
      if (room > 0) this.#resize.push(m.data.subarray(0, room));
      this.#resizeBytes += m.data.length;
      if (!m.last) continue;
      const record = readResize(concatBytes(this.#resize), this.#resizeBytes);
      this.#resize = [];
      this.#resizeBytes = 0;
      const at = this.#now();
      if (this.#upload.full) {
        // No back-pressure on this side: hold a bounded number of events.
        if (this.#pendingResize.length < MAX_PENDING_RESIZES) {
          this.#pendingResize.push({ record, at });
        } else this.#droppedResizes++;
      } else {
        this.#flushResize();
        this.#write(this.#encodeResize(record, at));
      }
    }
  }

  /** @inheritdoc */
  async fromUpstream(chunk: Uint8Array): Promise<Uint8Array> {
    if (this.#state === "passthrough") return this.#releaseAll(chunk);
    if (this.#state !== "recording") return EMPTY;
    if (!this.#tap) {
      // Bytes before upgraded(): nothing to decode them with.
      this.#fail("upstream bytes arrived before the upgrade");
      return this.#afterFailure(chunk);
    }
    this.#held.push(chunk);
    this.#heldBytes += chunk.length;
    let body: Uint8Array[];
    try {
      body = this.#record(this.#tap.upstream(chunk), this.#encoder);
    } catch (e) {
      this.#fail(`protocol error from upstream: ${(e as Error).message}`);
      return this.#afterFailure(EMPTY);
    }
    try {
      for (const b of body) await this.#upload.write(b);
    } catch (e) {
      this.#fail((e as Error).message);
    }
    if (!this.#live()) return this.#afterFailure(EMPTY);
    return this.#release(this.#tap.upstreamComplete - this.#released);
  }

  /** @inheritdoc */
  async end(
    reason: EndReason,
    detail?: string,
    upstream?: UpstreamRefusal,
  ): Promise<void> {
    const sessionId = this.#o.sessionId;
    if (this.#state !== "recording") {
      this.#state = "ended";
      return;
    }
    this.#flushResize();
    this.#state = "ending";
    try {
      await this.#upload.write(
        this.#encoder.end(reason, this.#now(), detail, upstream),
      );
      const ack = await this.#upload.finish();
      this.#log.info("recording finished", {
        sessionId,
        recorder: this.#upload.url,
        id: ack.id,
        complete: ack.complete,
        bytes: ack.ack,
        reason,
      });
    } catch (e) {
      this.#log.error("recording did not finish cleanly", {
        sessionId,
        recorder: this.#upload.url,
        error: (e as Error).message,
      });
    } finally {
      this.#state = "ended";
    }
  }

  #makeTap(protocol: string): ChannelTap {
    const make = this.#o.channelTap ??
      ((p, limits) => new WsChannelTap(p, limits));
    return make(protocol, { maxMessageBytes: this.#maxMessage });
  }

  /** Encodes upstream messages; returns the body bytes to upload. */
  #record(
    messages: ReturnType<ChannelTap["upstream"]>,
    encoder: CastEncoder,
  ): Uint8Array[] {
    const out: Uint8Array[] = [];
    const pending = this.#takePendingResize(encoder);
    if (pending.length > 0) out.push(pending);
    const at = this.#now();
    for (const m of messages) {
      if (m.channel === CHANNEL_STDOUT || m.channel === CHANNEL_STDERR) {
        const bytes = encoder.output(m.channel, m.data, at);
        if (bytes.length > 0) out.push(bytes);
      } else if (m.channel === CHANNEL_ERROR) {
        if (m.first) {
          this.#status = [];
          this.#statusBytes = 0;
        }
        this.#status.push(m.data);
        this.#statusBytes += m.data.length;
        if (m.last) {
          encoder.status(concatBytes(this.#status));
          this.#status = [];
        }
      }
    }
    return out;
  }

  #encodeResize(record: ResizeRecord, at: number): Uint8Array {
    return record.size
      ? this.#encoder.resize(record.size, at)
      : this.#encoder.marker(record.marker, at);
  }

  #takePendingResize(encoder: CastEncoder): Uint8Array {
    if (this.#pendingResize.length === 0 && this.#droppedResizes === 0) {
      return EMPTY;
    }
    const parts = this.#pendingResize.map((p) =>
      p.record.size
        ? encoder.resize(p.record.size, p.at)
        : encoder.marker(p.record.marker, p.at)
    );
    this.#pendingResize = [];
    if (this.#droppedResizes > 0) {
      parts.push(encoder.marker(
        `${this.#droppedResizes} resize messages were not recorded: the recorder was behind`,
        this.#now(),
      ));
      this.#droppedResizes = 0;
    }
    return concatBytes(parts);
  }

  #flushResize(): void {
    this.#write(this.#takePendingResize(this.#encoder));
  }

  /** Writes without waiting (the client side has no back-pressure). */
  #write(bytes: Uint8Array): void {
    if (bytes.length === 0 || this.#state !== "recording") return;
    this.#upload.write(bytes).catch(() => {}); // failure arrives via upload.failure
  }

  /** Releases the first `n` held bytes. */
  #release(n: number): Uint8Array {
    if (n <= 0) return EMPTY;
    this.#released += n;
    this.#heldBytes -= n;
    this.#tap?.released();
    const first = this.#held[0]!;
    if (first.length === n) {
      this.#held.shift();
      return first;
    }
    if (first.length > n) {
      this.#held[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const c = this.#held[0]!;
      const take = Math.min(c.length, n - off);
      out.set(c.subarray(0, take), off);
      off += take;
      if (take === c.length) this.#held.shift();
      else this.#held[0] = c.subarray(take);
    }
    return out;
  }

  /** Still recording (the state may change while awaiting). */
  #live(): boolean {
    return this.#state === "recording" || this.#state === "ending";
  }

  /** After a failure: fail open releases everything, fail closed nothing. */
  #afterFailure(chunk: Uint8Array): Uint8Array {
    return this.#state === "passthrough" ? this.#releaseAll(chunk) : EMPTY;
  }

  /** Fail open: release everything held, plus `chunk`. */
  #releaseAll(chunk: Uint8Array): Uint8Array {
    if (this.#heldBytes === 0) return chunk;
    const out = concatBytes([...this.#held, chunk]);
    this.#held = [];
    this.#heldBytes = 0;
    return out;
  }

  /** The failure policy for a recording that broke midway. */
  #fail(detail: string): void {
    if (this.#state !== "recording") return;
    const sessionId = this.#o.sessionId;
    const recorder = this.#upload.url;
    this.#upload.cancel(detail);
    this.#broken.resolve(detail);
    if (!this.#o.enforce) {
      this.#state = "passthrough";
      this.#log.warn("recording failed; the session continues unrecorded", {
        sessionId,
        recorder,
        error: detail,
      });
      return;
    }
    this.#state = "failed";
    this.#held = [];
    this.#heldBytes = 0;
    this.#log.error("recording failed; ending the session", {
      sessionId,
      recorder,
      error: detail,
    });
    if (this.abort) this.#sendAbort(detail);
    else this.#abortPending = detail; // sent at upgraded()
  }

  #sendAbort(detail: string): void {
    this.#abortPending = undefined;
    const toClient = this.#tap?.abortBytes(
      abortMessage(detail),
      abortStatus(detail),
    ) ?? EMPTY;
    this.abort?.(toClient, `recording failed: ${detail}`);
  }
}
