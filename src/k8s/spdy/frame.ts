/**
 * SPDY/3 framing: the 8-byte frame header, an incremental parser of raw
 * frames, and encoders. Header blocks stay compressed here; see
 * {@linkcode SpdyFrameDecoder} for typed frames.
 *
 * ```
 * control frame                         data frame
 * +-+-------------+----------------+    +-+------------------------------+
 * |1| version (15)|   type (16)    |    |0|       stream id (31)         |
 * +-+-------------+----------------+    +-+------------------------------+
 * | flags (8) |    length (24)     |    | flags (8) |    length (24)     |
 * +-----------+--------------------+    +-----------+--------------------+
 * |    payload (length bytes)      |    |    payload (length bytes)      |
 * +--------------------------------+    +--------------------------------+
 * ```
 *
 * Source: SPDY Protocol Draft 3 §2.2 (framing) and §2.6 (control frames),
 * https://www.chromium.org/spdy/spdy-protocol/spdy-protocol-draft3/ .
 * SPDY/3.1 only adds session-level flow control (WINDOW_UPDATE on stream 0).
 *
 * @module
 */

import { ByteQueue } from "../_byte_queue.ts";

/** The protocol version in every control frame. */
export const SPDY_VERSION = 3;

/** SYN_STREAM: opens a stream (carries a header block). */
export const TYPE_SYN_STREAM = 1;
/** SYN_REPLY: accepts a stream (carries a header block). */
export const TYPE_SYN_REPLY = 2;
/** RST_STREAM: aborts a stream with a status code. */
export const TYPE_RST_STREAM = 3;
/** SETTINGS: session parameters. */
export const TYPE_SETTINGS = 4;
/** PING: echoed by the peer. */
export const TYPE_PING = 6;
/** GOAWAY: no new streams; the session ends. */
export const TYPE_GOAWAY = 7;
/** HEADERS: more headers for a stream (carries a header block). */
export const TYPE_HEADERS = 8;
/** WINDOW_UPDATE: flow-control credit for a stream, or the session (id 0). */
export const TYPE_WINDOW_UPDATE = 9;

/** FIN flag of DATA, SYN_STREAM, SYN_REPLY and HEADERS: last frame of the sender. */
export const FLAG_FIN = 0x01;
/** UNIDIRECTIONAL flag of SYN_STREAM: the receiver will not send on it. */
export const FLAG_UNIDIRECTIONAL = 0x02;

/** Size of a frame header. */
export const FRAME_HEADER_BYTES = 8;
/** Largest payload the 24-bit length field can say. */
export const MAX_FRAME_PAYLOAD = 0xffffff;

/** One frame as it is on the wire, header fields decoded, payload raw. */
export interface SpdyRawFrame {
  /** Whether the control bit is set. */
  control: boolean;
  /** Control frames: the version (3). Data frames: 0. */
  version: number;
  /** Control frames: the frame type. Data frames: 0. */
  type: number;
  /** Data frames: the stream id. Control frames: 0 (it is in the payload). */
  streamId: number;
  /** The 8-bit flags. */
  flags: number;
  /** The payload (a copy or a view owned by the frame). */
  payload: Uint8Array;
  /** Offset of the frame's first byte in the byte stream. */
  offset: number;
}

/** Options of {@linkcode SpdyFrameParser}. */
export interface SpdyFrameParserOptions {
  /**
   * Largest payload accepted, in bytes; a longer frame is a `RangeError`.
   * @default {16777215} (what the length field can say)
   */
  maxFramePayload?: number;
}

/**
 * Incremental, synchronous parser of SPDY frames: feed it bytes split
 * anywhere and it returns the whole frames they complete. Bytes of an
 * incomplete frame are kept as a list of chunks and copied into their frame
 * once, when it is whole.
 *
 * @example
 * ```ts
 * import { encodeDataFrame, SpdyFrameParser } from "./frame.ts";
 * const wire = encodeDataFrame(1, new Uint8Array([104, 105]), true);
 * const parser = new SpdyFrameParser();
 * const none = parser.push(wire.subarray(0, 5));
 * const [frame] = parser.push(wire.subarray(5));
 * if (none.length !== 0 || frame?.streamId !== 1 || frame.flags !== 1) throw new Error();
 * ```
 */
export class SpdyFrameParser {
  #max: number;
  #queue = new ByteQueue();
  /** Whole size of the frame at the front, once its header is there. */
  #need: number | undefined;
  #consumed = 0;

  /**
   * Creates a parser with nothing buffered.
   * @param options Limits.
   */
  constructor(options: SpdyFrameParserOptions = {}) {
    this.#max = options.maxFramePayload ?? MAX_FRAME_PAYLOAD;
  }

  /** Bytes consumed into whole frames so far. */
  get consumed(): number {
    return this.#consumed;
  }

  /** Bytes held back because they do not form a whole frame yet. */
  get pending(): number {
    return this.#queue.length;
  }

  /**
   * Bytes this parser has copied so far: each frame once, plus bytes held
   * back across pushes once. At most twice the input, for any split.
   */
  get copiedBytes(): number {
    return this.#queue.copied;
  }

  /**
   * Adds bytes and returns the frames they complete. Linear in the chunk's
   * size whatever came before; the chunk is not retained after the call.
   * @param chunk Bytes as they came off the wire.
   * @returns Whole frames, in order; each payload is a fresh copy.
   * @throws {RangeError} A frame's payload is longer than `maxFramePayload`.
   */
  push(chunk: Uint8Array): SpdyRawFrame[] {
    const q = this.#queue;
    q.push(chunk);
    const frames: SpdyRawFrame[] = [];
    try {
      while (true) {
        if (this.#need === undefined) {
          if (q.length < FRAME_HEADER_BYTES) break;
          const length = (q.byteAt(5) << 16) | (q.byteAt(6) << 8) |
            q.byteAt(7);
          if (length > this.#max) {
            throw new RangeError(
              `Cannot decode SPDY frame at offset ${this.#consumed}: payload of ${length} bytes exceeds the limit of ${this.#max} bytes`,
            );
          }
          this.#need = FRAME_HEADER_BYTES + length;
        }
        if (q.length < this.#need) break;
        const bytes = q.take(this.#need);
        this.#need = undefined;
        const control = (bytes[0]! & 0x80) !== 0;
        const word = ((bytes[0]! << 24) | (bytes[1]! << 16) |
          (bytes[2]! << 8) | bytes[3]!) >>> 0;
        frames.push({
          control,
          version: control ? (word >>> 16) & 0x7fff : 0,
          type: control ? word & 0xffff : 0,
          streamId: control ? 0 : word & 0x7fffffff,
          flags: bytes[4]!,
          payload: bytes.subarray(FRAME_HEADER_BYTES),
          offset: this.#consumed,
        });
        this.#consumed += bytes.length;
      }
    } finally {
      q.own();
    }
    return frames;
  }
}

function writeHeader(out: Uint8Array, word: number, flags: number, n: number) {
  out[0] = word >>> 24;
  out[1] = (word >>> 16) & 0xff;
  out[2] = (word >>> 8) & 0xff;
  out[3] = word & 0xff;
  out[4] = flags;
  out[5] = (n >>> 16) & 0xff;
  out[6] = (n >>> 8) & 0xff;
  out[7] = n & 0xff;
}

function checkLength(what: string, n: number): void {
  if (n > MAX_FRAME_PAYLOAD) {
    throw new RangeError(
      `Cannot encode SPDY ${what} frame: payload of ${n} bytes exceeds ${MAX_FRAME_PAYLOAD} bytes`,
    );
  }
}

/**
 * Encodes a DATA frame.
 * @param streamId Stream id (1 to 2^31-1).
 * @param data Payload.
 * @param fin Set the FIN flag.
 * @returns The frame's bytes.
 * @throws {RangeError} The payload is too long or the stream id is invalid.
 */
export function encodeDataFrame(
  streamId: number,
  data: Uint8Array,
  fin = false,
): Uint8Array {
  if (!Number.isInteger(streamId) || streamId < 1 || streamId > 0x7fffffff) {
    throw new RangeError(
      `Cannot encode SPDY data frame: stream id "${streamId}" is invalid`,
    );
  }
  checkLength("data", data.length);
  const out = new Uint8Array(FRAME_HEADER_BYTES + data.length);
  writeHeader(out, streamId, fin ? FLAG_FIN : 0, data.length);
  out.set(data, FRAME_HEADER_BYTES);
  return out;
}

/**
 * Encodes a control frame from its type, flags and payload.
 * @param type Frame type (`TYPE_*`).
 * @param flags Flags.
 * @param payload Payload (header blocks already compressed).
 * @returns The frame's bytes.
 * @throws {RangeError} The payload is too long.
 */
export function encodeControlFrame(
  type: number,
  flags: number,
  payload: Uint8Array,
): Uint8Array {
  checkLength(`control (type ${type})`, payload.length);
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  writeHeader(
    out,
    (0x80000000 | (SPDY_VERSION << 16) | type) >>> 0,
    flags,
    payload.length,
  );
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/**
 * Big-endian 32-bit words, for control frame payloads.
 * @param words Unsigned values.
 * @returns The bytes.
 */
export function u32s(...words: number[]): Uint8Array {
  const out = new Uint8Array(words.length * 4);
  const view = new DataView(out.buffer);
  words.forEach((w, i) => view.setUint32(i * 4, w >>> 0));
  return out;
}
