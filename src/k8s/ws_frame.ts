/**
 * WebSocket frames (RFC 6455 §5.2): an incremental decoder that accepts bytes
 * split anywhere, and an encoder.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-------+-+-------------+-------------------------------+
 * |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
 * |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
 * |N|V|V|V|       |S|             |   (if payload len==126/127)   |
 * | |1|2|3|       |K|             |                               |
 * +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
 * |     Extended payload length continued, if payload len == 127  |
 * + - - - - - - - - - - - - - - - +-------------------------------+
 * |                               |Masking-key, if MASK set to 1  |
 * +-------------------------------+-------------------------------+
 * | Masking-key (continued)       |          Payload Data         |
 * +-------------------------------- - - - - - - - - - - - - - - - +
 * ```
 *
 * @module
 */

/** One decoded WebSocket frame, payload already unmasked. */
export interface WsFrame {
  /** FIN bit: this frame ends its message. */
  fin: boolean;
  /** Opcode (0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong). */
  opcode: number;
  /** Whether the frame was masked on the wire (client → server frames are). */
  masked: boolean;
  /** Unmasked payload bytes. */
  payload: Uint8Array;
  /** Size of the whole frame on the wire, header included. */
  wireLength: number;
}

/** Options of {@linkcode WsFrameParser}. */
export interface WsFrameParserOptions {
  /**
   * Largest payload accepted in one frame, in bytes. A larger frame is a
   * `RangeError`.
   * @default {16777216} (16 MiB)
   */
  maxFramePayload?: number;
}

/**
 * Incremental WebSocket frame decoder. Feed it chunks with
 * {@linkcode WsFrameParser.push}; it returns the frames completed by that chunk
 * and keeps any partial frame for the next call.
 *
 * @example
 * ```ts
 * import { encodeWsFrame, WsFrameParser } from "./ws_frame.ts";
 * const bytes = encodeWsFrame({ opcode: 2, payload: new Uint8Array([1, 104, 105]) });
 * const parser = new WsFrameParser();
 * const first = parser.push(bytes.subarray(0, 3));
 * const second = parser.push(bytes.subarray(3));
 * if (first.length !== 0 || second.length !== 1) throw new Error("unexpected");
 * ```
 */
export class WsFrameParser {
  #buf: Uint8Array = new Uint8Array(0);
  #max: number;
  /** Total bytes consumed into complete frames so far. */
  consumed = 0;

  /** @param options Limits. */
  constructor(options: WsFrameParserOptions = {}) {
    this.#max = options.maxFramePayload ?? 16 * 1024 * 1024;
  }

  /** Bytes held back because they do not yet form a whole frame. */
  get pending(): number {
    return this.#buf.length;
  }

  /**
   * Adds a chunk and returns every frame it completes.
   * @param chunk Bytes as they came off the wire.
   * @returns Complete frames, in order.
   * @throws {RangeError} A frame is larger than `maxFramePayload`.
   * @throws {SyntaxError} A frame header is malformed.
   */
  push(chunk: Uint8Array): WsFrame[] {
    let buf: Uint8Array;
    if (this.#buf.length === 0) buf = chunk;
    else {
      buf = new Uint8Array(this.#buf.length + chunk.length);
      buf.set(this.#buf, 0);
      buf.set(chunk, this.#buf.length);
    }
    const frames: WsFrame[] = [];
    let off = 0;
    while (true) {
      const frame = this.#decodeOne(buf, off);
      if (frame === undefined) break;
      frames.push(frame);
      off += frame.wireLength;
      this.consumed += frame.wireLength;
    }
    // Copy the remainder so we never pin a large caller-owned chunk.
    this.#buf = off === buf.length ? new Uint8Array(0) : copyOf(buf, off);
    return frames;
  }

  #decodeOne(buf: Uint8Array, off: number): WsFrame | undefined {
    const avail = buf.length - off;
    if (avail < 2) return undefined;
    const b0 = buf[off]!;
    const b1 = buf[off + 1]!;
    const fin = (b0 & 0x80) !== 0;
    if ((b0 & 0x70) !== 0) {
      throw new SyntaxError(
        `Cannot decode WebSocket frame: reserved bits 0x${
          (b0 & 0x70).toString(16)
        } are set at byte ${this.consumed}`,
      );
    }
    const opcode = b0 & 0x0f;
    if ((opcode > 2 && opcode < 8) || opcode > 10) {
      throw new SyntaxError(
        `Cannot decode WebSocket frame: opcode ${opcode} is unknown at byte ${this.consumed}`,
      );
    }
    const masked = (b1 & 0x80) !== 0;
    let len = b1 & 0x7f;
    let hdr = 2;
    if (len === 126) {
      if (avail < 4) return undefined;
      len = (buf[off + 2]! << 8) | buf[off + 3]!;
      hdr = 4;
    } else if (len === 127) {
      if (avail < 10) return undefined;
      const hi = ((buf[off + 2]! << 24) >>> 0) + (buf[off + 3]! << 16) +
        (buf[off + 4]! << 8) + buf[off + 5]!;
      const lo = ((buf[off + 6]! << 24) >>> 0) + (buf[off + 7]! << 16) +
        (buf[off + 8]! << 8) + buf[off + 9]!;
      if (hi >= 0x200000) {
        throw new RangeError(
          `Cannot decode WebSocket frame: 64-bit length does not fit at byte ${this.consumed}`,
        );
      }
      len = hi * 0x100000000 + lo;
      hdr = 10;
    }
    if (opcode >= 8 && (len > 125 || !fin)) {
      throw new SyntaxError(
        `Cannot decode WebSocket frame: control frame ${opcode} is fragmented or longer than 125 bytes at byte ${this.consumed}`,
      );
    }
    if (len > this.#max) {
      throw new RangeError(
        `Cannot decode WebSocket frame: payload of ${len} bytes exceeds the limit of ${this.#max} bytes`,
      );
    }
    const maskOff = hdr;
    if (masked) hdr += 4;
    if (avail < hdr + len) return undefined;
    const start = off + hdr;
    // A copy, never a view: unmasking must not rewrite the caller's bytes.
    const payload = copyOf(buf, start, start + len);
    if (masked) {
      const m0 = buf[off + maskOff]!;
      const m1 = buf[off + maskOff + 1]!;
      const m2 = buf[off + maskOff + 2]!;
      const m3 = buf[off + maskOff + 3]!;
      const mask = [m0, m1, m2, m3];
      for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
    }
    return { fin, opcode, masked, payload, wireLength: hdr + len };
  }
}

/**
 * Copies bytes out of `buf`. `Buffer#slice` (Node) returns a view, not a
 * copy, so `Uint8Array.prototype.slice` is called explicitly.
 */
function copyOf(buf: Uint8Array, start: number, end?: number): Uint8Array {
  return Uint8Array.prototype.slice.call(buf, start, end);
}

/**
 * A `TransformStream` from raw WebSocket bytes to {@linkcode WsFrame}s.
 * A chunk boundary anywhere is normal input; leftover bytes at the end are an
 * error.
 */
export class WsFrameDecoderStream extends TransformStream<Uint8Array, WsFrame> {
  /** @param options Limits. */
  constructor(options: WsFrameParserOptions = {}) {
    const parser = new WsFrameParser(options);
    super({
      transform(chunk, controller) {
        for (const f of parser.push(chunk)) controller.enqueue(f);
      },
      flush() {
        if (parser.pending > 0) {
          throw new SyntaxError(
            `Cannot decode WebSocket frame: stream ended inside a frame (${parser.pending} bytes pending)`,
          );
        }
      },
    });
  }
}

/** A frame to encode. */
export interface WsFrameInit {
  /** Opcode. */
  opcode: number;
  /** Payload. */
  payload: Uint8Array;
  /** FIN bit. @default {true} */
  fin?: boolean;
  /** Masking key; client → server frames must be masked. @default {undefined} */
  mask?: Uint8Array;
}

/**
 * Encodes one WebSocket frame.
 * @param init The frame.
 * @returns The frame's bytes.
 */
export function encodeWsFrame(init: WsFrameInit): Uint8Array {
  const { opcode, payload, fin = true, mask } = init;
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const hdr = 2 + ext + (mask ? 4 : 0);
  const out = new Uint8Array(hdr + len);
  out[0] = (fin ? 0x80 : 0) | (opcode & 0x0f);
  out[1] = (mask ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127);
  if (ext === 2) {
    out[2] = len >>> 8;
    out[3] = len & 0xff;
  } else if (ext === 8) {
    const hi = Math.floor(len / 0x100000000);
    new DataView(out.buffer).setUint32(2, hi);
    new DataView(out.buffer).setUint32(6, len >>> 0);
  }
  if (mask) {
    out.set(mask.subarray(0, 4), 2 + ext);
    for (let i = 0; i < len; i++) out[hdr + i] = payload[i]! ^ mask[i & 3]!;
  } else {
    out.set(payload, hdr);
  }
  return out;
}
