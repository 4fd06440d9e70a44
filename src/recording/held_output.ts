/**
 * The client-bound bytes a recorded session holds back, and when each may
 * go: exec/attach sessions (`recording_session.ts`) and port-forwards
 * (`portforward_session.ts`) keep what upstream sent here and release it in
 * order, up to an offset. Fail closed, each release point waits for the
 * recorder to acknowledge the upload bytes written before it
 * ({@linkcode HeldOutput.releaseAcked}); fail open, bytes go as soon as
 * they are whole ({@linkcode HeldOutput.releaseTo}).
 *
 * The queue only keeps and cuts chunks (one copy-free `subarray` at a cut);
 * where a piece goes is the caller's `out`, which returns `false` when the
 * client is gone (release stops there).
 *
 * @module
 */

/** Takes a released piece; `false`: the client is gone, stop releasing. */
export type ReleaseTo = (piece: Uint8Array) => boolean;

/**
 * Held upstream bytes and the points they may be released at.
 *
 * @example
 * ```ts
 * import { HeldOutput } from "./held_output.ts";
 * const h = new HeldOutput();
 * h.hold(new Uint8Array([1, 2, 3]));
 * h.mark(2, 10); // bytes up to offset 2 once 10 upload bytes are acknowledged
 * const out: number[] = [];
 * h.releaseAcked(9, (p) => (out.push(...p), true));
 * h.releaseAcked(10, (p) => (out.push(...p), true));
 * if (out.join() !== "1,2" || h.released !== 2) throw new Error();
 * ```
 */
export class HeldOutput {
  #held: Uint8Array[] = [];
  #points: { upTo: number; ack: number }[] = [];
  #released = 0;

  /** Upstream bytes released so far (the offset of the next held byte). */
  get released(): number {
    return this.#released;
  }

  /**
   * Holds a chunk from upstream, after the ones before it.
   * @param chunk The bytes (kept, not copied).
   */
  hold(chunk: Uint8Array): void {
    this.#held.push(chunk);
  }

  /**
   * Bytes up to upstream offset `upTo` may go once `ack` upload bytes are
   * acknowledged.
   * @param upTo Upstream offset.
   * @param ack Upload bytes written before it.
   */
  mark(upTo: number, ack: number): void {
    this.#points.push({ upTo, ack });
  }

  /**
   * Releases every point whose upload bytes are acknowledged.
   * @param acked Upload bytes acknowledged.
   * @param out Where pieces go.
   * @returns `false` when `out` refused a piece.
   */
  releaseAcked(acked: number, out: ReleaseTo): boolean {
    while (this.#points.length > 0 && this.#points[0]!.ack <= acked) {
      if (!this.releaseTo(this.#points.shift()!.upTo, out)) return false;
    }
    return true;
  }

  /**
   * Releases held bytes up to upstream offset `upTo`, chunk by chunk.
   * @param upTo Upstream offset.
   * @param out Where pieces go.
   * @returns `false` when `out` refused a piece.
   */
  releaseTo(upTo: number, out: ReleaseTo): boolean {
    let n = upTo - this.#released;
    while (n > 0) {
      const c = this.#held[0]!;
      let piece = c;
      if (c.length <= n) this.#held.shift();
      else {
        piece = c.subarray(0, n);
        this.#held[0] = c.subarray(n);
      }
      n -= piece.length;
      this.#released += piece.length;
      if (!out(piece)) return false;
    }
    return true;
  }

  /**
   * Releases everything held, whatever the points (fail open after a
   * failure), and forgets the points.
   * @param out Where chunks go.
   * @returns `false` when `out` refused a chunk.
   */
  releaseAll(out: ReleaseTo): boolean {
    for (const c of this.#held.splice(0)) {
      this.#released += c.length;
      if (!out(c)) return false;
    }
    this.#points = [];
    return true;
  }

  /** Drops everything held and every point (the session ended). */
  clear(): void {
    this.#held = [];
    this.#points = [];
  }
}
