/**
 * The recording tap: a {@linkcode RelayTap} that joins a {@linkcode ChannelTap}
 * (wire decoding), the {@linkcode RecordEncoder} (v2 records) and the recorder
 * upload, and owns the failure policy (`failure_policy.ts`).
 *
 * ```
 * upstream ─▶ gate ──────────────────────────────▶ client      (bytes held until released)
 *              └ ChannelTap → RecordEncoder → upload.push() ─▶ recorder
 *                                 release ◀── onAck(acked) ◀────┘
 * client ─▶ observer ─▶ upstream                               (resize → RESIZE record; stdin never)
 * ```
 *
 * Accepted before started: {@linkcode RecordingSession.start} writes the
 * `HEADER` record (every field the client controls) and resolves only once
 * the recorder acknowledged it, so a header the recorder refuses refuses the
 * session before anything reaches upstream.
 *
 * Fail closed means acknowledged: for an enforced session, upstream bytes
 * reach the client only once the recorder acknowledged the records covering
 * them (the ack counts body bytes the recorder took). Throughput comes from a
 * window of unacknowledged bytes (`windowBytes`): the gate's `transform`
 * returns as soon as the window has room (the back-pressure towards
 * upstream), and the held bytes are enqueued to the client as acks advance.
 * `flush` waits for the last acks. A slow recorder slows the session; only
 * one that stops making progress (`ackTimeoutMs`) or breaks ends it, with a
 * stderr message and a failure `Status` after the acknowledged prefix.
 *
 * Best effort (fail open) never waits for the recorder: bytes are released
 * as soon as their frames are complete; records that do not fit the window
 * are dropped (a warning, a marker, and the manifest's digests then tell).
 *
 * A partial frame is held until it is complete, in both modes.
 *
 * Runtime-neutral: `fetch`, the clock and the logger are injected.
 *
 * @module
 */

import type { Identity } from "../identity/identity.ts";
import type { ChannelMessage, ChannelTap } from "../k8s/channel_tap.ts";
import {
  CHANNEL_ERROR,
  CHANNEL_RESIZE,
  CHANNEL_STDERR,
  CHANNEL_STDIN,
  CHANNEL_STDOUT,
} from "../k8s/constants.ts";
import type { TerminalSize } from "../k8s/terminal_size.ts";
import { WsChannelTap } from "../k8s/ws_channel_tap.ts";
import { jsonLogger, type Logger } from "../log.ts";
import { MAX_RECORD_PAYLOAD } from "../protocol/records.ts";
import type { RelayTap } from "./relay_tap.ts";
import type { IncrementalDigest } from "./cast_encoder.ts";
import { abortMessage, abortStatus } from "./failure_policy.ts";
import type { FailoverUpload } from "./failover_upload.ts";
import { RecordEncoder } from "./record_encoder.ts";
import type { CastHeader, EndReason, UpstreamRefusal } from "./wire.ts";
import { concatBytes } from "../bytes.ts";
import type {
  RecordingFailureReason,
  RecordingMetrics,
} from "../metrics/proxy_metrics.ts";
import type { K8sStatus } from "../k8s/status.ts";
import {
  DEFAULT_WINDOW_BYTES,
  type RecordingLimits,
  startSessionUpload,
} from "./start_upload.ts";
import { HeldOutput } from "./held_output.ts";

export type { RecordingLimits } from "./start_upload.ts";

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
  /** Size written in the header (the client's sizes are RESIZE records). @default {80x24} */
  defaultSize?: TerminalSize;
  /** Makes the SHA-256 of stdout/stderr. @default {our TypeScript Sha256} */
  digest?: () => IncrementalDigest;
  /**
   * Makes the wire decoder for the negotiated protocol; throws when the
   * protocol cannot be recorded.
   * @default {(p) => new WsChannelTap(p)} (WebSocket v4/v5)
   */
  channelTap?: (
    protocol: string,
    limits: { maxMessageBytes: number },
  ) => ChannelTap;
  /**
   * Where acknowledged bytes, failures and acknowledgement latency are
   * counted (the proxy's `metrics.recording`). @default {none}
   */
  metrics?: RecordingMetrics;
}

const EMPTY = new Uint8Array(0);
/** Bytes of a resize message kept for its record. */
const MAX_RESIZE_BYTES = 4096;

/**
 * A tap that does nothing: the session is not recorded. What
 * {@linkcode RecordingSession.start} returns when a best-effort recording
 * cannot start.
 */
export class UnrecordedTap implements RelayTap {
  /**
   * Ignores the upgrade.
   * @param _protocol The negotiated subprotocol (unused).
   */
  upgraded(_protocol: string): void {}
  /**
   * The upstream → client transform: an identity `TransformStream`.
   * @returns A new pass-through stream.
   */
  upstreamGate(): TransformStream<Uint8Array, Uint8Array> {
    return new TransformStream();
  }
  /**
   * The client → upstream transform: an identity `TransformStream`.
   * @returns A new pass-through stream.
   */
  clientObserver(): TransformStream<Uint8Array, Uint8Array> {
    return new TransformStream();
  }
  /**
   * Ends nothing: there is no recording.
   * @param _reason Why the relay ended (unused).
   * @param _detail More about it (unused).
   * @param _upstream What the upstream answered instead of `101` (unused).
   * @returns A resolved promise.
   */
  end(
    _reason: EndReason,
    _detail?: string,
    _upstream?: UpstreamRefusal,
  ): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Records one exec/attach session. Create it with
 * {@linkcode RecordingSession.start} before the request goes upstream; hand
 * it to the relay as its `RelayTap`.
 */
export class RecordingSession implements RelayTap {
  #o: RecordingSessionOptions;
  #log: Logger;
  #now: () => number;
  #upload: FailoverUpload;
  #encoder: RecordEncoder;
  #enforce: boolean;
  #window: number;
  #maxMessage: number;
  #state:
    | "recording"
    | "passthrough"
    | "failed"
    | "terminated"
    | "ending"
    | "ended" = "recording";
  #tap: ChannelTap | undefined;
  /** Fail closed: a second decoder fed only released bytes (what the client saw). */
  #seen: ChannelTap | undefined;
  #protocol: string | undefined;
  #gate: TransformStreamDefaultController<Uint8Array> | undefined;
  #gateOpen = false;
  #flushing = false;
  /** Client-bound bytes held back, and when each may go. */
  #held = new HeldOutput();
  #resize: Uint8Array[] = [];
  #resizeBytes = 0;
  #status: Uint8Array[] = [];
  #statusBytes = 0;
  /** Whether upstream sent the session's final `Status` (channel 3). */
  #sawStatus = false;
  #endReason: EndReason | undefined;
  #droppedBytes = 0;
  #abortPending: string | undefined;
  #abortedWith: string | undefined;
  /** A moderator's message, when the abort is a termination. */
  #abortWith: { text: string; status: K8sStatus } | undefined;
  /** The acknowledgement latency probe: session offset written, and when. */
  #probing: { at: number; t: number } | undefined;
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
    const encoder = new RecordEncoder({
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
    const failover = await startSessionUpload({
      sessionId: options.sessionId,
      recorderUrls: options.recorderUrls,
      uploaderToken: options.uploaderToken,
      fetch: options.fetch,
      limits: l,
      enforce: options.enforce,
      encoder,
      log,
      now,
      what: "session",
      onUnavailable: () => options.metrics?.failures.unavailable.inc(),
    });
    if (!failover) return new UnrecordedTap();
    return new RecordingSession(options, failover, encoder, log);
  }

  private constructor(
    options: RecordingSessionOptions,
    upload: FailoverUpload,
    encoder: RecordEncoder,
    log: Logger,
  ) {
    this.#o = options;
    this.#encoder = encoder;
    this.#log = log;
    this.#now = options.now ?? Date.now;
    this.#upload = upload;
    this.#enforce = options.enforce;
    this.#window = options.limits?.windowBytes ?? DEFAULT_WINDOW_BYTES;
    this.#maxMessage = options.limits?.maxMessageBytes ?? 16 * 1024 * 1024;
    upload.failure.then((err) => this.#fail(err.message));
    upload.onAck(() => this.#pump());
    if (options.metrics) this.#countAcks(options.metrics);
    upload.onTerminate((t) => this.#terminate(t.by, t.reason));
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

  /**
   * Set once this tap ended the session itself: `recording failed: …`
   * (fail closed) or `session ended by <by>: <reason>` (a moderator).
   */
  get abortedWith(): string | undefined {
    return this.#abortedWith;
  }

  /** Upstream bytes released to the client so far. */
  get releasedBytes(): number {
    return this.#held.released;
  }

  /**
   * Takes the upstream's `101` answer: the encoder records the protocol and
   * the session makes its channel tap for it (two when fail closed: one for
   * what arrives, one for what the client was given). A protocol that cannot
   * be recorded fails the recording, which the failure policy handles. Only
   * the first call counts.
   * @param protocol The negotiated subprotocol, or "" when none.
   */
  upgraded(protocol: string): void {
    if (this.#protocol !== undefined) return;
    this.#protocol = protocol;
    this.#encoder.upgraded(protocol);
    try {
      this.#tap = this.#makeTap(protocol);
      if (this.#enforce) this.#seen = this.#makeTap(protocol);
    } catch (e) {
      this.#fail(
        `cannot record protocol "${protocol}": ${(e as Error).message}`,
        "protocol",
      );
    }
  }

  /**
   * The upstream → client transform: it records each chunk's channel
   * messages and releases the bytes to the client, fail closed only once the
   * recorder has acknowledged them (applying back-pressure meanwhile). When
   * the recording fails closed, or a moderator ends the session, it ends the
   * client's stream with a message and a failure `Status`. Call it once.
   * @returns The gate.
   */
  upstreamGate(): TransformStream<Uint8Array, Uint8Array> {
    return new TransformStream<Uint8Array, Uint8Array>({
      start: (controller) => {
        this.#gate = controller;
        this.#gateOpen = true;
        if (this.#abortPending !== undefined) {
          this.#sendAbort(this.#abortPending);
        }
      },
      transform: (chunk, controller) => this.#fromUpstream(chunk, controller),
      flush: async () => {
        this.#flushing = true;
        if (this.#enforce && this.#state === "recording") {
          await this.#upload.whenAcked(this.#upload.writtenBytes).catch(
            () => {}, // the failure policy has run (abort bytes enqueued)
          );
          this.#pump();
        }
        this.#gateOpen = false;
      },
    });
  }

  /**
   * The client → upstream transform: it passes every chunk on unchanged and
   * records resizes from a copy (stdin is never recorded); fail closed, it
   * waits while the bytes not yet acknowledged fill the upload window.
   * Call it once.
   * @returns The observer.
   */
  clientObserver(): TransformStream<Uint8Array, Uint8Array> {
    return new TransformStream<Uint8Array, Uint8Array>({
      transform: (chunk, controller) => {
        controller.enqueue(chunk);
        if (this.#fromClient(chunk) && this.#enforce) {
          return this.#upload.whenRoom(this.#window);
        }
      },
    });
  }

  /**
   * How the session ended, once `end` was called: `normal` when it closed
   * after the final `Status` (whichever side closed first), as its
   * recording's end record says.
   */
  get endReason(): EndReason | undefined {
    return this.#endReason;
  }

  /**
   * Ends the recording, unless it failed already: writes the end record
   * (with `reason`, `detail` and the upstream's refusal, if any) and waits
   * for the recorder's final acknowledgement. A failure to finish is logged
   * and counted, not thrown. Also sets
   * {@linkcode RecordingSession.endReason}.
   * @param reason Why the relay ended (`terminated` after a moderator ended
   * the session, whatever is passed).
   * @param detail More about it.
   * @param upstream What the upstream answered instead of `101`.
   * @returns When the upload is finished (or has failed).
   */
  async end(
    reason: EndReason,
    detail?: string,
    upstream?: UpstreamRefusal,
  ): Promise<void> {
    this.#endReason ??= this.#state === "terminated"
      ? "terminated"
      : this.#sawStatus &&
          (reason === "upstream-gone" || reason === "client-gone")
      ? "normal"
      : reason;
    const sessionId = this.#o.sessionId;
    if (this.#state === "terminated") {
      reason = "terminated";
      detail = this.#abortedWith;
    } else if (this.#state !== "recording") {
      this.#state = "ended";
      return;
    }
    this.#state = "ending";
    this.#noteDropped();
    this.#upload.push(
      this.#encoder.end(reason, this.#now(), detail, upstream),
    );
    try {
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
      this.#o.metrics?.failures.unfinished.inc();
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

  /** The gate's transform: record, then hold or release. */
  #fromUpstream(
    chunk: Uint8Array,
    controller: TransformStreamDefaultController<Uint8Array>,
  ): Promise<void> | void {
    if (this.#state === "passthrough") {
      this.#releaseAll();
      controller.enqueue(chunk);
      return;
    }
    if (this.#state !== "recording") return; // failed: nothing more goes out
    const tap = this.#tap;
    if (!tap) {
      this.#fail("upstream bytes arrived before the upgrade", "protocol");
      if (!this.#enforce) controller.enqueue(chunk);
      return;
    }
    this.#held.hold(chunk);
    let messages: ChannelMessage[];
    try {
      messages = tap.upstream(chunk);
    } catch (e) {
      // Fail open releases what is held, fail closed aborts.
      this.#fail(
        `protocol error from upstream: ${(e as Error).message}`,
        "protocol",
      );
      return;
    }
    this.#record(messages);
    if (!this.#enforce) {
      this.#releaseTo(tap.upstreamComplete);
      return;
    }
    this.#held.mark(tap.upstreamComplete, this.#upload.writtenBytes);
    this.#pump();
    return this.#upload.whenRoom(this.#window);
  }

  /** Reads a copy of client bytes; true when something was recorded. */
  #fromClient(chunk: Uint8Array): boolean {
    if (this.#state !== "recording" || !this.#tap) return false;
    let messages;
    try {
      // The decoder of what the client saw needs the client's side too
      // (SPDY: a reply belongs to a stream the client opened).
      this.#seen?.client(chunk);
      messages = this.#tap.client(chunk);
    } catch (e) {
      this.#fail(
        `protocol error from the client: ${(e as Error).message}`,
        "protocol",
      );
      return false;
    }
    let wrote = false;
    for (const m of messages) {
      if (m.channel === CHANNEL_STDIN) {
        // Stdin is never recorded: only its size, for the end record.
        this.#encoder.countStdin(m.data.length);
        continue;
      }
      if (m.channel !== CHANNEL_RESIZE) continue;
      if (m.first) {
        this.#resize = [];
        this.#resizeBytes = 0;
      }
      const room = MAX_RESIZE_BYTES -
        Math.min(this.#resizeBytes, MAX_RESIZE_BYTES);
      if (room > 0) this.#resize.push(m.data.subarray(0, room).slice());
      this.#resizeBytes += m.data.length;
      if (!m.last) continue;
      const at = this.#now();
      const kept = concatBytes(this.#resize);
      const chunks = this.#encoder.resize(kept, at);
      if (this.#resizeBytes > kept.length) {
        chunks.push(...this.#encoder.marker(
          `resize message of ${this.#resizeBytes} bytes: the first ${kept.length} are recorded`,
          at,
        ));
      }
      this.#resize = [];
      this.#resizeBytes = 0;
      this.#write(chunks);
      wrote = true;
    }
    return wrote;
  }

  /** Encodes upstream messages into the upload. */
  #record(messages: ChannelMessage[]): void {
    if (messages.length === 0) return;
    const at = this.#now();
    const out: Uint8Array[] = [];
    for (const m of messages) {
      if (m.channel === CHANNEL_STDOUT || m.channel === CHANNEL_STDERR) {
        out.push(...this.#encoder.output(m.channel, m.data, at));
      } else if (m.channel === CHANNEL_ERROR) {
        if (m.first) {
          this.#status = [];
          this.#statusBytes = 0;
        }
        const room = MAX_RECORD_PAYLOAD -
          Math.min(this.#statusBytes, MAX_RECORD_PAYLOAD);
        if (room > 0) this.#status.push(m.data.subarray(0, room));
        this.#statusBytes += m.data.length;
        if (m.last) {
          this.#sawStatus = true;
          const kept = concatBytes(this.#status);
          out.push(...this.#encoder.status(kept, at));
          if (this.#statusBytes > kept.length) {
            out.push(...this.#encoder.marker(
              `status message of ${this.#statusBytes} bytes: the first ${kept.length} are recorded`,
              at,
            ));
          }
          this.#status = [];
          this.#statusBytes = 0;
        }
      }
    }
    this.#write(out);
  }

  /**
   * Hands records to the upload. Fail closed: always (the window bounds the
   * caller). Fail open: dropped while the window is full.
   */
  #write(chunks: Uint8Array[]): void {
    if (chunks.length === 0) return;
    if (!this.#enforce) {
      if (this.#upload.full) {
        if (this.#droppedBytes === 0) {
          this.#log.warn(
            "recording is behind; records are dropped until it catches up",
            { sessionId: this.#o.sessionId, recorder: this.#upload.url },
          );
        }
        for (const c of chunks) this.#droppedBytes += c.length;
        return;
      }
      this.#noteDropped();
    }
    this.#upload.push(chunks);
    if (this.#o.metrics && this.#probing === undefined) {
      this.#probing = { at: this.#upload.writtenBytes, t: this.#now() };
    }
  }

  /** Fail open: a marker saying how much was dropped, once there is room. */
  #noteDropped(): void {
    if (this.#droppedBytes === 0) return;
    const n = this.#droppedBytes;
    this.#droppedBytes = 0;
    this.#upload.push(this.#encoder.marker(
      `${n} bytes of records were not recorded: the recorder was behind`,
      this.#now(),
    ));
  }

  /** Fail closed: releases every point the recorder has acknowledged. */
  #pump(): void {
    if (!this.#gateOpen || this.#state === "failed") return;
    if (this.#held.releaseAcked(this.#upload.ackedBytes, this.#toClient)) {
      this.#seen?.released();
    }
  }

  /** Enqueues held bytes up to upstream offset `upTo`, chunk by chunk. */
  #releaseTo(upTo: number): void {
    if (upTo <= this.#held.released) return;
    if (this.#held.releaseTo(upTo, this.#toClient)) this.#seen?.released();
  }

  /** A released piece to the client, seen by the client-side decoder. */
  #toClient = (piece: Uint8Array): boolean => {
    this.#seeReleased(piece);
    return this.#enqueue(piece);
  };

  /** A piece to the client; false once the client is gone. */
  #enqueue = (piece: Uint8Array): boolean => {
    try {
      this.#gate!.enqueue(piece);
      return true;
    } catch {
      this.#gateOpen = false; // the client is gone
      return false;
    }
  };

  /** Feeds released bytes to the decoder of what the client saw. */
  #seeReleased(piece: Uint8Array): void {
    try {
      this.#seen?.upstream(piece);
    } catch {
      // The same bytes decoded fine in the recording decoder; should this
      // one disagree, the abort falls back to frames valid at the start.
      this.#seen = undefined;
    }
  }

  /** Fail open after a failure: everything held goes out. */
  #releaseAll(): void {
    if (!this.#gateOpen) return;
    this.#held.releaseAll(this.#enqueue);
  }

  /**
   * Counts acknowledged bytes, and samples the acknowledgement latency: one
   * probe at a time (the offset written when it was set and the time), so
   * the cost is one comparison per acknowledgement and per write.
   */
  #countAcks(m: RecordingMetrics): void {
    const up = this.#upload;
    let counted = up.ackedBytes;
    up.onAck(() => {
      const acked = up.ackedBytes;
      if (acked > counted) {
        m.recordedBytes.inc(acked - counted);
        counted = acked;
      }
      const p = this.#probing;
      if (p !== undefined && acked >= p.at) {
        m.ackLatency.observe((this.#now() - p.t) / 1000);
        this.#probing = undefined;
      }
    });
  }

  /** The failure policy for a recording that broke midway. */
  #fail(detail: string, kind: RecordingFailureReason = "recorder"): void {
    if (this.#state !== "recording") return;
    this.#o.metrics?.failures[kind].inc();
    const sessionId = this.#o.sessionId;
    const recorder = this.#upload.url;
    this.#upload.cancel(detail);
    this.#broken.resolve(detail);
    if (!this.#enforce) {
      this.#state = "passthrough";
      this.#log.warn("recording failed; the session continues unrecorded", {
        sessionId,
        recorder,
        error: detail,
      });
      this.#releaseAll();
      return;
    }
    this.#state = "failed";
    this.#held.clear();
    this.#abortedWith = `recording failed: ${detail}`;
    this.#log.error("recording failed; ending the session", {
      sessionId,
      recorder,
      error: detail,
    });
    if (this.#gate) this.#sendAbort(detail);
    else this.#abortPending = detail; // sent once the gate exists
  }

  /**
   * A moderator ended the session (through the recorder): fail open or
   * closed alike, the client gets what was released, then the message and a
   * failure `Status`; nothing more of upstream goes out, and the upload is
   * finished by {@linkcode RecordingSession.end} with reason `terminated`.
   */
  #terminate(by: string, reason: string): void {
    if (this.#state !== "recording" && this.#state !== "passthrough") return;
    const detail = `ended by ${by}: ${reason}`;
    this.#state = "terminated";
    this.#held.clear();
    this.#abortedWith = `session ${detail}`;
    this.#log.info("session ended by a moderator", {
      sessionId: this.#o.sessionId,
      moderator: by,
      reason,
    });
    const message = `execgate: session ${detail}`;
    const terminate = {
      text: `\r\n${message}\r\n`,
      status: {
        metadata: {},
        status: "Failure",
        message,
        reason: "Forbidden",
        code: 403,
      } as K8sStatus,
    };
    if (this.#gate) this.#sendAbort(detail, terminate);
    else {
      this.#abortPending = detail;
      this.#abortWith = terminate;
    }
  }

  /** Fail closed: the final bytes after what the client saw, then the end. */
  #sendAbort(
    detail: string,
    custom: { text: string; status: K8sStatus } | undefined = this.#abortWith,
  ): void {
    this.#abortPending = undefined;
    const gate = this.#gate!;
    if (!this.#gateOpen) return;
    const decoder = this.#seen ??
      (this.#protocol !== undefined ? this.#tryTap(this.#protocol) : undefined);
    const bytes = decoder?.abortBytes(
      custom?.text ?? abortMessage(detail),
      custom?.status ?? abortStatus(detail),
    ) ?? EMPTY;
    try {
      if (bytes.length > 0) gate.enqueue(bytes);
      // In flush the readable closes once flush returns.
      if (!this.#flushing) gate.terminate();
    } catch { /* the client is gone */ }
    this.#gateOpen = false;
  }

  #tryTap(protocol: string): ChannelTap | undefined {
    try {
      return this.#makeTap(protocol);
    } catch {
      return undefined;
    }
  }
}

/** Default window of unacknowledged upload bytes. */
