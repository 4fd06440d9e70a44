/**
 * An in-memory {@linkcode ByteDuplex} for unit tests of byte handling: the
 * test feeds what the peer sends (`receive`, `end`) and reads what the code
 * under test wrote (`bytes`, `text`, `until`).
 *
 * @module
 */

import type { ByteDuplex } from "../proxy/duplex.ts";

/** A fake connection recording what was written to it. */
export class FakeSocket implements ByteDuplex {
  /** Bytes written by the code under test. */
  written: Uint8Array[] = [];
  /** The code under test closed its writable side. */
  ended = false;
  /** `close()` was called, or the writable was aborted. */
  destroyed = false;
  /** When set, writes wait until `drain()` (a peer that stops reading). */
  full = false;
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  #ctl!: ReadableStreamDefaultController<Uint8Array>;
  #readableOpen = true;
  #waiters: (() => void)[] = [];
  #drained: (() => void)[] = [];

  constructor() {
    this.readable = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.#ctl = c;
      },
      cancel: () => {
        this.#readableOpen = false;
        this.#wake();
      },
    }, { highWaterMark: 0 });
    this.writable = new WritableStream<Uint8Array>({
      write: async (chunk) => {
        while (this.full && !this.destroyed) {
          await new Promise<void>((r) => this.#drained.push(r));
        }
        if (this.destroyed) throw new Error("The fake socket is closed");
        this.written.push(chunk.slice());
        this.#wake();
      },
      close: () => {
        this.ended = true;
        this.#wake();
      },
      abort: () => {
        this.destroyed = true;
        this.#wake();
      },
    });
  }

  /** All written bytes, concatenated. */
  get bytes(): Uint8Array {
    const n = this.written.reduce((a, b) => a + b.length, 0);
    const out = new Uint8Array(n);
    let o = 0;
    for (const w of this.written) {
      out.set(w, o);
      o += w.length;
    }
    return out;
  }

  /** Written bytes decoded as text. */
  get text(): string {
    return new TextDecoder().decode(this.bytes);
  }

  /** Closes both directions (idempotent). */
  close(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.end();
    for (const d of this.#drained.splice(0)) d();
    this.#wake();
  }

  /** Delivers bytes as if they came from the peer. */
  receive(chunk: Uint8Array | string): void {
    if (!this.#readableOpen) return;
    this.#ctl.enqueue(
      typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk,
    );
  }

  /**
   * The connection breaks on the read side (e.g. TLS closed without
   * close_notify): reads fail with `error`.
   * @param error The read error.
   */
  fail(error: Error): void {
    if (!this.#readableOpen) return;
    this.#readableOpen = false;
    this.#ctl.error(error);
    this.#wake();
  }

  /** The peer ends its side (end of the readable). */
  end(): void {
    if (!this.#readableOpen) return;
    this.#readableOpen = false;
    try {
      this.#ctl.close();
    } catch { /* errored or closed */ }
    this.#wake();
  }

  /** Lets waiting writes through. */
  drain(): void {
    this.full = false;
    for (const d of this.#drained.splice(0)) d();
  }

  /** Resolves once `cond()` holds (checked after every write/end/close). */
  until(cond: () => boolean): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (cond()) resolve();
        else this.#waiters.push(check);
      };
      this.#waiters.push(check);
    });
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
}
