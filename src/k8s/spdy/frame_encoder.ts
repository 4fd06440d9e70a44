/**
 * The encoder of one direction of a SPDY/3 session: typed frames to bytes,
 * header blocks compressed with one zlib context for the whole direction.
 *
 * @module
 */

import {
  encodeControlFrame,
  encodeDataFrame,
  FLAG_FIN,
  FLAG_UNIDIRECTIONAL,
  TYPE_GOAWAY,
  TYPE_HEADERS,
  TYPE_PING,
  TYPE_RST_STREAM,
  TYPE_SETTINGS,
  TYPE_SYN_REPLY,
  TYPE_SYN_STREAM,
  TYPE_WINDOW_UPDATE,
  u32s,
} from "./frame.ts";
import type { SpdyFrame } from "./frame_decoder.ts";
import { HeaderBlockDeflater } from "./header_block.ts";

function join(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * Encodes frames of one direction. Frames must be written to the wire in the
 * order they were encoded: header blocks share one zlib stream.
 *
 * @example
 * ```ts
 * import { SpdyFrameEncoder } from "./frame_encoder.ts";
 * const enc = new SpdyFrameEncoder();
 * const ping = enc.encode({ kind: "ping", id: 2 });
 * if (ping.length !== 12 || ping[0] !== 0x80 || ping[3] !== 6) throw new Error();
 * ```
 */
export class SpdyFrameEncoder {
  #deflater: HeaderBlockDeflater;

  /**
   * Creates an encoder for one direction, with its own zlib context.
   * @param level zlib level of header blocks.
   * @default {9}
   */
  constructor(level?: ConstructorParameters<typeof HeaderBlockDeflater>[0]) {
    this.#deflater = new HeaderBlockDeflater(level);
  }

  /**
   * Encodes one frame.
   * @param frame The frame.
   * @returns Its bytes.
   * @throws {RangeError} The payload is too long or a stream id is invalid.
   */
  encode(frame: SpdyFrame): Uint8Array {
    const fin = "fin" in frame && frame.fin ? FLAG_FIN : 0;
    switch (frame.kind) {
      case "data":
        return encodeDataFrame(frame.streamId, frame.data, frame.fin);
      case "syn_stream": {
        const head = new Uint8Array(10);
        head.set(u32s(frame.streamId, frame.associatedToStreamId));
        head[8] = (frame.priority & 7) << 5;
        const flags = fin | (frame.unidirectional ? FLAG_UNIDIRECTIONAL : 0);
        return encodeControlFrame(
          TYPE_SYN_STREAM,
          flags,
          join(head, this.#deflater.deflate(frame.headers)),
        );
      }
      case "syn_reply":
      case "headers":
        return encodeControlFrame(
          frame.kind === "syn_reply" ? TYPE_SYN_REPLY : TYPE_HEADERS,
          fin,
          join(u32s(frame.streamId), this.#deflater.deflate(frame.headers)),
        );
      case "rst_stream":
        return encodeControlFrame(
          TYPE_RST_STREAM,
          0,
          u32s(frame.streamId, frame.status),
        );
      case "settings": {
        const words = [frame.entries.length];
        for (const e of frame.entries) {
          words.push(((e.flags << 24) | (e.id & 0xffffff)) >>> 0, e.value);
        }
        return encodeControlFrame(
          TYPE_SETTINGS,
          frame.clear ? 1 : 0,
          u32s(...words),
        );
      }
      case "ping":
        return encodeControlFrame(TYPE_PING, 0, u32s(frame.id));
      case "goaway":
        return encodeControlFrame(
          TYPE_GOAWAY,
          0,
          u32s(frame.lastGoodStreamId, frame.status),
        );
      case "window_update":
        return encodeControlFrame(
          TYPE_WINDOW_UPDATE,
          0,
          u32s(frame.streamId, frame.delta),
        );
      case "unknown":
        return encodeControlFrame(frame.type, frame.flags, frame.payload);
    }
  }
}
