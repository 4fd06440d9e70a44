/**
 * An in-memory socket with the surface of Node's `net.Socket` that the
 * upgrade relay uses, for unit tests of byte handling.
 *
 * @module
 */

import type { RelaySocket } from "../proxy/upgrade_relay.ts";

type Fn = (...args: never[]) => void;

/** A fake socket recording what was written to it. */
export class FakeSocket implements RelaySocket {
  /** Bytes written by the code under test. */
  written: Uint8Array[] = [];
  ended = false;
  destroyed = false;
  paused = false;
  /** When set, `write` returns false (buffer full) until `drain()`. */
  full = false;
  #on = new Map<string, Fn[]>();
  #waiters: (() => void)[] = [];

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

  write(chunk: Uint8Array): boolean {
    if (this.destroyed) return false;
    this.written.push(chunk.slice());
    this.#wake();
    return !this.full;
  }
  end(cb?: () => void): void {
    this.ended = true;
    this.#wake();
    cb?.();
  }
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.#wake();
    queueMicrotask(() => this.emit("close"));
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
    this.#wake();
  }
  on(event: string, fn: Fn): this {
    const l = this.#on.get(event) ?? [];
    l.push(fn);
    this.#on.set(event, l);
    return this;
  }
  once(event: string, fn: Fn): this {
    const wrap = ((...a: never[]) => {
      this.#on.set(
        event,
        (this.#on.get(event) ?? []).filter((f) => f !== wrap),
      );
      fn(...a);
    }) as Fn;
    return this.on(event, wrap);
  }
  off(event: string, fn: Fn): this {
    this.#on.set(event, (this.#on.get(event) ?? []).filter((f) => f !== fn));
    return this;
  }
  /** Emits an event to the code under test. */
  emit(event: string, ...args: unknown[]): void {
    for (const f of [...(this.#on.get(event) ?? [])]) {
      (f as (...a: unknown[]) => void)(...args);
    }
  }
  /** Delivers bytes as if they came from the peer. */
  receive(chunk: Uint8Array | string): void {
    this.emit(
      "data",
      typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk,
    );
  }
  /** Empties the send buffer: emits `drain`. */
  drain(): void {
    this.full = false;
    this.emit("drain");
  }
  /** Resolves once `cond()` holds (checked after every write/end/destroy). */
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
