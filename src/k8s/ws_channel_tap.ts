/**
 * The {@linkcode ChannelTap} of a channel-protocol WebSocket: one
 * {@linkcode WsChannelParser} per direction, and the frames that end a session
 * from the client's side.
 *
 * @module
 */

import type { ChannelMessage, ChannelTap } from "./channel_tap.ts";
import {
  CHANNEL_CLOSE,
  CHANNEL_ERROR,
  CHANNEL_RESIZE,
  CHANNEL_STDERR,
  CHANNEL_STDIN,
  CHANNEL_STDOUT,
  OPCODE_BINARY,
  OPCODE_CLOSE,
  OPCODE_CONTINUATION,
  PROTOCOL_V5,
} from "./constants.ts";
import type { K8sStatus } from "./status.ts";
import { protocolChannels, WsChannelParser } from "./ws_channel_parser.ts";
import { encodeWsFrame } from "./ws_frame.ts";
import { concatBytes } from "../bytes.ts";

/** Options of {@linkcode WsChannelTap}. */
export interface WsChannelTapOptions {
  /**
   * Largest channel message, in bytes.
   * @default {16777216} (16 MiB)
   */
  maxMessageBytes?: number;
}

/**
 * Decodes both directions of a `v4.channel.k8s.io` / `v5.channel.k8s.io`
 * WebSocket. Client frames may carry channels 0 (stdin) and 4 (resize), and
 * 255 (close) on v5; server frames 1 (stdout), 2 (stderr) and 3 (error), and
 * 255 on v5. Anything else is an error.
 *
 * @example
 * ```ts
 * import { WsChannelTap } from "./ws_channel_tap.ts";
 * import { encodeWsFrame } from "./ws_frame.ts";
 * const tap = new WsChannelTap("v5.channel.k8s.io");
 * const wire = encodeWsFrame({ opcode: 2, payload: new Uint8Array([1, 65]) });
 * const none = tap.upstream(wire.subarray(0, 2));
 * const before = tap.upstreamComplete; // 0: the frame is not whole yet
 * const [m] = tap.upstream(wire.subarray(2));
 * if (none.length !== 0 || before !== 0) throw new Error();
 * if (m?.channel !== 1 || tap.upstreamComplete !== wire.length) throw new Error();
 * ```
 */
export class WsChannelTap implements ChannelTap {
  #client: WsChannelParser;
  #upstream: WsChannelParser;
  #clientOpenMessage = false;

  /**
   * Creates a tap for one WebSocket, one channel parser per direction.
   * @param protocol The negotiated subprotocol.
   * @param options Limits.
   * @throws {RangeError} The protocol is not v4 or v5 of the channel protocol.
   */
  constructor(protocol: string, options: WsChannelTapOptions = {}) {
    protocolChannels(protocol); // throws on an unknown protocol
    const v5 = protocol === PROTOCOL_V5;
    const extra = v5 ? [CHANNEL_CLOSE] : [];
    this.#client = new WsChannelParser({
      protocol,
      channels: [CHANNEL_STDIN, CHANNEL_RESIZE, ...extra],
      maxMessageBytes: options.maxMessageBytes,
      acceptText: true,
    });
    this.#upstream = new WsChannelParser({
      protocol,
      channels: [CHANNEL_STDOUT, CHANNEL_STDERR, CHANNEL_ERROR, ...extra],
      maxMessageBytes: options.maxMessageBytes,
    });
  }

  /**
   * Decodes a copy of client → server bytes: stdin (channel 0), resize
   * (channel 4) and, on v5, close (channel 255).
   * @param chunk Bytes as they came off the wire.
   * @returns The channel message pieces the chunk completes.
   * @throws {SyntaxError} The bytes are not a valid channel WebSocket stream.
   * @throws {RangeError} A message exceeds the size limit.
   */
  client(chunk: Uint8Array): ChannelMessage[] {
    return this.#client.push(chunk);
  }

  /**
   * Decodes a copy of server → client bytes: stdout, stderr and error
   * (channels 1, 2, 3) and, on v5, close (channel 255).
   * @param chunk Bytes as they came off the wire.
   * @returns The channel message pieces the chunk completes.
   * @throws {SyntaxError} The bytes are not a valid channel WebSocket stream.
   * @throws {RangeError} A message exceeds the size limit.
   */
  upstream(chunk: Uint8Array): ChannelMessage[] {
    return this.#upstream.push(chunk);
  }

  /**
   * Server → client bytes consumed into whole WebSocket frames so far: the
   * prefix that may be released to the client once its messages are
   * recorded.
   */
  get upstreamComplete(): number {
    return this.#upstream.consumed;
  }

  /**
   * Records that the server → client prefix up to
   * {@linkcode WsChannelTap.upstreamComplete} was released to the client, and
   * so whether the client has seen the start of a fragmented message that
   * {@linkcode WsChannelTap.abortBytes} must finish.
   */
  released(): void {
    this.#clientOpenMessage = this.#upstream.messageOpen;
  }

  /**
   * Frames that end the session from the client's side, valid after the
   * released prefix: see {@linkcode wsAbortFrames}.
   * @param message Text for the client's stderr.
   * @param status The final `Status`.
   * @returns The bytes to write to the client.
   */
  abortBytes(message: string, status: K8sStatus): Uint8Array {
    return wsAbortFrames(message, status, this.#clientOpenMessage);
  }
}

/**
 * Server → client frames (unmasked) that end a session: a stderr message, a
 * channel-3 `Status`, and a close frame (1000). kubectl prints the message,
 * then the status, and exits non-zero for a failure status.
 * @param message Text for stderr.
 * @param status The final status.
 * @param finishOpenMessage The client has received the first fragments of a
 * message: finish it with an empty final continuation first.
 * @returns The frames' bytes.
 */
export function wsAbortFrames(
  message: string,
  status: K8sStatus,
  finishOpenMessage = false,
): Uint8Array {
  const enc = new TextEncoder();
  const withChannel = (channel: number, text: string) => {
    const body = enc.encode(text);
    const payload = new Uint8Array(body.length + 1);
    payload[0] = channel;
    payload.set(body, 1);
    return payload;
  };
  const frames: Uint8Array[] = [];
  if (finishOpenMessage) {
    frames.push(
      encodeWsFrame({ opcode: OPCODE_CONTINUATION, payload: new Uint8Array() }),
    );
  }
  frames.push(
    encodeWsFrame({
      opcode: OPCODE_BINARY,
      payload: withChannel(CHANNEL_STDERR, message),
    }),
    encodeWsFrame({
      opcode: OPCODE_BINARY,
      payload: withChannel(CHANNEL_ERROR, JSON.stringify(status)),
    }),
    encodeWsFrame({
      opcode: OPCODE_CLOSE,
      payload: new Uint8Array([0x03, 0xe8]),
    }),
  );
  return concatBytes(frames);
}
