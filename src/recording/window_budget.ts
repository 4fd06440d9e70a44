/**
 * One bound on the unacknowledged recording bytes a proxy holds across all
 * its sessions. Each fail-closed session also has its own window
 * (`windowBytes`), which gives one session its speed; this budget keeps the
 * sum of those windows within memory when many sessions stream at once: a
 * session over budget waits (its upstream is not read), it is not ended.
 * A session with nothing in flight may always send one more piece, so every
 * session keeps moving however the budget is shared.
 *
 * Measured before it existed (bench, 1,000 fail-closed sessions of 1 MiB,
 * 4 MiB windows): the proxy held every session's output at once, grew to
 * 3.1 GiB and stalled for more than 10 s at a time (garbage collection near
 * the heap limit), and 983 sessions ended with "no acknowledgement for
 * 10000 ms".
 *
 * @module
 */

/** A shared bound on in-flight bytes. */
export class WindowBudget {
  /** The bound, in bytes. */
  readonly limit: number;
  #used = 0;
  #listeners = new Set<() => void>();

  /**
   * Creates a budget with nothing taken.
   * @param limit Bytes in flight across all sessions.
   * @throws {RangeError} The limit is not a positive integer.
   * @example
   * ```ts
   * import { WindowBudget } from "./window_budget.ts";
   * const b = new WindowBudget(10);
   * b.take(10);
   * if (!b.full) throw new Error();
   * b.give(4);
   * if (b.full || b.used !== 6) throw new Error();
   * ```
   */
  constructor(limit: number) {
    if (!Number.isSafeInteger(limit) || limit <= 0) {
      throw new RangeError(
        `Cannot make a window budget of ${limit} bytes: expected a positive integer`,
      );
    }
    this.limit = limit;
  }

  /** Bytes in flight now. */
  get used(): number {
    return this.#used;
  }

  /** Whether the budget is spent. */
  get full(): boolean {
    return this.#used >= this.limit;
  }

  /**
   * Counts bytes sent.
   * @param n Bytes.
   */
  take(n: number): void {
    this.#used += n;
  }

  /**
   * Counts bytes acknowledged (or abandoned), and wakes the waiting sessions
   * when there is room again.
   * @param n Bytes.
   */
  give(n: number): void {
    if (n <= 0) return;
    const wasFull = this.full;
    this.#used = Math.max(0, this.#used - n);
    if (wasFull && !this.full) {
      for (const fn of [...this.#listeners]) fn();
    }
  }

  /**
   * Calls `fn` whenever the budget stops being full.
   * @param fn Listener.
   * @returns A function that removes it.
   */
  onRoom(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }
}
