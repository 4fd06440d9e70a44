/**
 * Byte helpers shared by the codecs, the relay and the recorder.
 *
 * @module
 */

/**
 * Joins byte arrays into one. A single piece is returned as it is (no copy),
 * so callers must not rely on getting a fresh array.
 * @param parts The pieces, in order.
 * @returns An array holding all of them.
 * @example
 * ```ts
 * import { concatBytes } from "./bytes.ts";
 * const b = concatBytes([new Uint8Array([1]), new Uint8Array([2, 3])]);
 * if (b.join() !== "1,2,3") throw new Error();
 * ```
 */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
