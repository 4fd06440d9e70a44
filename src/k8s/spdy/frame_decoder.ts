/**
 * Typed SPDY/3 frames and their decoder: raw frames from
 * {@linkcode SpdyFrameParser}, control payloads decoded, header blocks
 * inflated with one zlib context for the whole direction.
 *
 * @module
 */

import {
  FLAG_FIN,
  FLAG_UNIDIRECTIONAL,
  SPDY_VERSION,
  SpdyFrameParser,
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
import { HeaderBlockInflater, type SpdyHeaders } from "./header_block.ts";

/** A DATA frame. */
export interface SpdyDataFrame {
  /** Discriminant of {@linkcode SpdyFrame}. */
  kind: "data";
  /** The stream the data belongs to (31 bits, never 0). */
  streamId: number;
  /** FLAG_FIN: the sender sends nothing more on this stream. */
  fin: boolean;
  /** The payload, as it was on the wire. */
  data: Uint8Array;
}
/** A SYN_STREAM frame: the sender opens a stream. */
export interface SpdySynStreamFrame {
  /** Discriminant of {@linkcode SpdyFrame}. */
  kind: "syn_stream";
  /** The new stream's id (31 bits; odd from the client, even from the server). */
  streamId: number;
  /** The stream this one is associated with, 0 for none (31 bits). */
  associatedToStreamId: number;
  /** 3-bit priority (0 highest). */
  priority: number;
  /** FLAG_FIN: the sender sends nothing more on this stream. */
  fin: boolean;
  /** FLAG_UNIDIRECTIONAL: the receiver may not send on this stream. */
  unidirectional: boolean;
  /** The inflated header block, name/value pairs in wire order. */
  headers: SpdyHeaders;
}
/** A SYN_REPLY frame: the receiver of a SYN_STREAM accepts it. */
export interface SpdySynReplyFrame {
  /** Discriminant of {@linkcode SpdyFrame}. */
  kind: "syn_reply";
  /** The stream being accepted (31 bits). */
  streamId: number;
  /** FLAG_FIN: the sender sends nothing more on this stream. */
  fin: boolean;
  /** The inflated header block, name/value pairs in wire order. */
  headers: SpdyHeaders;
}
/** A RST_STREAM frame. */
export interface SpdyRstStreamFrame {
  /** Discriminant of {@linkcode SpdyFrame}. */
  kind: "rst_stream";
  /** The stream being reset (31 bits). */
  streamId: number;
  /** Status code (1 PROTOCOL_ERROR … 5 CANCEL …). */
  status: number;
}
/** A SETTINGS frame. */
export interface SpdySettingsFrame {
  /** Discriminant of {@linkcode SpdyFrame}. */
  kind: "settings";
  /** FLAG_SETTINGS_CLEAR_SETTINGS: forget previously persisted settings. */
  clear: boolean;
  /**
   * The ID/value pairs in wire order: `flags` is the entry's 8-bit flags
   * byte, `id` its 24-bit setting id, `value` its 32-bit value.
   */
  entries: { flags: number; id: number; value: number }[];
}
/** A PING frame. */
export interface SpdyPingFrame {
  /** Discriminant of {@linkcode SpdyFrame}. */
  kind: "ping";
  /** The 32-bit ping id, echoed back by the receiver. */
  id: number;
}
/** A GOAWAY frame. */
export interface SpdyGoAwayFrame {
  /** Discriminant of {@linkcode SpdyFrame}. */
  kind: "goaway";
  /** The last stream id the sender acted on (31 bits). */
  lastGoodStreamId: number;
  /** Status code (0 OK, 1 PROTOCOL_ERROR, …). */
  status: number;
}
/** A HEADERS frame. */
export interface SpdyHeadersFrame {
  /** Discriminant of {@linkcode SpdyFrame}. */
  kind: "headers";
  /** The stream the headers belong to (31 bits). */
  streamId: number;
  /** FLAG_FIN: the sender sends nothing more on this stream. */
  fin: boolean;
  /** The inflated header block, name/value pairs in wire order. */
  headers: SpdyHeaders;
}
/** A WINDOW_UPDATE frame (stream 0: the session window, SPDY/3.1). */
export interface SpdyWindowUpdateFrame {
  /** Discriminant of {@linkcode SpdyFrame}. */
  kind: "window_update";
  /** The stream whose window grows, or 0 for the session window (31 bits). */
  streamId: number;
  /** Bytes added to the window (31 bits). */
  delta: number;
}
/** A control frame of a type this decoder does not know (ignored per §2.2.1). */
export interface SpdyUnknownFrame {
  /** Discriminant of {@linkcode SpdyFrame}. */
  kind: "unknown";
  /** The control frame's 16-bit type. */
  type: number;
  /** The frame's 8-bit flags. */
  flags: number;
  /** The payload, undecoded. */
  payload: Uint8Array;
}

/** Any SPDY/3 frame. */
export type SpdyFrame =
  | SpdyDataFrame
  | SpdySynStreamFrame
  | SpdySynReplyFrame
  | SpdyRstStreamFrame
  | SpdySettingsFrame
  | SpdyPingFrame
  | SpdyGoAwayFrame
  | SpdyHeadersFrame
  | SpdyWindowUpdateFrame
  | SpdyUnknownFrame;

/** A decoded frame and where it was. */
export interface SpdyDecoded {
  /** The frame, its control payload decoded. */
  frame: SpdyFrame;
  /** Offset of the frame in the byte stream. */
  offset: number;
  /** Size of the frame on the wire. */
  size: number;
}

/** Options of {@linkcode SpdyFrameDecoder}. */
export interface SpdyFrameDecoderOptions {
  /**
   * Largest frame payload, in bytes.
   * @default {16777215}
   */
  maxFramePayload?: number;
  /**
   * Largest decompressed header block, in bytes.
   * @default {262144}
   */
  maxHeaderBlock?: number;
}

/**
 * Incremental, synchronous decoder of one direction of a SPDY/3 session.
 *
 * @example
 * ```ts
 * import { SpdyFrameDecoder } from "./frame_decoder.ts";
 * import { SpdyFrameEncoder } from "./frame_encoder.ts";
 * const enc = new SpdyFrameEncoder();
 * const wire = enc.encode({
 *   kind: "syn_stream", streamId: 1, associatedToStreamId: 0, priority: 0,
 *   fin: false, unidirectional: false, headers: [["streamtype", "error"]],
 * });
 * const [d] = new SpdyFrameDecoder().push(wire);
 * if (d?.frame.kind !== "syn_stream" || d.frame.headers[0]?.[1] !== "error") throw new Error();
 * ```
 */
export class SpdyFrameDecoder {
  #parser: SpdyFrameParser;
  #inflater: HeaderBlockInflater;

  /**
   * Creates a decoder for one direction, with its own zlib context.
   * @param options Limits.
   */
  constructor(options: SpdyFrameDecoderOptions = {}) {
    this.#parser = new SpdyFrameParser({
      maxFramePayload: options.maxFramePayload,
    });
    this.#inflater = new HeaderBlockInflater(options.maxHeaderBlock);
  }

  /** Bytes consumed into whole frames so far. */
  get consumed(): number {
    return this.#parser.consumed;
  }

  /** Bytes held back because they do not form a whole frame yet. */
  get pending(): number {
    return this.#parser.pending;
  }

  /** Bytes the frame parser has copied so far (at most twice the input). */
  get copiedBytes(): number {
    return this.#parser.copiedBytes;
  }

  /**
   * Adds bytes and returns the frames they complete.
   * @param chunk Bytes as they came off the wire.
   * @returns Decoded frames, in order.
   * @throws {SyntaxError} A frame is malformed (version, size, header block).
   * @throws {RangeError} A frame or header block exceeds a limit.
   */
  push(chunk: Uint8Array): SpdyDecoded[] {
    return this.#parser.push(chunk).map((raw) => ({
      frame: this.#decode(raw),
      offset: raw.offset,
      size: raw.payload.length + 8,
    }));
  }

  #decode(raw: SpdyRawFrame): SpdyFrame {
    const fin = (raw.flags & FLAG_FIN) !== 0;
    if (!raw.control) {
      if (raw.streamId === 0) {
        throw new SyntaxError(
          `Cannot decode SPDY data frame at offset ${raw.offset}: stream id is 0`,
        );
      }
      return { kind: "data", streamId: raw.streamId, fin, data: raw.payload };
    }
    const where =
      `SPDY control frame (type ${raw.type}) at offset ${raw.offset}`;
    if (raw.version !== SPDY_VERSION) {
      throw new SyntaxError(
        `Cannot decode ${where}: version ${raw.version} is not ${SPDY_VERSION}`,
      );
    }
    const p = raw.payload;
    const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
    const need = (n: number, exact = false) => {
      if (exact ? p.length !== n : p.length < n) {
        throw new SyntaxError(
          `Cannot decode ${where}: payload is ${p.length} bytes, expected ${
            exact ? "" : "at least "
          }${n}`,
        );
      }
    };
    const id31 = (off: number) => view.getUint32(off) & 0x7fffffff;
    const headers = (off: number) => this.#headers(p.subarray(off), where);
    switch (raw.type) {
      case TYPE_SYN_STREAM:
        need(10);
        return {
          kind: "syn_stream",
          streamId: id31(0),
          associatedToStreamId: id31(4),
          priority: p[8]! >>> 5,
          fin,
          unidirectional: (raw.flags & FLAG_UNIDIRECTIONAL) !== 0,
          headers: headers(10),
        };
      case TYPE_SYN_REPLY:
        need(4);
        return {
          kind: "syn_reply",
          streamId: id31(0),
          fin,
          headers: headers(4),
        };
      case TYPE_HEADERS:
        need(4);
        return { kind: "headers", streamId: id31(0), fin, headers: headers(4) };
      case TYPE_RST_STREAM:
        need(8, true);
        return {
          kind: "rst_stream",
          streamId: id31(0),
          status: view.getUint32(4),
        };
      case TYPE_SETTINGS: {
        need(4);
        const count = view.getUint32(0);
        need(4 + count * 8, true);
        const entries = [];
        for (let i = 0; i < count; i++) {
          const off = 4 + i * 8;
          entries.push({
            flags: p[off]!,
            id: view.getUint32(off) & 0xffffff,
            value: view.getUint32(off + 4),
          });
        }
        return { kind: "settings", clear: (raw.flags & 1) !== 0, entries };
      }
      case TYPE_PING:
        need(4, true);
        return { kind: "ping", id: view.getUint32(0) };
      case TYPE_GOAWAY:
        need(8, true);
        return {
          kind: "goaway",
          lastGoodStreamId: id31(0),
          status: view.getUint32(4),
        };
      case TYPE_WINDOW_UPDATE:
        need(8, true);
        return {
          kind: "window_update",
          streamId: id31(0),
          delta: id31(4),
        };
      default:
        return {
          kind: "unknown",
          type: raw.type,
          flags: raw.flags,
          payload: p,
        };
    }
  }

  #headers(block: Uint8Array, where: string): SpdyHeaders {
    try {
      return this.#inflater.inflate(block);
    } catch (err) {
      if (err instanceof SyntaxError) {
        throw new SyntaxError(`Cannot decode ${where}: ${err.message}`, {
          cause: err,
        });
      }
      throw err;
    }
  }
}

/**
 * {@linkcode SpdyFrameDecoder} as a `TransformStream` of bytes to frames. At
 * the end, leftover bytes of an incomplete frame are an error.
 *
 * @example
 * ```ts
 * import { SpdyFrameDecoderStream } from "./frame_decoder.ts";
 * import { encodeDataFrame } from "./frame.ts";
 * const frames = await Array.fromAsync(
 *   ReadableStream.from([encodeDataFrame(1, new Uint8Array([1]), true)])
 *     .pipeThrough(new SpdyFrameDecoderStream()),
 * );
 * if (frames[0]?.frame.kind !== "data") throw new Error();
 * ```
 */
export class SpdyFrameDecoderStream
  extends TransformStream<Uint8Array, SpdyDecoded> {
  /**
   * Creates the stream over a new {@linkcode SpdyFrameDecoder}.
   * @param options Limits.
   */
  constructor(options: SpdyFrameDecoderOptions = {}) {
    const decoder = new SpdyFrameDecoder(options);
    super({
      transform(chunk, controller) {
        for (const d of decoder.push(chunk)) controller.enqueue(d);
      },
      flush() {
        if (decoder.pending > 0) {
          throw new SyntaxError(
            `Cannot decode SPDY stream: it ends inside a frame at offset ${decoder.consumed} (${decoder.pending} bytes left)`,
          );
        }
      },
    });
  }
}
