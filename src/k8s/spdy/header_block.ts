/**
 * SPDY/3 header blocks (SYN_STREAM, SYN_REPLY, HEADERS): a name/value list,
 * zlib-compressed with the {@linkcode SPDY3_DICTIONARY} as preset dictionary.
 *
 * ```
 * decompressed block:
 * +------------------------------------+
 * | number of pairs (32)               |
 * +------------------------------------+
 * | name length (32) | name ...        |   repeated per pair; names are
 * +------------------------------------+   lower case; a value may hold
 * | value length (32) | value ...      |   several values split by NUL
 * +------------------------------------+
 * ```
 *
 * Every block of one direction continues ONE zlib stream (§2.6.10.1): the
 * first block starts with the zlib header (which names the dictionary by its
 * Adler-32), each block ends with a sync flush, and a later block may refer
 * back to bytes of earlier ones. So a decoder keeps one inflater per direction
 * for the whole connection, and an encoder one deflater.
 *
 * @module
 */

// @ts-types="@types/pako"
import pako from "pako";
import { SPDY3_DICTIONARY } from "./dictionary.ts";
import { concatBytes } from "../../bytes.ts";

/** Header name/value pairs in wire order; names lower case. */
export type SpdyHeaders = [name: string, value: string][];

/** Default largest decompressed header block. */
const DEFAULT_MAX_BLOCK = 256 * 1024;

/**
 * The decompressing side of one direction's header-block zlib stream.
 *
 * @example
 * ```ts
 * import { HeaderBlockDeflater, HeaderBlockInflater } from "./header_block.ts";
 * const out = new HeaderBlockDeflater();
 * const inn = new HeaderBlockInflater();
 * const a = inn.inflate(out.deflate([["streamtype", "error"]]));
 * const b = inn.inflate(out.deflate([["streamtype", "stdout"]]));
 * if (a[0]?.[1] !== "error" || b[0]?.[1] !== "stdout") throw new Error();
 * ```
 */
export class HeaderBlockInflater {
  #inflate: pako.Inflate;
  #parts: Uint8Array[] = [];
  #size = 0;
  #max: number;
  #blocks = 0;

  /**
   * Creates an inflater whose zlib stream is primed with the SPDY/3
   * dictionary.
   * @param maxBlockBytes Largest decompressed block, in bytes.
   * @default {262144}
   */
  constructor(maxBlockBytes: number = DEFAULT_MAX_BLOCK) {
    this.#max = maxBlockBytes;
    this.#inflate = new pako.Inflate({ dictionary: SPDY3_DICTIONARY });
    this.#inflate.onData = (chunk: pako.Data) => {
      const bytes = chunk as Uint8Array;
      this.#size += bytes.length;
      if (this.#size > this.#max) {
        throw new RangeError(
          `Cannot inflate SPDY header block ${this.#blocks}: more than ${this.#max} bytes decompressed`,
        );
      }
      this.#parts.push(bytes.slice());
    };
  }

  /** Header blocks decoded so far. */
  get blocks(): number {
    return this.#blocks;
  }

  /**
   * Decompresses one header block and decodes its name/value pairs.
   * @param compressed The block's bytes as in the frame.
   * @returns The pairs.
   * @throws {SyntaxError} The zlib data or the name/value list is invalid.
   * @throws {RangeError} The block decompresses to more than the limit.
   */
  inflate(compressed: Uint8Array): SpdyHeaders {
    return decodeNameValueBlock(this.inflateRaw(compressed), this.#blocks);
  }

  /**
   * Decompresses one header block.
   * @param compressed The block's bytes as in the frame.
   * @returns The decompressed name/value block.
   * @throws {SyntaxError} The zlib data is invalid.
   * @throws {RangeError} The block decompresses to more than the limit.
   */
  inflateRaw(compressed: Uint8Array): Uint8Array {
    const index = ++this.#blocks;
    this.#parts = [];
    this.#size = 0;
    const ok = this.#inflate.push(compressed, pako.constants.Z_SYNC_FLUSH);
    if (!ok || this.#inflate.err) {
      throw new SyntaxError(
        `Cannot inflate SPDY header block ${index}: ${
          this.#inflate.msg || `zlib status ${this.#inflate.err}`
        }`,
      );
    }
    return concatBytes(this.#parts);
  }
}

/**
 * The compressing side of one direction's header-block zlib stream (for the
 * server side and for tests).
 */
export class HeaderBlockDeflater {
  #deflate: pako.Deflate;
  #parts: Uint8Array[] = [];
  #size = 0;

  /**
   * Creates a deflater whose zlib stream is primed with the SPDY/3
   * dictionary.
   * @param level zlib level.
   * @default {9} (what Go's SPDY framer uses)
   */
  constructor(level: pako.DeflateFunctionOptions["level"] = 9) {
    this.#deflate = new pako.Deflate({ level, dictionary: SPDY3_DICTIONARY });
    this.#deflate.onData = (chunk: pako.Data) => {
      const bytes = chunk as Uint8Array;
      this.#parts.push(bytes.slice());
      this.#size += bytes.length;
    };
  }

  /**
   * Encodes and compresses one header block, ending it with a sync flush.
   * @param headers Pairs; names should be lower case.
   * @returns The compressed block.
   */
  deflate(headers: SpdyHeaders): Uint8Array {
    return this.deflateRaw(encodeNameValueBlock(headers));
  }

  /**
   * Compresses an encoded name/value block, ending with a sync flush.
   * @param block Decompressed block bytes.
   * @returns The compressed block.
   * @throws {Error} zlib failed.
   */
  deflateRaw(block: Uint8Array): Uint8Array {
    this.#parts = [];
    this.#size = 0;
    if (!this.#deflate.push(block, pako.constants.Z_SYNC_FLUSH)) {
      throw new Error(
        `Cannot deflate SPDY header block: ${this.#deflate.msg}`,
      );
    }
    return concatBytes(this.#parts);
  }
}

/**
 * Encodes name/value pairs as a (decompressed) SPDY/3 header block.
 * @param headers Pairs.
 * @returns The block bytes.
 */
export function encodeNameValueBlock(headers: SpdyHeaders): Uint8Array {
  const enc = new TextEncoder();
  const parts = headers.map(([n, v]) => [enc.encode(n), enc.encode(v)]);
  const total = 4 +
    parts.reduce((s, [n, v]) => s + 8 + n!.length + v!.length, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint32(0, headers.length);
  let off = 4;
  for (const [n, v] of parts) {
    view.setUint32(off, n!.length);
    out.set(n!, off + 4);
    off += 4 + n!.length;
    view.setUint32(off, v!.length);
    out.set(v!, off + 4);
    off += 4 + v!.length;
  }
  return out;
}

/**
 * Decodes a decompressed SPDY/3 header block.
 * @param block The bytes.
 * @param index Block number, for error messages.
 * @returns The pairs, in order.
 * @throws {SyntaxError} The block is truncated, has trailing bytes or an
 * empty name.
 */
export function decodeNameValueBlock(
  block: Uint8Array,
  index = 0,
): SpdyHeaders {
  const where = `SPDY header block ${index}`;
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
  const dec = new TextDecoder();
  let off = 0;
  const u32 = (what: string): number => {
    if (off + 4 > block.length) {
      throw new SyntaxError(
        `Cannot decode ${where}: truncated at byte ${off} reading the ${what}`,
      );
    }
    const n = view.getUint32(off);
    off += 4;
    return n;
  };
  const bytes = (n: number, what: string): string => {
    if (off + n > block.length) {
      throw new SyntaxError(
        `Cannot decode ${where}: ${what} of ${n} bytes at byte ${off} runs past the end (${block.length} bytes)`,
      );
    }
    const s = dec.decode(block.subarray(off, off + n));
    off += n;
    return s;
  };
  const count = u32("pair count");
  const headers: SpdyHeaders = [];
  for (let i = 0; i < count; i++) {
    const name = bytes(u32("name length"), "name");
    if (name === "") {
      throw new SyntaxError(
        `Cannot decode ${where}: name of pair ${i + 1} is empty`,
      );
    }
    headers.push([name, bytes(u32("value length"), "value")]);
  }
  if (off !== block.length) {
    throw new SyntaxError(
      `Cannot decode ${where}: ${
        block.length - off
      } bytes after ${count} pairs`,
    );
  }
  return headers;
}

/**
 * Looks a header up by name, case-insensitively.
 * @param headers Pairs.
 * @param name Name.
 * @returns The first value, or undefined.
 */
export function headerValue(
  headers: SpdyHeaders,
  name: string,
): string | undefined {
  const lower = name.toLowerCase();
  return headers.find(([n]) => n.toLowerCase() === lower)?.[1];
}
