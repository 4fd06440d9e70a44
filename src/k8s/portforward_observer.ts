/**
 * The port-forward observer: reads a copy of both directions of an upgraded
 * `pods/portforward` connection and says what happened on it, stream by
 * stream. It never rewrites bytes; the relay forwards the originals.
 *
 * Three wires, chosen from the negotiated protocol:
 *
 * | wire | protocol | streams |
 * |---|---|---|
 * | `spdy` | `portforward.k8s.io` over `Upgrade: SPDY/3.1` | SPDY streams, headers `streamtype` (`data`/`error`), `port`, `requestid` |
 * | `tunnel` | `SPDY/3.1+portforward.k8s.io` over WebSocket (kubectl 1.31+) | the same SPDY bytes, carried in binary WebSocket messages |
 * | `channels` | `v4.channel.k8s.io`, `v2.portforward.k8s.io` or none, over WebSocket | channel `2i` data and `2i+1` error of the query's `ports[i]`; the pod's first message on each channel is the port, uint16 little endian |
 *
 * ```
 * client SYN_STREAM id=1 streamtype=error port=80 requestid=0  → open  1 error 80 0
 * client SYN_STREAM id=3 streamtype=data  port=80 requestid=0  → open  3 data  80 0
 * client DATA id=3 "GET / …"                                   → data  3 client
 * pod    DATA id=3 "HTTP/1.1 200 …" FIN                         → data  3 pod, fin 3 pod
 * client DATA id=3 FIN                                         → fin   3 client, close 3
 * ```
 *
 * Events carry the stream's byte totals when it closes (both sides finished,
 * or a reset). Bounded: at most `maxStreams` streams open at once, frames up
 * to `maxFramePayload`, an error-stream message kept up to
 * `maxErrorBytes`. Malformed input throws a `SyntaxError` or `RangeError`
 * saying what and where; the recording session applies its failure policy.
 *
 * Sources: kubernetes `staging/src/k8s.io/client-go/tools/portforward/`
 * (`portforward.go`, `tunneling_connection.go`),
 * `pkg/kubelet/cri/streaming/portforward/` (`httpstream.go`,
 * `websocket.go`), `staging/src/k8s.io/api/core/v1/types.go`
 * (`PortHeader`, `PortForwardRequestIDHeader`, `StreamType*`).
 *
 * @module
 */

import { encodeDataFrame } from "./spdy/frame.ts";
import { type SpdyFrame, SpdyFrameDecoder } from "./spdy/frame_decoder.ts";
import { headerValue } from "./spdy/header_block.ts";
import { encodeWsFrame, type WsFrame, WsFrameParser } from "./ws_frame.ts";
import {
  OPCODE_BINARY,
  OPCODE_CLOSE,
  OPCODE_CONTINUATION,
  OPCODE_TEXT,
} from "./constants.ts";

/** Which side sent something: the kubectl client, or the pod (upstream). */
export type PortForwardSide = "client" | "pod";

/** How the port-forward is carried. */
export type PortForwardWire = "spdy" | "tunnel" | "channels";

/** SPDY port-forward protocol (`X-Stream-Protocol-Version`). */
export const PORTFORWARD_SPDY_PROTOCOL = "portforward.k8s.io";
/** SPDY tunnelled over WebSocket (KEP-4006, kubectl 1.31+). */
export const PORTFORWARD_TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io";

/** What the observer saw, in wire order. */
export type PortForwardEvent =
  | {
    /** A stream opened (SPDY SYN_STREAM; channels: the pod's port prefix). */
    type: "open";
    stream: number;
    /** `data` or `error` (the `streamtype` header, or the channel's parity). */
    streamType: string;
    /** The pod port, when the stream named a valid one. */
    port?: number;
    /** The `requestid` header (pairs a data stream with its error stream). */
    requestId?: string;
    by: PortForwardSide;
  }
  | {
    /** Payload bytes on a stream. */
    type: "data";
    stream: number;
    from: PortForwardSide;
    /** The bytes (a view of the observer's copy; do not modify). */
    data: Uint8Array;
  }
  | {
    /** A side finished sending on a stream (FIN). */
    type: "fin";
    stream: number;
    by: PortForwardSide;
  }
  | {
    /** A stream was reset (RST_STREAM). */
    type: "reset";
    stream: number;
    by: PortForwardSide;
    /** The RST_STREAM status code. */
    status: number;
  }
  | {
    /** A complete message on an error stream, from the pod. */
    type: "error";
    stream: number;
    /** Its text (cut to `maxErrorBytes`). */
    message: string;
  }
  | {
    /** A stream is over: both sides finished, or it was reset. */
    type: "close";
    stream: number;
    bytesFromClient: number;
    bytesFromPod: number;
  };

/** Options of {@linkcode PortForwardObserver}. */
export interface PortForwardObserverOptions {
  /** The query's `ports` (channels wire: the ports of channel pairs). @default {[]} */
  queryPorts?: readonly number[];
  /** Largest SPDY or WebSocket frame payload. @default {16777215} */
  maxFramePayload?: number;
  /** Streams open at once. @default {4096} */
  maxStreams?: number;
  /** Bytes of an error-stream message kept. @default {4096} */
  maxErrorBytes?: number;
}

interface StreamState {
  id: number;
  streamType: string;
  port?: number;
  fromClient: number;
  fromPod: number;
  clientFin: boolean;
  podFin: boolean;
  /** Error stream: the message so far (bounded). */
  error: Uint8Array[];
  errorBytes: number;
}

/**
 * The wire of a negotiated protocol.
 * @param transport `spdy` (Upgrade: SPDY/3.1) or `websocket`.
 * @param protocol The negotiated subprotocol ("" when none).
 * @returns The wire.
 * @example
 * ```ts
 * import { portForwardWireOf } from "./portforward_observer.ts";
 * if (portForwardWireOf("websocket", "SPDY/3.1+portforward.k8s.io") !== "tunnel") throw new Error();
 * ```
 */
export function portForwardWireOf(
  transport: "spdy" | "websocket",
  protocol: string,
): PortForwardWire {
  if (transport === "spdy") return "spdy";
  return protocol === PORTFORWARD_TUNNEL_PROTOCOL ? "tunnel" : "channels";
}

/**
 * Reads a port header value the way Go's `strconv.ParseUint(s, 10, 16)`
 * does, refusing 0 as the kubelet does.
 */
function parsePort(s: string | undefined): number | undefined {
  if (s === undefined || !/^[0-9]{1,5}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= 1 && n <= 65535 ? n : undefined;
}

const utf8 = new TextDecoder();

/**
 * Decodes both directions of a port-forward connection into
 * {@linkcode PortForwardEvent}s. Synchronous and incremental: bytes may be
 * split anywhere.
 *
 * @example
 * ```ts
 * import { PortForwardObserver } from "./portforward_observer.ts";
 * import { SpdyFrameEncoder } from "./spdy/frame_encoder.ts";
 * const client = new SpdyFrameEncoder();
 * const o = new PortForwardObserver("spdy");
 * const [open] = o.client(client.encode({
 *   kind: "syn_stream", streamId: 1, associatedToStreamId: 0, priority: 0,
 *   fin: false, unidirectional: false,
 *   headers: [["streamtype", "data"], ["port", "80"], ["requestid", "0"]],
 * }));
 * if (open?.type !== "open" || open.port !== 80) throw new Error();
 * ```
 */
export class PortForwardObserver {
  #wire: PortForwardWire;
  #maxStreams: number;
  #maxError: number;
  #queryPorts: readonly number[];
  #streams = new Map<number, StreamState>();
  /** Channels wire: channels ever opened (at most two per query port). */
  #opened = new Set<number>();
  /** SPDY: the highest stream id opened (ids only grow, RFC draft §2.3.2). */
  #lastId = 0;
  #spdy: Record<PortForwardSide, SpdyFrameDecoder> | undefined;
  #ws: Record<PortForwardSide, WsFrameParser> | undefined;
  /** Channels wire: the channel of each side's current message. */
  #channelOf: Record<PortForwardSide, number | undefined> = {
    client: undefined,
    pod: undefined,
  };
  /** Channels wire: bytes of the port prefix the pod has sent per channel. */
  #prefix = new Map<number, number[]>();
  /** Channels wire: channels whose port prefix the pod has sent. */
  #named = new Set<number>();
  #upstreamComplete = 0;
  #upstreamSynced = 0;
  #closed: Record<PortForwardSide, boolean> = { client: false, pod: false };

  /**
   * @param wire How the connection is carried.
   * @param options Query ports and limits.
   */
  constructor(wire: PortForwardWire, options: PortForwardObserverOptions = {}) {
    this.#wire = wire;
    this.#maxStreams = options.maxStreams ?? 4096;
    this.#maxError = options.maxErrorBytes ?? 4096;
    this.#queryPorts = options.queryPorts ?? [];
    const max = options.maxFramePayload ?? 0xffffff;
    if (wire !== "channels") {
      this.#spdy = {
        client: new SpdyFrameDecoder({ maxFramePayload: max }),
        pod: new SpdyFrameDecoder({ maxFramePayload: max }),
      };
    }
    if (wire !== "spdy") {
      this.#ws = {
        client: new WsFrameParser({ maxFramePayload: max }),
        pod: new WsFrameParser({ maxFramePayload: max }),
      };
    }
  }

  /** The wire this observer decodes. */
  get wire(): PortForwardWire {
    return this.#wire;
  }

  /**
   * Upstream bytes consumed into whole wire units (SPDY frames, or
   * WebSocket frames): what may be released once their events are recorded.
   */
  get upstreamComplete(): number {
    return this.#upstreamComplete;
  }

  /**
   * Upstream bytes after which the client is at a whole SPDY frame too (for
   * `tunnel`, a WebSocket frame boundary where no SPDY frame is cut; for the
   * other wires, {@linkcode upstreamComplete}): where recorded content or
   * {@linkcode abortBytes} can follow.
   */
  get upstreamSynced(): number {
    return this.#upstreamSynced;
  }

  /** Streams open now, with their byte counts so far. */
  openStreams(): {
    stream: number;
    streamType: string;
    port?: number;
    bytesFromClient: number;
    bytesFromPod: number;
  }[] {
    return [...this.#streams.values()].map((s) => ({
      stream: s.id,
      streamType: s.streamType,
      ...(s.port !== undefined ? { port: s.port } : {}),
      bytesFromClient: s.fromClient,
      bytesFromPod: s.fromPod,
    }));
  }

  /**
   * Decodes a copy of client → pod bytes.
   * @param chunk Bytes as they came off the wire.
   * @returns The events they complete.
   * @throws {SyntaxError} The bytes are not a valid port-forward stream.
   * @throws {RangeError} A frame or the stream count exceeds a limit.
   */
  client(chunk: Uint8Array): PortForwardEvent[] {
    return this.#push("client", chunk);
  }

  /**
   * Decodes a copy of pod → client bytes.
   * @param chunk Bytes as they came off the wire.
   * @returns The events they complete.
   * @throws {SyntaxError} The bytes are not a valid port-forward stream.
   * @throws {RangeError} A frame or the stream count exceeds a limit.
   */
  upstream(chunk: Uint8Array): PortForwardEvent[] {
    return this.#push("pod", chunk);
  }

  /**
   * Bytes that end the connection from the client's point of view, valid
   * right after {@linkcode upstreamSynced}: `message` on every open error
   * stream with FIN, and FIN on every open data stream, so kubectl finishes
   * each connection, prints "an error occurred forwarding … <message>" and
   * closes. The channel wire (no FIN there) gets the message on each error
   * channel and a close frame (1011).
   * @param message What to say.
   * @returns The bytes.
   */
  abortBytes(message: string): Uint8Array {
    const text = new TextEncoder().encode(message);
    const parts: Uint8Array[] = [];
    const open = [...this.#streams.values()].filter((s) => !s.podFin);
    const errors = open.filter((s) => s.streamType === "error");
    if (this.#wire === "channels") {
      for (const s of errors) {
        const m = new Uint8Array(1 + text.length);
        m[0] = s.id;
        m.set(text, 1);
        parts.push(encodeWsFrame({ opcode: OPCODE_BINARY, payload: m }));
      }
    } else {
      const frames = [
        ...errors.map((s) => encodeDataFrame(s.id, text, true)),
        ...open.filter((s) => s.streamType === "data").map((s) =>
          encodeDataFrame(s.id, new Uint8Array(0), true)
        ),
      ];
      if (this.#wire === "spdy") parts.push(...frames);
      else {
        for (const f of frames) {
          parts.push(encodeWsFrame({ opcode: OPCODE_BINARY, payload: f }));
        }
      }
    }
    if (this.#wire === "channels") {
      const reason = text.subarray(0, 120);
      const p = new Uint8Array(2 + reason.length);
      p[0] = 1011 >> 8;
      p[1] = 1011 & 0xff;
      p.set(reason, 2);
      parts.push(encodeWsFrame({ opcode: OPCODE_CLOSE, payload: p }));
    }
    let n = 0;
    for (const p of parts) n += p.length;
    const out = new Uint8Array(n);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  #push(side: PortForwardSide, chunk: Uint8Array): PortForwardEvent[] {
    const out: PortForwardEvent[] = [];
    if (chunk.length === 0) return out;
    if (this.#wire === "spdy") {
      for (const d of this.#spdy![side].push(chunk)) {
        this.#spdyFrame(side, d.frame, out);
      }
      if (side === "pod") {
        this.#upstreamComplete = this.#spdy!.pod.consumed;
        this.#upstreamSynced = this.#upstreamComplete;
      }
      return out;
    }
    const ws = this.#ws![side];
    for (const f of ws.push(chunk)) {
      if (this.#closed[side]) {
        throw new SyntaxError(
          `Cannot decode port-forward from the ${side}: a WebSocket frame after its close frame`,
        );
      }
      if (this.#wire === "tunnel") this.#tunnelFrame(side, f, out);
      else this.#channelFrame(side, f, out);
      if (side === "pod") {
        this.#upstreamComplete = ws.consumed;
        if (this.#wire === "channels" || this.#spdy!.pod.pending === 0) {
          this.#upstreamSynced = ws.consumed;
        }
      }
    }
    return out;
  }

  #tunnelFrame(side: PortForwardSide, f: WsFrame, out: PortForwardEvent[]) {
    if (f.opcode === OPCODE_CLOSE) {
      this.#closed[side] = true;
      return;
    }
    if (f.opcode === OPCODE_TEXT) {
      throw new SyntaxError(
        `Cannot decode tunnelled port-forward from the ${side}: a text message (SPDY travels in binary messages)`,
      );
    }
    if (f.opcode !== OPCODE_BINARY && f.opcode !== OPCODE_CONTINUATION) return;
    for (const d of this.#spdy![side].push(f.payload)) {
      this.#spdyFrame(side, d.frame, out);
    }
  }

  #channelFrame(side: PortForwardSide, f: WsFrame, out: PortForwardEvent[]) {
    if (f.opcode === OPCODE_CLOSE) {
      this.#closed[side] = true;
      return;
    }
    if (f.opcode === OPCODE_TEXT) {
      throw new SyntaxError(
        `Cannot decode port-forward channels from the ${side}: a text message (v4.base64 is not spoken)`,
      );
    }
    let data = f.payload;
    if (f.opcode === OPCODE_BINARY) {
      if (data.length === 0) {
        throw new SyntaxError(
          `Cannot decode port-forward channels from the ${side}: a message without its channel byte`,
        );
      }
      this.#channelOf[side] = data[0]!;
      data = data.subarray(1);
    } else if (f.opcode !== OPCODE_CONTINUATION) return;
    const channel = this.#channelOf[side];
    if (channel === undefined) {
      throw new SyntaxError(
        `Cannot decode port-forward channels from the ${side}: a continuation without a message`,
      );
    }
    if (f.fin) this.#channelOf[side] = undefined;
    const pair = channel >> 1;
    if (pair >= this.#queryPorts.length) {
      throw new SyntaxError(
        `Cannot decode port-forward channels from the ${side}: channel ${channel} has no port (the query names ${this.#queryPorts.length})`,
      );
    }
    if (side === "pod" && !this.#named.has(channel)) {
      // The pod's first two bytes on a channel are its port.
      const got = this.#prefix.get(channel) ?? [];
      while (got.length < 2 && data.length > 0) {
        got.push(data[0]!);
        data = data.subarray(1);
      }
      this.#prefix.set(channel, got);
      if (got.length < 2) return;
      this.#prefix.delete(channel);
      this.#named.add(channel);
      const port = got[0]! | (got[1]! << 8);
      const want = this.#queryPorts[pair]!;
      if (port !== want) {
        throw new SyntaxError(
          `Cannot decode port-forward channels from the pod: channel ${channel} names port ${port}, the query asked for ${want}`,
        );
      }
    }
    let s = this.#streams.get(channel);
    if (!s) {
      if (this.#opened.has(channel)) return; // after its end: not counted
      s = this.#open(channel, channel % 2 === 0 ? "data" : "error", side, out, {
        port: this.#queryPorts[pair]!,
      });
    }
    this.#data(s, side, data, false, out);
    if (f.fin && s.streamType === "error" && s.error.length > 0) {
      // No FIN on a channel: each error message ends with its frame.
      out.push({ type: "error", stream: s.id, message: this.#errorText(s) });
      s.errorBytes = 0;
    }
  }

  #spdyFrame(side: PortForwardSide, f: SpdyFrame, out: PortForwardEvent[]) {
    switch (f.kind) {
      case "syn_stream": {
        if (side !== "client") {
          throw new SyntaxError(
            `Cannot decode port-forward from the pod: it opened stream ${f.streamId} (only the client opens streams)`,
          );
        }
        const type = headerValue(f.headers, "streamtype");
        if (type !== "data" && type !== "error") {
          throw new SyntaxError(
            `Cannot decode port-forward from the client: stream ${f.streamId} has streamtype ${
              JSON.stringify(type ?? null)
            }, expected "data" or "error"`,
          );
        }
        const s = this.#open(f.streamId, type, "client", out, {
          port: parsePort(headerValue(f.headers, "port")),
          requestId: headerValue(f.headers, "requestid"),
        });
        if (f.fin) this.#fin(s, "client", out);
        return;
      }
      case "syn_reply":
      case "headers": {
        const s = this.#streams.get(f.streamId);
        if (s && f.fin) this.#fin(s, side, out);
        return;
      }
      case "data": {
        const s = this.#streams.get(f.streamId);
        if (!s) {
          if (f.streamId <= this.#lastId) return; // after a reset: dropped
          throw new SyntaxError(
            `Cannot decode port-forward from the ${side}: data on stream ${f.streamId}, which was never opened`,
          );
        }
        this.#data(s, side, f.data, f.fin, out);
        return;
      }
      case "rst_stream": {
        const s = this.#streams.get(f.streamId);
        if (!s) return;
        out.push({
          type: "reset",
          stream: s.id,
          by: side,
          status: f.status,
        });
        this.#close(s, out);
        return;
      }
      default:
        return; // settings, ping, goaway, window_update, unknown
    }
  }

  #open(
    id: number,
    streamType: string,
    by: PortForwardSide,
    out: PortForwardEvent[],
    extra: { port?: number; requestId?: string },
  ): StreamState {
    if (this.#wire === "channels" ? this.#opened.has(id) : id <= this.#lastId) {
      throw new SyntaxError(
        `Cannot decode port-forward from the ${by}: stream ${id} is opened a second time or out of order`,
      );
    }
    if (this.#streams.size >= this.#maxStreams) {
      throw new RangeError(
        `Cannot decode port-forward from the ${by}: stream ${id} is one more than the ${this.#maxStreams} open at once`,
      );
    }
    if (this.#wire === "channels") this.#opened.add(id);
    else this.#lastId = id;
    const s: StreamState = {
      id,
      streamType,
      ...(extra.port !== undefined ? { port: extra.port } : {}),
      fromClient: 0,
      fromPod: 0,
      clientFin: false,
      podFin: false,
      error: [],
      errorBytes: 0,
    };
    this.#streams.set(id, s);
    out.push({
      type: "open",
      stream: id,
      streamType,
      ...(extra.port !== undefined ? { port: extra.port } : {}),
      ...(extra.requestId !== undefined
        ? { requestId: extra.requestId.slice(0, 64) }
        : {}),
      by,
    });
    return s;
  }

  #data(
    s: StreamState,
    side: PortForwardSide,
    data: Uint8Array,
    fin: boolean,
    out: PortForwardEvent[],
  ) {
    if (side === "client" ? s.clientFin : s.podFin) {
      throw new SyntaxError(
        `Cannot decode port-forward from the ${side}: data on stream ${s.id} after its FIN`,
      );
    }
    if (data.length > 0) {
      if (side === "client") s.fromClient += data.length;
      else s.fromPod += data.length;
      if (s.streamType === "error" && side === "pod") {
        const room = this.#maxError - Math.min(s.errorBytes, this.#maxError);
        if (room > 0) s.error.push(data.subarray(0, room).slice());
        s.errorBytes += data.length;
      } else {
        out.push({ type: "data", stream: s.id, from: side, data });
      }
    }
    if (fin) this.#fin(s, side, out);
  }

  #fin(s: StreamState, side: PortForwardSide, out: PortForwardEvent[]) {
    if (side === "client") s.clientFin = true;
    else s.podFin = true;
    if (side === "pod" && s.error.length > 0) {
      out.push({ type: "error", stream: s.id, message: this.#errorText(s) });
    }
    out.push({ type: "fin", stream: s.id, by: side });
    if (s.clientFin && s.podFin) this.#close(s, out);
  }

  #errorText(s: StreamState): string {
    const parts = s.error.splice(0);
    let n = 0;
    for (const p of parts) n += p.length;
    const all = new Uint8Array(n);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return utf8.decode(all);
  }

  #close(s: StreamState, out: PortForwardEvent[]) {
    this.#streams.delete(s.id);
    out.push({
      type: "close",
      stream: s.id,
      bytesFromClient: s.fromClient,
      bytesFromPod: s.fromPod,
    });
  }
}
