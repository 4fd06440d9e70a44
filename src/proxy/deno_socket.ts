/**
 * Adapter: a Deno TCP/TLS connection with the Node-socket surface the relay
 * uses ({@linkcode RelaySocket}), with real back-pressure. Deno's `node:tls`
 * sockets keep reading from the kernel while paused (a 1 GiB exec grew the
 * proxy by 1.4 GiB); this one reads only while not paused, one 256 KiB read at
 * a time, so a slow client slows the upstream down through TCP.
 *
 * @module
 */

import type { RelaySocket } from "./upgrade_relay.ts";

type Events = {
  data: ((chunk: Uint8Array) => void)[];
  drain: (() => void)[];
  end: (() => void)[];
  close: (() => void)[];
  error: ((e: Error) => void)[];
};

const READ_SIZE = 256 * 1024;
const HIGH_WATER = 64 * 1024;

/** A `RelaySocket` over a `Deno.Conn`. */
export class DenoConnSocket implements RelaySocket {
  #conn: Deno.Conn;
  #on: Events = { data: [], drain: [], end: [], close: [], error: [] };
  #paused = false;
  #reading = false;
  #closed = false;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #writing = false;
  #needDrain = false;
  #ending = false;
  #endCbs: (() => void)[] = [];

  /** @param conn An open connection (TLS handshake may still be pending). */
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
    queueMicrotask(() => this.#readLoop());
  }

  write(chunk: Uint8Array): boolean {
    if (this.#closed || this.#ending) return false;
    this.#queue.push(chunk);
    this.#queued += chunk.length;
    this.#writeLoop();
    if (this.#queued >= HIGH_WATER) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  end(cb?: () => void): void {
    if (cb) this.#endCbs.push(cb);
    if (this.#ending) return;
    this.#ending = true;
    this.#writeLoop();
  }

  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    queueMicrotask(() => this.#emit("close"));
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#readLoop();
  }

  on(event: keyof Events, fn: (...a: never[]) => void): this {
    (this.#on[event] as unknown[]).push(fn);
    return this;
  }

  once(event: keyof Events, fn: (...a: never[]) => void): this {
    const wrap = (...a: never[]) => {
      (this.#on[event] as unknown[]) = (this.#on[event] as unknown[]).filter(
        (f) => f !== wrap,
      );
      fn(...a);
    };
    return this.on(event, wrap);
  }

  off(event: keyof Events, fn: (...a: never[]) => void): this {
    (this.#on[event] as unknown[]) = (this.#on[event] as unknown[]).filter(
      (f) => f !== fn,
    );
    return this;
  }

  #emit(event: keyof Events, arg?: unknown): void {
    for (const f of [...this.#on[event]]) (f as (a?: unknown) => void)(arg);
  }

  async #readLoop(): Promise<void> {
    if (this.#reading) return;
    this.#reading = true;
    try {
      while (!this.#paused && !this.#closed) {
        const buf = new Uint8Array(READ_SIZE);
        const n = await this.#conn.read(buf);
        if (this.#closed) return;
        if (n === null) {
          this.#emit("end");
          if (this.#ending || this.#queued === 0) this.destroy();
          return;
        }
        this.#emit("data", buf.subarray(0, n));
      }
    } catch (e) {
      if (!this.#closed) {
        this.#emit("error", e as Error);
        this.destroy();
      }
    } finally {
      this.#reading = false;
    }
  }

  async #writeLoop(): Promise<void> {
    if (this.#writing) return;
    this.#writing = true;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const chunk = this.#queue.shift()!;
        let off = 0;
        while (off < chunk.length) {
          off += await this.#conn.write(chunk.subarray(off));
        }
        this.#queued -= chunk.length;
        if (this.#needDrain && this.#queued < HIGH_WATER) {
          this.#needDrain = false;
          this.#emit("drain");
        }
      }
      if (this.#ending && this.#queue.length === 0 && !this.#closed) {
        try {
          await (this.#conn as Deno.TcpConn).closeWrite();
        } catch { /* peer gone */ }
        const cbs = this.#endCbs;
        this.#endCbs = [];
        for (const cb of cbs) cb();
      }
    } catch (e) {
      if (!this.#closed) {
        this.#emit("error", e as Error);
        this.destroy();
      }
    } finally {
      this.#writing = false;
    }
  }
}
