/**
 * A container's log: the bytes its process wrote (plus what tests append),
 * kept in memory up to a limit, with followers for `kubectl logs -f`.
 *
 * @module
 */

/** A bounded in-memory log with followers. */
export class LogBuffer {
  #chunks: Uint8Array[] = [];
  #size = 0;
  #limit: number;
  #followers = new Set<(chunk: Uint8Array | null) => void>();
  #ended = false;

  /**
   * Creates an empty log.
   * @param limit Bytes kept; older bytes are dropped. @default {4194304}
   */
  constructor(limit = 4 * 1024 * 1024) {
    this.#limit = limit;
  }

  /** Whether the container has terminated (followers were closed). */
  get ended(): boolean {
    return this.#ended;
  }

  /** Number of followers, for leak checks. */
  get followerCount(): number {
    return this.#followers.size;
  }

  /**
   * Appends bytes and hands them to every follower.
   * @param chunk Bytes.
   */
  append(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const copy = chunk.slice();
    this.#chunks.push(copy);
    this.#size += copy.length;
    while (this.#size > this.#limit && this.#chunks.length > 1) {
      this.#size -= this.#chunks.shift()!.length;
    }
    for (const f of [...this.#followers]) f(copy);
  }

  /** Marks the log complete: followers get `null` and are dropped. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    for (const f of [...this.#followers]) f(null);
    this.#followers.clear();
  }

  /**
   * The log so far.
   * @param tailLines Only the last N lines (all when undefined or negative).
   * @returns The bytes.
   */
  snapshot(tailLines?: number): Uint8Array {
    const all = new Uint8Array(this.#size);
    let off = 0;
    for (const c of this.#chunks) {
      all.set(c, off);
      off += c.length;
    }
    if (tailLines === undefined || tailLines < 0) return all;
    if (tailLines === 0) return new Uint8Array(0);
    const starts = [0];
    for (let i = 0; i < all.length; i++) {
      if (all[i] === 0x0a) starts.push(i + 1);
    }
    if (starts[starts.length - 1] === all.length) starts.pop();
    const first = starts.length - tailLines;
    return first <= 0 ? all : all.subarray(starts[first]);
  }

  /**
   * A byte stream of the log: the snapshot, then (when `follow`) every new
   * chunk until the log ends or the reader cancels.
   * @param options `follow` and `tailLines`.
   * @returns The stream.
   * @example
   * ```ts
   * import { LogBuffer } from "./log_buffer.ts";
   * const log = new LogBuffer();
   * log.append(new TextEncoder().encode("a\nb\n"));
   * const s = log.stream({ tailLines: 1 });
   * const text = await new Response(s).text();
   * if (text !== "b\n") throw new Error(text);
   * ```
   */
  stream(
    options: { follow?: boolean; tailLines?: number } = {},
  ): ReadableStream<Uint8Array> {
    let unsubscribe = () => {};
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        const snap = this.snapshot(options.tailLines);
        if (snap.length > 0) controller.enqueue(snap);
        if (!options.follow || this.#ended) {
          controller.close();
          return;
        }
        const follower = (chunk: Uint8Array | null) => {
          if (chunk === null) controller.close();
          else controller.enqueue(chunk);
        };
        this.#followers.add(follower);
        unsubscribe = () => this.#followers.delete(follower);
      },
      cancel: () => unsubscribe(),
    });
  }
}
