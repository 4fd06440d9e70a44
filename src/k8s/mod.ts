/**
 * Kubernetes remote-command wire formats: channel ids and subprotocols,
 * `Status` objects, WebSocket frames and the channel-protocol taps for
 * WebSocket and SPDY/3.1.
 *
 * @example
 * ```ts
 * import { encodeWsFrame, WsChannelTap } from "./mod.ts";
 * const tap = new WsChannelTap("v5.channel.k8s.io");
 * const [m] = tap.upstream(encodeWsFrame({ opcode: 2, payload: new Uint8Array([1, 104, 105]) }));
 * if (m?.channel !== 1) throw new Error();
 * ```
 *
 * @module
 */

export * from "./constants.ts";
export * from "./status.ts";
export {
  encodeWsFrame,
  type WsFrame,
  WsFrameDecoderStream,
  type WsFrameInit,
  WsFrameParser,
  type WsFrameParserOptions,
} from "./ws_frame.ts";
export type { ChannelMessage, ChannelTap } from "./channel_tap.ts";
export {
  protocolChannels,
  WsChannelDecoderStream,
  WsChannelParser,
  type WsChannelParserOptions,
} from "./ws_channel_parser.ts";
export {
  wsAbortFrames,
  WsChannelTap,
  type WsChannelTapOptions,
} from "./ws_channel_tap.ts";
export {
  parseTerminalSize,
  readResize,
  type ResizeRecord,
  type TerminalSize,
} from "./terminal_size.ts";
export * from "./spdy/mod.ts";
