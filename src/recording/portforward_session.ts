/**
 * The recording tap of a port-forward: a {@linkcode RelayTap} that joins the
 * {@linkcode PortForwardObserver} (wire decoding, both directions), the
 * {@linkcode RecordEncoder} (v2 records) and the recorder upload, and owns
 * the failure policy, the way `recording_session.ts` does for exec.
 *
 * ```
 * pod ─▶ gate ──────────────────────────────────────▶ client   (bytes held until released)
 *         └ observer → PORTFORWARD events [+ PORTFORWARD_DATA] → upload ─▶ recorder
 *                              release ◀── ack ◀──────────────────┘
 * client ─▶ observer ─▶ pod   (stream opens, FINs, byte counts; content only with recordPortForward;
 *                             fail closed, a chunk that wrote a record waits for its ack)
 * ```
 *
 * - Accepted before started: {@linkcode PortForwardSession.start} resolves
 *   once the recorder acknowledged the `HEADER` (session type
 *   `portforward`, pod, the query's ports), so no stream reaches the pod
 *   before that.
 * - Fail closed: pod → client bytes are released only once the recorder
 *   acknowledged every record written up to them, the client's stream
 *   opens included (they come first on the wire); a window of
 *   unacknowledged bytes gives throughput. A recorder lost midway ends the
 *   connection: every open error stream gets the reason (kubectl prints
 *   "an error occurred forwarding …"), then the connection closes.
 * - Fail open: bytes pass as soon as their frames are complete; a lost
 *   recorder leaves the forward running unrecorded (logged).
 * - Content (`recordContent`): each data stream's bytes both ways as
 *   `PORTFORWARD_DATA` records, released fail closed only once
 *   acknowledged, like the events: the pod's to the client, and the
 *   client's to the pod (a chunk of the client's goes on once every record
 *   written up to it is acknowledged). Without it only counts are recorded.
 * - The `END` record carries the duration and every stream's byte totals
 *   (`PortForwardSummary`); streams still open are closed `atEnd` first.
 *
 * Runtime-neutral: `fetch`, the clock and the logger are injected.
 *
 * @module
 */

import type { Identity } from "../identity/identity.ts";
import {
  type PortForwardEvent,
  PortForwardObserver,
  type PortForwardWire,
} from "../k8s/portforward_observer.ts";
import { jsonLogger, type Logger } from "../log.ts";
import { MAX_RECORD_PAYLOAD, RecordType } from "../protocol/records.ts";
import type { RelayTap } from "./relay_tap.ts";
import type { FailoverUpload } from "./failover_upload.ts";
import { RecordEncoder } from "./record_encoder.ts";
import { type RecordingLimits, UnrecordedTap } from "./recording_session.ts";
import type { IncrementalDigest } from "./cast_encoder.ts";
import {
  type EndReason,
  MAX_SUMMARY_STREAMS,
  type PortForwardEventRecord,
  type PortForwardStreamSummary,
  type PortForwardSummary,
  type UpstreamRefusal,
} from "./wire.ts";
import { DEFAULT_WINDOW_BYTES, startSessionUpload } from "./start_upload.ts";
import { HeldOutput } from "./held_output.ts";

/**
 * Most bytes from the pod held waiting for a frame boundary: two SPDY
 * frames of the largest size (24-bit lengths, 16 MiB each). Past it the
 * recording fails (fail closed: the connection ends; fail open: the forward
 * goes on unrecorded).
 */
export const MAX_UNSYNCED_BYTES = 32 * 1024 * 1024;

/** Options of {@linkcode PortForwardSession.start}. */
export interface PortForwardSessionOptions {
  /** Session id (`[A-Za-z0-9_-]{1,64}`). */
  sessionId: string;
  /** The caller. */
  identity: Identity;
  /** Namespace of the pod. */
  namespace: string;
  /** The pod. */
  pod: string;
  /** The query's `ports` values, as sent. */
  queryPorts: string[];
  /** How the client asked: `Upgrade: SPDY/3.1` or WebSocket. */
  transport: "spdy" | "websocket";
  /** Hostname of this proxy. */
  proxyHostname: string;
  /** Recorder base URLs, in order. */
  recorderUrls: readonly string[];
  /** Fail closed (the decision's `enforceRecorder`). */
  enforce: boolean;
  /** Record the streams' content (the decision's `recordPortForward`). */
  recordContent: boolean;
  /**
   * Most bytes from the pod held waiting for a frame boundary before the
   * recording fails. @default {MAX_UNSYNCED_BYTES}
   */
  maxUnsyncedBytes?: number;
  /** Uploader token. @default {undefined} */
  uploaderToken?: string;
  /** `fetch` for the recorders. @default {globalThis.fetch} */
  fetch?: typeof fetch;
  /** Clock, Unix milliseconds. @default {Date.now} */
  now?: () => number;
  /** Logger. @default {jsonLogger("recording")} */
  logger?: Logger;
  /** Limits (the exec session's). */
  limits?: RecordingLimits;
  /** SHA-256 for the manifest's (empty) channels. @default {TypeScript Sha256} */
  digest?: () => IncrementalDigest;
  /**
   * Fail closed, recorder lost: how long the client may take to close the
   * connection after the error was sent on its streams. @default {2000}
   */
  abortGraceMs?: number;
}

/** Default window of unacknowledged upload bytes. */
/** Ports listed in a summary. */
const MAX_SUMMARY_PORTS = 64;
/** Bytes of the `PORTFORWARD_DATA` prefix (from, stream). */
const DATA_PREFIX_BYTES = 5;

const enc = new TextEncoder();

/**
 * Records one port-forward. Create it with
 * {@linkcode PortForwardSession.start} before the request goes upstream;
 * hand it to the relay as its `RelayTap`.
 */
export class PortForwardSession implements RelayTap {
  #o: PortForwardSessionOptions;
  #log: Logger;
  #now: () => number;
  #startMs: number;
  #upload: FailoverUpload;
  #encoder: RecordEncoder;
  #enforce: boolean;
  #window: number;
  #state: "recording" | "passthrough" | "failed" | "terminated" | "ended" =
    "recording";
  #observer: PortForwardObserver | undefined;
  /** Fail closed: a second observer fed only what the client saw. */
  #seen: PortForwardObserver | undefined;
  #gate: TransformStreamDefaultController<Uint8Array> | undefined;
  #gateOpen = false;
  #flushing = false;
  /** Bytes from the pod held back, and when each may go. */
  #held = new HeldOutput();
  /** Bytes from the pod taken in (held until released). */
  #taken = 0;
  #droppedBytes = 0;
  #abortPending: string | undefined;
  #abortedWith: string | undefined;
  #broken = Promise.withResolvers<string>();
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  #streams = new Map<number, PortForwardStreamSummary>();
  #listed = 0;
  #streamCount = 0;
  #ports: number[] = [];
  #totals = { fromClient: 0, fromPod: 0 };

  /**
   * Opens the recording. Call it before sending the request upstream.
   * @param options The session, recorders, policy and seams.
   * @returns The tap; for a best-effort session whose recording cannot
   * start, an {@linkcode UnrecordedTap} (a warning is logged).
   * @throws {RecordingRequiredError} `enforce` is set and no recorder
   * accepted the upload: answer `403` with its message.
   * @example
   * ```ts ignore
   * const tap = await PortForwardSession.start({
   *   sessionId, identity, namespace: "default", pod: "web",
   *   queryPorts: ["8080"], transport: "spdy", proxyHostname: "execgate",
   *   recorderUrls, enforce: true, recordContent: false,
   * });
   * ```
   */
  static async start(
    options: PortForwardSessionOptions,
  ): Promise<PortForwardSession | UnrecordedTap> {
    const log = options.logger ?? jsonLogger("recording");
    const l = options.limits ?? {};
    const now = options.now ?? Date.now;
    const startMs = now();
    const encoder = new RecordEncoder({
      sessionId: options.sessionId,
      argv: [],
      tty: false,
      identity: options.identity,
      kubernetes: {
        podName: options.pod,
        namespace: options.namespace,
        container: "",
        sessionType: "portforward",
      },
      proxy: options.proxyHostname,
      startMs,
      digest: options.digest,
      portforward: {
        ports: options.queryPorts.slice(0, MAX_SUMMARY_PORTS).map((p) =>
          p.slice(0, 64)
        ),
        recordContent: options.recordContent,
      },
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
      what: "port-forward",
    });
    if (!failover) return new UnrecordedTap();
    return new PortForwardSession(options, failover, encoder, log, startMs);
  }

  private constructor(
    options: PortForwardSessionOptions,
    upload: FailoverUpload,
    encoder: RecordEncoder,
    log: Logger,
    startMs: number,
  ) {
    this.#o = options;
    this.#upload = upload;
    this.#encoder = encoder;
    this.#log = log;
    this.#now = options.now ?? Date.now;
    this.#startMs = startMs;
    this.#enforce = options.enforce;
    this.#window = options.limits?.windowBytes ?? DEFAULT_WINDOW_BYTES;
    upload.failure.then((err) => this.#fail(err.message));
    upload.onAck(() => this.#pump());
    upload.onTerminate((t) => {
      if (this.#state !== "recording" && this.#state !== "passthrough") return;
      this.#log.info("port-forward ended by a moderator", {
        sessionId: this.#o.sessionId,
        moderator: t.by,
      });
      this.#stop("terminated", `ended by ${t.by}: ${t.reason}`);
    });
  }

  /** Resolves with the reason when the recording breaks midway. */
  get broken(): Promise<string> {
    return this.#broken.promise;
  }

  /** @inheritdoc */
  get abortedWith(): string | undefined {
    return this.#abortedWith;
  }

  /** Pod bytes released to the client so far. */
  get releasedBytes(): number {
    return this.#held.released;
  }

  /** @inheritdoc */
  upgraded(protocol: string): void {
    if (this.#observer) return;
    this.#encoder.upgraded(protocol);
    const wire: PortForwardWire = this.#o.transport === "spdy"
      ? "spdy"
      : protocol === "SPDY/3.1+portforward.k8s.io"
      ? "tunnel"
      : "channels";
    const queryPorts = this.#o.queryPorts.map((p) => Number(p));
    const make = () =>
      new PortForwardObserver(wire, {
        queryPorts,
        maxFramePayload: this.#o.limits?.maxMessageBytes,
      });
    this.#observer = make();
    if (this.#enforce) this.#seen = make();
  }

  /** @inheritdoc */
  upstreamGate(): TransformStream<Uint8Array, Uint8Array> {
    return new TransformStream<Uint8Array, Uint8Array>({
      start: (controller) => {
        this.#gate = controller;
        this.#gateOpen = true;
        if (this.#abortPending !== undefined) {
          this.#sendAbort(this.#abortPending);
        }
      },
      transform: (chunk, controller) => this.#fromPod(chunk, controller),
      flush: async () => {
        this.#flushing = true;
        if (this.#enforce && this.#state === "recording") {
          await this.#upload.whenAcked(this.#upload.writtenBytes).catch(
            () => {},
          );
          this.#pump();
        }
        this.#gateOpen = false;
      },
    });
  }

  /** @inheritdoc */
  clientObserver(): TransformStream<Uint8Array, Uint8Array> {
    // Fail closed: a chunk of the client's that wrote a record (a stream's
    // open or FIN, and with recordPortForward its content) reaches the pod
    // only once the recorder acknowledged every record up to it, as the
    // pod's bytes reach the client: no stream is opened on the pod, and no
    // recorded byte sent to it, before the recording holds it. Chunks that
    // wrote nothing (content not recorded) pass at once.
    // Set once a held chunk's record was never acknowledged (the recording
    // failed, fail closed): nothing more goes to the pod, so it sees a clean
    // prefix of the client's bytes and no frame torn in the middle.
    let cut = false;
    return new TransformStream<Uint8Array, Uint8Array>({
      transform: (chunk, controller) => {
        if (cut) return;
        if (this.#state !== "recording" || !this.#observer) {
          controller.enqueue(chunk);
          return;
        }
        if (!this.#enforce) controller.enqueue(chunk);
        let events: PortForwardEvent[];
        try {
          this.#seen?.client(chunk);
          events = this.#observer.client(chunk);
        } catch (e) {
          this.#fail(`protocol error from the client: ${(e as Error).message}`);
          return;
        }
        const recorded = this.#record(events);
        if (!this.#enforce) return;
        if (!recorded) {
          controller.enqueue(chunk);
          return;
        }
        return this.#upload.whenAcked(this.#upload.writtenBytes).then(
          () => {
            if (this.#state === "recording") controller.enqueue(chunk);
            else cut = true;
          },
          () => {
            cut = true; // the failure policy has run: the forward ends
          },
        );
      },
    });
  }

  /** @inheritdoc */
  async end(
    reason: EndReason,
    detail?: string,
    upstream?: UpstreamRefusal,
  ): Promise<void> {
    if (this.#graceTimer !== undefined) {
      clearTimeout(this.#graceTimer);
      this.#graceTimer = undefined;
    }
    if (this.#state === "terminated") {
      reason = "terminated";
      detail = this.#abortedWith;
    } else if (this.#state !== "recording") {
      this.#state = "ended";
      return;
    }
    this.#state = "ended";
    this.#noteDropped();
    const at = this.#now();
    const chunks: Uint8Array[] = [];
    for (const s of this.#observer?.openStreams() ?? []) {
      chunks.push(...this.#event({
        event: "close",
        stream: s.stream,
        bytesFromClient: s.bytesFromClient,
        bytesFromPod: s.bytesFromPod,
        atEnd: true,
      }, at));
      this.#closed(s.stream, s.bytesFromClient, s.bytesFromPod, at);
    }
    this.#upload.push(chunks);
    const summary: PortForwardSummary = {
      ports: this.#ports,
      streamCount: this.#streamCount,
      bytesFromClient: this.#totals.fromClient,
      bytesFromPod: this.#totals.fromPod,
      streams: [...this.#streams.values()],
      durationMs: Math.max(0, at - this.#startMs),
    };
    this.#upload.push(
      this.#encoder.end(reason, at, detail, upstream, summary),
    );
    try {
      const ack = await this.#upload.finish();
      this.#log.info("port-forward recording finished", {
        sessionId: this.#o.sessionId,
        recorder: this.#upload.url,
        id: ack.id,
        complete: ack.complete,
        bytes: ack.ack,
        reason,
      });
    } catch (e) {
      this.#log.error("port-forward recording did not finish cleanly", {
        sessionId: this.#o.sessionId,
        recorder: this.#upload.url,
        error: (e as Error).message,
      });
    }
  }

  #fromPod(
    chunk: Uint8Array,
    controller: TransformStreamDefaultController<Uint8Array>,
  ): Promise<void> | void {
    if (this.#state === "passthrough") {
      this.#releaseAll();
      controller.enqueue(chunk);
      return;
    }
    if (this.#state !== "recording") return;
    const o = this.#observer;
    if (!o) {
      this.#fail("upstream bytes arrived before the upgrade");
      if (!this.#enforce) controller.enqueue(chunk);
      return;
    }
    this.#held.hold(chunk);
    this.#taken += chunk.length;
    let events: PortForwardEvent[];
    try {
      events = o.upstream(chunk);
    } catch (e) {
      this.#fail(`protocol error from upstream: ${(e as Error).message}`);
      return;
    }
    this.#record(events);
    const upTo = this.#o.recordContent ? o.upstreamSynced : o.upstreamComplete;
    // Bytes wait for a frame boundary (and, fail closed, for the ack). A
    // stream that never comes back to one would hold them without end.
    const limit = this.#o.maxUnsyncedBytes ?? MAX_UNSYNCED_BYTES;
    if (this.#taken - upTo > limit) {
      this.#fail(
        `the pod's side sent ${
          this.#taken - upTo
        } bytes without a frame boundary the recording can release at (limit ${limit})`,
      );
      return;
    }
    if (!this.#enforce) {
      this.#releaseTo(upTo);
      return;
    }
    this.#held.mark(upTo, this.#upload.writtenBytes);
    this.#pump();
    return this.#upload.whenRoom(this.#window);
  }

  /** Encodes events into the upload; true when something was written. */
  #record(events: PortForwardEvent[]): boolean {
    if (events.length === 0) return false;
    const at = this.#now();
    const out: Uint8Array[] = [];
    for (const e of events) {
      switch (e.type) {
        case "data":
          if (e.from === "client") this.#totals.fromClient += e.data.length;
          else this.#totals.fromPod += e.data.length;
          if (this.#o.recordContent) out.push(...this.#content(e, at));
          break;
        case "open":
          this.#opened(e, at);
          out.push(...this.#event({
            event: "open",
            stream: e.stream,
            streamType: e.streamType,
            ...(e.port !== undefined ? { port: e.port } : {}),
            ...(e.requestId !== undefined ? { requestId: e.requestId } : {}),
            by: e.by,
          }, at));
          break;
        case "fin":
          out.push(
            ...this.#event({ event: "fin", stream: e.stream, by: e.by }, at),
          );
          break;
        case "reset":
          out.push(...this.#event({
            event: "reset",
            stream: e.stream,
            by: e.by,
            status: e.status,
          }, at));
          break;
        case "error":
          out.push(
            ...this.#event({
              event: "error",
              stream: e.stream,
              message: e.message.slice(0, 4096),
            }, at),
          );
          break;
        case "close":
          this.#closed(e.stream, e.bytesFromClient, e.bytesFromPod, at);
          out.push(...this.#event({
            event: "close",
            stream: e.stream,
            bytesFromClient: e.bytesFromClient,
            bytesFromPod: e.bytesFromPod,
          }, at));
          break;
      }
    }
    return this.#write(out);
  }

  #event(r: PortForwardEventRecord, at: number): Uint8Array[] {
    return this.#encoder.other(
      RecordType.PORTFORWARD,
      enc.encode(JSON.stringify(r)),
      at,
    );
  }

  #content(
    e: Extract<PortForwardEvent, { type: "data" }>,
    at: number,
  ): Uint8Array[] {
    const out: Uint8Array[] = [];
    const max = MAX_RECORD_PAYLOAD - DATA_PREFIX_BYTES;
    for (let off = 0; off < e.data.length; off += max) {
      const piece = e.data.subarray(off, off + max);
      const p = new Uint8Array(DATA_PREFIX_BYTES + piece.length);
      p[0] = e.from === "client" ? 0 : 1;
      new DataView(p.buffer).setUint32(1, e.stream);
      p.set(piece, DATA_PREFIX_BYTES);
      out.push(...this.#encoder.other(RecordType.PORTFORWARD_DATA, p, at));
    }
    return out;
  }

  #opened(e: Extract<PortForwardEvent, { type: "open" }>, at: number): void {
    this.#streamCount++;
    if (
      e.port !== undefined && !this.#ports.includes(e.port) &&
      this.#ports.length < MAX_SUMMARY_PORTS
    ) {
      this.#ports.push(e.port);
    }
    if (this.#listed >= MAX_SUMMARY_STREAMS) return;
    this.#listed++;
    this.#streams.set(e.stream, {
      stream: e.stream,
      streamType: e.streamType,
      ...(e.port !== undefined ? { port: e.port } : {}),
      ...(e.requestId !== undefined ? { requestId: e.requestId } : {}),
      openedUs: this.#us(at),
      bytesFromClient: 0,
      bytesFromPod: 0,
    });
  }

  #closed(stream: number, fromClient: number, fromPod: number, at: number) {
    const s = this.#streams.get(stream);
    if (!s || s.closedUs !== undefined) return;
    s.closedUs = this.#us(at);
    s.bytesFromClient = fromClient;
    s.bytesFromPod = fromPod;
  }

  #us(at: number): number {
    return Math.max(0, Math.round((at - this.#startMs) * 1000));
  }

  /** Fail closed: always (the window bounds the caller); fail open: dropped while full. */
  #write(chunks: Uint8Array[]): boolean {
    if (chunks.length === 0) return false;
    if (!this.#enforce) {
      if (this.#upload.full) {
        if (this.#droppedBytes === 0) {
          this.#log.warn(
            "port-forward recording is behind; records are dropped until it catches up",
            { sessionId: this.#o.sessionId, recorder: this.#upload.url },
          );
        }
        for (const c of chunks) this.#droppedBytes += c.length;
        return false;
      }
      this.#noteDropped();
    }
    this.#upload.push(chunks);
    return true;
  }

  #noteDropped(): void {
    if (this.#droppedBytes === 0) return;
    const n = this.#droppedBytes;
    this.#droppedBytes = 0;
    this.#upload.push(this.#encoder.marker(
      `${n} bytes of records were not recorded: the recorder was behind`,
      this.#now(),
    ));
  }

  #pump(): void {
    if (!this.#gateOpen || this.#state !== "recording") return;
    this.#held.releaseAcked(this.#upload.ackedBytes, this.#toClient);
  }

  #releaseTo(upTo: number): void {
    if (upTo <= this.#held.released || !this.#gateOpen) return;
    this.#held.releaseTo(upTo, this.#toClient);
  }

  /** A released piece to the client, seen by the client-side observer. */
  #toClient = (piece: Uint8Array): boolean => {
    try {
      this.#seen?.upstream(piece);
    } catch {
      this.#seen = undefined;
    }
    return this.#enqueue(piece);
  };

  /** A piece to the client; false once the client is gone. */
  #enqueue = (piece: Uint8Array): boolean => {
    try {
      this.#gate!.enqueue(piece);
      return true;
    } catch {
      this.#gateOpen = false;
      return false;
    }
  };

  #releaseAll(): void {
    if (!this.#gateOpen) return;
    this.#held.releaseAll(this.#enqueue);
  }

  #fail(detail: string): void {
    if (this.#state !== "recording") return;
    this.#upload.cancel(detail);
    this.#broken.resolve(detail);
    if (!this.#enforce) {
      this.#state = "passthrough";
      this.#log.warn(
        "port-forward recording failed; the forward continues unrecorded",
        {
          sessionId: this.#o.sessionId,
          recorder: this.#upload.url,
          error: detail,
        },
      );
      this.#releaseAll();
      return;
    }
    this.#log.error("port-forward recording failed; ending the connection", {
      sessionId: this.#o.sessionId,
      recorder: this.#upload.url,
      error: detail,
    });
    this.#stop("failed", `recording failed: ${detail}`);
  }

  /** Ends the connection after what the client saw, with a reason. */
  #stop(state: "failed" | "terminated", why: string): void {
    this.#state = state;
    this.#held.clear();
    this.#abortedWith = why;
    if (this.#gate) this.#sendAbort(why);
    else this.#abortPending = why;
  }

  #sendAbort(why: string): void {
    this.#abortPending = undefined;
    if (!this.#gateOpen) return;
    const gate = this.#gate!;
    const seen = this.#seen;
    // Bytes of our own only where the client is at a whole frame.
    const bytes = seen && seen.upstreamSynced === this.#held.released
      ? seen.abortBytes(`execgate: port-forward ended: ${why}`)
      : undefined;
    this.#gateOpen = false;
    try {
      if (bytes && bytes.length > 0) gate.enqueue(bytes);
    } catch { /* the client is gone */ }
    // Over SPDY the client reads the error streams and closes the
    // connection itself (kubectl prints the message first); it gets
    // `abortGraceMs` to do so, then the proxy closes it.
    const wait = bytes && bytes.length > 0 && seen?.wire !== "channels"
      ? this.#o.abortGraceMs ?? 2000
      : 0;
    const terminate = () => {
      this.#graceTimer = undefined;
      try {
        if (!this.#flushing) gate.terminate();
      } catch { /* already closed */ }
    };
    if (wait > 0) this.#graceTimer = setTimeout(terminate, wait);
    else terminate();
  }
}
