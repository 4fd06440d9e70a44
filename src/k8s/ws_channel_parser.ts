/**
 * The Kubernetes channel protocol over WebSocket (`v4.channel.k8s.io`,
 * `v5.channel.k8s.io`): every binary message starts with one channel byte,
 * the rest is that channel's payload.
 *
 * ```
 * message:   [channel][payload ...................................]
 * frames:    |FIN=0 op=2: ch p p p|FIN=0 op=0: p p p|ping|FIN=1 op=0: p p|
 * ```
 *
 * Fragmentation follows RFC 6455 §5.4: only the message's first byte is the
 * channel; continuation frames carry raw payload (no channel byte). Control
 * frames (ping, pong, close) may come between fragments. An empty message has
 * no channel and is skipped, as the API server does
 * (`k8s.io/apiserver/pkg/util/wsstream/conn.go`).
 *
 * Text frames: client-go only sends and accepts binary messages ("All remote
 * command protocols send/receive only binary data messages",
 * `k8s.io/client-go/tools/remotecommand/websocket.go`), so a text frame from
 * the server is malformed. The API server reads client messages with
 * `golang.org/x/net/websocket`, which hands text and binary frames over
 * alike, so the client-direction tap accepts text frames (`acceptText`) and
 * decodes them the same way rather than refusing input that upstream honours.
 *
 * @module
 */

import {
  CHANNEL_CLOSE,
  OPCODE_BINARY,
  OPCODE_CLOSE,
  OPCODE_CONTINUATION,
  OPCODE_TEXT,
  PROTOCOL_V4,
  PROTOCOL_V5,
} from "./constants.ts";
import type { ChannelMessage } from "./channel_tap.ts";
import { WsFrameParser } from "./ws_frame.ts";
import { concatBytes } from "../bytes.ts";

/** Options of {@linkcode WsChannelParser}. */
export interface WsChannelParserOptions {
  /**
   * Negotiated subprotocol: `v4.channel.k8s.io` or `v5.channel.k8s.io` (which
   * adds the close channel 255).
   * @default {"v5.channel.k8s.io"}
   */
  protocol?: string;
  /**
   * Channel ids accepted; any other is an error.
   * @default {[0, 1, 2, 3, 4]} plus 255 for v5
   */
  channels?: readonly number[];
  /**
   * Largest message payload (all fragments, channel byte excluded), in bytes.
   * @default {16777216} (16 MiB)
   */
  maxMessageBytes?: number;
  /** Decode text frames like binary ones instead of refusing them. @default {false} */
  acceptText?: boolean;
  /**
   * Yield each message whole (one piece, `first` and `last` set) instead of
   * one piece per fragment. Buffers up to `maxMessageBytes`.
   * @default {false}
   */
  assemble?: boolean;
}

/** Default largest message. */
const DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024;

/**
 * The channels a protocol defines.
 * @param protocol `v4.channel.k8s.io` or `v5.channel.k8s.io`.
 * @returns The channel ids.
 * @throws {RangeError} The protocol is not a channel protocol the tap knows.
 */
export function protocolChannels(protocol: string): number[] {
  if (protocol === PROTOCOL_V4) return [0, 1, 2, 3, 4];
  if (protocol === PROTOCOL_V5) return [0, 1, 2, 3, 4, CHANNEL_CLOSE];
  throw new RangeError(
    `Cannot decode channel protocol "${protocol}": only "${PROTOCOL_V5}" and "${PROTOCOL_V4}" are supported`,
  );
}

/**
 * Incremental, synchronous decoder of one direction of a channel-protocol
 * WebSocket. Feed it raw bytes split anywhere; it returns the channel message
 * pieces each chunk completes.
 *
 * @example
 * ```ts
 * import { encodeWsFrame } from "./ws_frame.ts";
 * import { WsChannelParser } from "./ws_channel_parser.ts";
 * const parser = new WsChannelParser();
 * const wire = encodeWsFrame({ opcode: 2, payload: new Uint8Array([1, 104, 105]) });
 * const [m] = parser.push(wire);
 * if (m?.channel !== 1 || new TextDecoder().decode(m.data) !== "hi") throw new Error();
 * ```
 */
export class WsChannelParser {
  #frames: WsFrameParser;
  #channels: Set<number>;
  #max: number;
  #acceptText: boolean;
  #assemble: boolean;
  /** A data message is open (its final fragment has not arrived). */
  #open = false;
  /** Channel of the open message, once its first payload byte arrived. */
  #channel: number | undefined;
  /** Whether a piece of the open message was yielded already. */
  #yielded = false;
  /** Payload bytes of the open message so far. */
  #size = 0;
  #parts: Uint8Array[] = [];
  #joined = 0;
  #closed = false;

  /**
   * Creates a parser with its own {@linkcode WsFrameParser}.
   * @param options Protocol, accepted channels and limits.
   */
  constructor(options: WsChannelParserOptions = {}) {
    const protocol = options.protocol ?? PROTOCOL_V5;
    this.#channels = new Set(options.channels ?? protocolChannels(protocol));
    this.#max = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE;
    this.#acceptText = options.acceptText ?? false;
    this.#assemble = options.assemble ?? false;
    this.#frames = new WsFrameParser({ maxFramePayload: this.#max + 1 });
  }

  /** Bytes consumed into complete frames so far. */
  get consumed(): number {
    return this.#frames.consumed;
  }

  /** Bytes held back because they do not yet form a whole frame. */
  get pending(): number {
    return this.#frames.pending;
  }

  /**
   * Bytes copied so far: by the frame parser (at most twice the input) and,
   * with `assemble`, once more per fragmented message joined.
   */
  get copiedBytes(): number {
    return this.#frames.copiedBytes + this.#joined;
  }

  /** Whether a fragmented data message is open after the frames consumed. */
  get messageOpen(): boolean {
    return this.#open;
  }

  /** Whether a close frame was seen. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Adds a chunk and returns every message piece it completes.
   * @param chunk Bytes as they came off the wire.
   * @returns Message pieces, in order.
   * @throws {SyntaxError} Malformed framing or channel protocol, with the byte
   * offset of the frame.
   * @throws {RangeError} A frame or message exceeds `maxMessageBytes`.
   */
  push(chunk: Uint8Array): ChannelMessage[] {
    let at = this.#frames.consumed;
    const frames = this.#frames.push(chunk);
    const out: ChannelMessage[] = [];
    for (const frame of frames) {
      const where = `at byte ${at}`;
      at += frame.wireLength;
      const { opcode } = frame;
      if (opcode === OPCODE_CLOSE) {
        this.#closed = true;
        continue;
      }
      if (opcode >= 8) continue; // ping, pong
      if (this.#closed) {
        throw new SyntaxError(
          `Cannot decode channel message: data frame after the close frame ${where}`,
        );
      }
      if (opcode === OPCODE_TEXT && !this.#acceptText) {
        throw new SyntaxError(
          `Cannot decode channel message: text frame ${where} (the channel protocol uses binary messages)`,
        );
      }
      if (opcode === OPCODE_CONTINUATION) {
        if (!this.#open) {
          throw new SyntaxError(
            `Cannot decode channel message: continuation frame without a message to continue ${where}`,
          );
        }
      } else if (opcode === OPCODE_BINARY || opcode === OPCODE_TEXT) {
        if (this.#open) {
          throw new SyntaxError(
            `Cannot decode channel message: new data frame while a fragmented message is open ${where}`,
          );
        }
        this.#open = true;
        this.#channel = undefined;
        this.#yielded = false;
        this.#size = 0;
      }
      let data = frame.payload;
      if (this.#channel === undefined && data.length > 0) {
        const channel = data[0]!;
        if (!this.#channels.has(channel)) {
          throw new SyntaxError(
            `Cannot decode channel message: channel ${channel} is unknown ${where}`,
          );
        }
        this.#channel = channel;
        data = data.subarray(1);
      }
      this.#size += data.length;
      if (this.#size > this.#max) {
        throw new RangeError(
          `Cannot decode channel message: message on channel ${this.#channel} exceeds the limit of ${this.#max} bytes ${where}`,
        );
      }
      if (frame.fin) this.#open = false;
      if (this.#channel === undefined) continue; // nothing of the message yet
      if (this.#assemble) {
        if (data.length > 0) this.#parts.push(data);
        if (frame.fin) {
          if (this.#parts.length > 1) this.#joined += this.#size;
          out.push({
            channel: this.#channel,
            data: concatBytes(this.#parts),
            first: true,
            last: true,
          });
          this.#parts = [];
        }
      } else if (data.length > 0 || frame.fin || !this.#yielded) {
        out.push({
          channel: this.#channel,
          data,
          first: !this.#yielded,
          last: frame.fin,
        });
        this.#yielded = true;
      }
    }
    return out;
  }
}

/**
 * A `TransformStream` from the raw bytes of one direction of a
 * channel-protocol WebSocket to {@linkcode ChannelMessage} pieces. Leftover
 * bytes or an open message at the end of the stream are an error.
 *
 * @example
 * ```ts
 * import { encodeWsFrame } from "./ws_frame.ts";
 * import { WsChannelDecoderStream } from "./ws_channel_parser.ts";
 * const wire = encodeWsFrame({ opcode: 2, payload: new Uint8Array([2, 33]) });
 * const out = await Array.fromAsync(
 *   ReadableStream.from([wire.subarray(0, 1), wire.subarray(1)])
 *     .pipeThrough(new WsChannelDecoderStream()),
 * );
 * if (out.length !== 1 || out[0]?.channel !== 2) throw new Error();
 * ```
 */
export class WsChannelDecoderStream
  extends TransformStream<Uint8Array, ChannelMessage> {
  /**
   * Creates the stream over a new {@linkcode WsChannelParser}.
   * @param options Protocol, accepted channels and limits.
   */
  constructor(options: WsChannelParserOptions = {}) {
    const parser = new WsChannelParser(options);
    super({
      transform(chunk, controller) {
        for (const m of parser.push(chunk)) controller.enqueue(m);
      },
      flush() {
        if (parser.pending > 0) {
          throw new SyntaxError(
            `Cannot decode channel message: stream ended inside a frame (${parser.pending} bytes pending)`,
          );
        }
        if (parser.messageOpen) {
          throw new SyntaxError(
            "Cannot decode channel message: stream ended inside a fragmented message",
          );
        }
      },
    });
  }
}
