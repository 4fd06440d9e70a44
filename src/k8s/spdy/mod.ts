/**
 * SPDY/3.1, the legacy transport of `kubectl exec`/`attach`/`port-forward`:
 * a frame codec with header blocks over one shared zlib stream per
 * direction, and {@linkcode SpdyChannelTap}, the {@linkcode ChannelTap} of a
 * remote-command session over SPDY. See `docs/spdy.md`.
 *
 * @example
 * ```ts
 * import { SpdyChannelTap } from "./mod.ts";
 * const tap = new SpdyChannelTap("v5.channel.k8s.io");
 * if (tap.upstreamComplete !== 0) throw new Error();
 * ```
 *
 * @module
 */

export type { ChannelMessage, ChannelTap } from "../channel_tap.ts";
export { SPDY3_DICTIONARY, SPDY3_DICTIONARY_ID } from "./dictionary.ts";
export {
  encodeControlFrame,
  encodeDataFrame,
  FLAG_FIN,
  FLAG_UNIDIRECTIONAL,
  FRAME_HEADER_BYTES,
  MAX_FRAME_PAYLOAD,
  SPDY_VERSION,
  SpdyFrameParser,
  type SpdyFrameParserOptions,
  type SpdyRawFrame,
  TYPE_GOAWAY,
  TYPE_HEADERS,
  TYPE_PING,
  TYPE_RST_STREAM,
  TYPE_SETTINGS,
  TYPE_SYN_REPLY,
  TYPE_SYN_STREAM,
  TYPE_WINDOW_UPDATE,
} from "./frame.ts";
export {
  type SpdyDataFrame,
  type SpdyDecoded,
  type SpdyFrame,
  SpdyFrameDecoder,
  type SpdyFrameDecoderOptions,
  SpdyFrameDecoderStream,
  type SpdyGoAwayFrame,
  type SpdyHeadersFrame,
  type SpdyPingFrame,
  type SpdyRstStreamFrame,
  type SpdySettingsFrame,
  type SpdySynReplyFrame,
  type SpdySynStreamFrame,
  type SpdyUnknownFrame,
  type SpdyWindowUpdateFrame,
} from "./frame_decoder.ts";
export { SpdyFrameEncoder } from "./frame_encoder.ts";
export {
  decodeNameValueBlock,
  encodeNameValueBlock,
  HeaderBlockDeflater,
  HeaderBlockInflater,
  headerValue,
  type SpdyHeaders,
} from "./header_block.ts";
export {
  SpdyChannelTap,
  type SpdyChannelTapOptions,
  STREAM_TYPES,
} from "./spdy_channel_tap.ts";
