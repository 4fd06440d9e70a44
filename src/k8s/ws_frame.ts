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

import { ByteQueue } from "./_byte_queue.ts";

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
  #queue = new ByteQueue();
  #max: number;
  /** Header of the frame at the front of the queue, once it is whole. */
  #head: FrameHead | undefined;
  /** Total bytes consumed into complete frames so far. */
  consumed = 0;

  /**
   * Creates a parser with nothing buffered.
   * @param options Limits.
   */
  constructor(options: WsFrameParserOptions = {}) {
    this.#max = options.maxFramePayload ?? 16 * 1024 * 1024;
  }

  /** Bytes held back because they do not yet form a whole frame. */
  get pending(): number {
    return this.#queue.length;
  }

  /**
   * Bytes this parser has copied so far: each payload once, plus bytes held
   * back across pushes once. At most twice the input, for any split.
   */
  get copiedBytes(): number {
    return this.#queue.copied;
  }

  /**
   * Adds a chunk and returns every frame it completes. Linear in the chunk's
   * size whatever came before: held-back bytes are kept as a list and a
   * frame's bytes are copied once, when the frame is whole. The chunk is not
   * modified and not retained after the call.
   * @param chunk Bytes as they came off the wire.
   * @returns Complete frames, in order.
   * @throws {RangeError} A frame is larger than `maxFramePayload`.
   * @throws {SyntaxError} A frame header is malformed.
   */
  push(chunk: Uint8Array): WsFrame[] {
    const q = this.#queue;
    q.push(chunk);
    const frames: WsFrame[] = [];
    try {
      while (true) {
        const head = this.#head ?? this.#readHead();
        if (head === undefined || q.length < head.wireLength) break;
        this.#head = undefined;
        const mask = head.masked
          ? [
            q.byteAt(head.maskOffset),
            q.byteAt(head.maskOffset + 1),
            q.byteAt(head.maskOffset + 2),
            q.byteAt(head.maskOffset + 3),
          ]
          : undefined;
        q.skip(head.wireLength - head.length);
        // A fresh copy, never a view: unmasking must not rewrite the caller's bytes.
        const payload = q.take(head.length);
        if (mask !== undefined) unmask(payload, mask);
        frames.push({
          fin: head.fin,
          opcode: head.opcode,
          masked: head.masked,
          payload,
          wireLength: head.wireLength,
        });
        this.consumed += head.wireLength;
      }
    } finally {
      q.own();
    }
    return frames;
  }

  /** Decodes the header at the front once its bytes are there; checks it. */
  #readHead(): FrameHead | undefined {
    const q = this.#queue;
    const avail = q.length;
    if (avail < 2) return undefined;
    const b0 = q.byteAt(0);
    const b1 = q.byteAt(1);
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
      len = (q.byteAt(2) << 8) | q.byteAt(3);
      hdr = 4;
    } else if (len === 127) {
      if (avail < 10) return undefined;
      const bytes: number[] = [];
      for (let i = 2; i < 10; i++) bytes.push(q.byteAt(i));
      const [h0, h1, h2, h3, l0, l1, l2, l3] = bytes as [
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
      ];
      const hi = ((h0 << 24) >>> 0) + (h1 << 16) + (h2 << 8) + h3;
      const lo = ((l0 << 24) >>> 0) + (l1 << 16) + (l2 << 8) + l3;
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
    const maskOffset = hdr;
    if (masked) hdr += 4;
    this.#head = {
      fin,
      opcode,
      masked,
      maskOffset,
      length: len,
      wireLength: hdr + len,
    };
    return this.#head;
  }
}

/** A decoded frame header, waiting for its payload. */
interface FrameHead {
  fin: boolean;
  opcode: number;
  masked: boolean;
  /** Offset of the masking key from the frame's first byte. */
  maskOffset: number;
  /** Payload length. */
  length: number;
  /** Header plus payload. */
  wireLength: number;
}

/** XORs a payload with its masking key, in place (the payload is our copy). */
function unmask(payload: Uint8Array, mask: number[]): void {
  const m0 = mask[0]!, m1 = mask[1]!, m2 = mask[2]!, m3 = mask[3]!;
  const n = payload.length;
  let i = 0;
  // Four bytes per step through a 32-bit view where the copy is aligned.
  if (n >= 64 && payload.byteOffset % 4 === 0) {
    const words = new Uint32Array(payload.buffer, payload.byteOffset, n >>> 2);
    const key = new Uint32Array(new Uint8Array([m0, m1, m2, m3]).buffer)[0]!;
    for (let w = 0; w < words.length; w++) words[w]! ^= key;
    i = words.length * 4;
  }
  for (; i < n; i++) {
    const k = (i & 3) === 0 ? m0 : (i & 3) === 1 ? m1 : (i & 3) === 2 ? m2 : m3;
    payload[i]! ^= k;
  }
}

/**
 * A `TransformStream` from raw WebSocket bytes to {@linkcode WsFrame}s.
 * A chunk boundary anywhere is normal input; leftover bytes at the end are an
 * error.
 */
export class WsFrameDecoderStream extends TransformStream<Uint8Array, WsFrame> {
  /**
   * Creates the stream over a new {@linkcode WsFrameParser}.
   * @param options Limits.
   */
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
