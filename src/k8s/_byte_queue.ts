/**
 * A queue of byte chunks for incremental decoders: linear in its input for
 * any split (STYLE.md habit 17).
 *
 * Chunks are kept in a list, never joined on push. A decoder reads a frame's
 * header with {@linkcode ByteQueue.byteAt} and takes the frame's bytes with
 * {@linkcode ByteQueue.take} once they are all there: one copy. At the end of
 * each push the decoder calls {@linkcode ByteQueue.own}, which copies the
 * bytes still borrowed from the caller's chunks (the start of an incomplete
 * frame) into memory the queue owns, so a caller may reuse its buffer and a
 * large chunk is never pinned. Every byte is therefore copied at most twice:
 * once when held back, once into its frame.
 *
 * @module
 */

/**
 * Size of an owned block that small held-back pieces are gathered in. Small,
 * so that a thousand idle sessions holding a partial frame pin little.
 */
const BLOCK_BYTES = 16 * 1024;

/** Drop consumed list slots once this many have piled up at the front. */
const COMPACT_AFTER = 1024;

/**
 * Incremental byte buffer of a decoder (private to `k8s`).
 *
 * @example
 * ```ts
 * import { ByteQueue } from "./_byte_queue.ts";
 * const q = new ByteQueue();
 * q.push(new Uint8Array([1, 2]));
 * q.push(new Uint8Array([3]));
 * const first = q.byteAt(2);
 * const taken = q.take(3);
 * if (first !== 3 || taken.join() !== "1,2,3" || q.length !== 0) throw new Error();
 * ```
 */
export class ByteQueue {
  #chunks: Uint8Array[] = [];
  /** Index of the first live chunk in `#chunks`. */
  #head = 0;
  /** Chunks from this index on are the caller's, not copies. */
  #borrowed = 0;
  #length = 0;
  #copied = 0;
  /**
   * The owned block the last entry of `#chunks` is a view of, while that
   * entry can still grow; `#blockUsed` bytes of it are taken.
   */
  #block: Uint8Array | undefined;
  #blockUsed = 0;

  /** Bytes held. */
  get length(): number {
    return this.#length;
  }

  /** Bytes copied so far (held-back bytes and taken bytes), for tests and benchmarks. */
  get copied(): number {
    return this.#copied;
  }

  /**
   * Appends a chunk without copying it. Call {@linkcode ByteQueue.own} before
   * handing control back to the caller.
   * @param chunk Bytes; borrowed until `own()`.
   */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /**
   * The byte at an offset from the front.
   * @param index Offset; must be below {@linkcode ByteQueue.length}.
   * @returns The byte.
   */
  byteAt(index: number): number {
    for (let i = this.#head; i < this.#chunks.length; i++) {
      const c = this.#chunks[i]!;
      if (index < c.length) return c[index]!;
      index -= c.length;
    }
    throw new RangeError(
      `Cannot read byte queue: offset ${index} is past the ${this.#length} bytes held`,
    );
  }

  /**
   * Removes the first `n` bytes without copying them.
   * @param n Count; at most {@linkcode ByteQueue.length}.
   */
  skip(n: number): void {
    this.#length -= n;
    while (n > 0) {
      const c = this.#chunks[this.#head]!;
      if (n < c.length) {
        this.#chunks[this.#head] = c.subarray(n);
        return;
      }
      n -= c.length;
      this.#drop();
    }
  }

  /**
   * Removes the first `n` bytes and returns them in a fresh array (never a
   * view of a caller's chunk, so the result may be modified).
   * @param n Count; at most {@linkcode ByteQueue.length}.
   * @returns The bytes.
   */
  take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    this.#length -= n;
    this.#copied += n;
    let off = 0;
    while (off < n) {
      const c = this.#chunks[this.#head]!;
      const want = n - off;
      if (want < c.length) {
        out.set(c.subarray(0, want), off);
        this.#chunks[this.#head] = c.subarray(want);
        break;
      }
      out.set(c, off);
      off += c.length;
      this.#drop();
    }
    return out;
  }

  /**
   * Copies the bytes still borrowed from callers into owned memory. Small
   * pieces are appended to one owned block of {@linkcode BLOCK_BYTES}, so a
   * frame arriving in many small chunks costs a few allocations, not one per
   * chunk.
   */
  own(): void {
    const from = Math.max(this.#borrowed, this.#head);
    if (from === this.#chunks.length - 1) {
      this.#append(this.#chunks.pop()!); // the usual case: one chunk per push
    } else if (from < this.#chunks.length) {
      const borrowed = this.#chunks.splice(from);
      for (const c of borrowed) this.#append(c);
    }
    this.#borrowed = this.#chunks.length;
  }

  #append(c: Uint8Array): void {
    this.#copied += c.length;
    const last = this.#chunks.length - 1;
    const block = this.#block;
    if (
      block !== undefined && last >= this.#head &&
      this.#blockUsed + c.length <= block.length
    ) {
      // The last entry is a view of the block ending at #blockUsed: extend it.
      const start = this.#chunks[last]!.byteOffset - block.byteOffset;
      block.set(c, this.#blockUsed);
      this.#blockUsed += c.length;
      this.#chunks[last] = block.subarray(start, this.#blockUsed);
      return;
    }
    if (c.length >= BLOCK_BYTES / 2) {
      const copy = new Uint8Array(c.length);
      copy.set(c);
      this.#chunks.push(copy);
      this.#block = undefined;
      return;
    }
    const fresh = new Uint8Array(BLOCK_BYTES);
    fresh.set(c);
    this.#block = fresh;
    this.#blockUsed = c.length;
    this.#chunks.push(fresh.subarray(0, c.length));
  }

  #drop(): void {
    this.#head++;
    if (this.#head === this.#chunks.length) {
      this.#chunks = [];
      this.#head = 0;
      this.#borrowed = 0;
      this.#block = undefined;
    } else if (
      this.#head >= COMPACT_AFTER && this.#head * 2 >= this.#chunks.length
    ) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#borrowed = Math.max(0, this.#borrowed - this.#head);
      this.#head = 0;
    }
  }
}
