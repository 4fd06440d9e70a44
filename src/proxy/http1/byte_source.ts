/**
 * The read side of one client connection: a stream reader with a pushback
 * list, so the head reader and the body decoders can hand back the bytes that
 * belong to what follows. It reads from the connection only when asked, so
 * a consumer that stops asking stops the reads (TCP back-pressure).
 *
 * @module
 */

import { concatBytes } from "../../bytes.ts";

/** A reader that can take bytes back. */
export class ByteSource {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #pending: Uint8Array[] = [];
  /** A read started by {@linkcode ByteSource.ended}, not yet taken. */
  #inflight: Promise<Uint8Array | null> | undefined;

  /** @param reader The connection's reader (this takes it over). */
  constructor(reader: ReadableStreamDefaultReader<Uint8Array>) {
    this.#reader = reader;
  }

  async #readConn(): Promise<Uint8Array | null> {
    for (;;) {
      const r = await this.#reader.read();
      if (r.done) return null;
      if (r.value.length > 0) return r.value;
    }
  }

  /**
   * The next bytes: pushed-back ones first, then the connection's.
   * @returns Bytes, or `null` at end of stream.
   * @throws {Error} The connection failed.
   */
  read(): Promise<Uint8Array | null> {
    const p = this.#pending.shift();
    if (p) return Promise.resolve(p);
    const inflight = this.#inflight;
    if (inflight) {
      this.#inflight = undefined;
      return inflight;
    }
    return this.#readConn();
  }

  /**
   * Resolves when the connection reaches its end (or fails) while nothing is
   * being read: how a server notices a client gone in the middle of a long
   * answer. It reads one chunk ahead; bytes that arrive instead (a pipelined
   * request) are kept for the next {@linkcode ByteSource.read}, and the
   * promise then never resolves.
   * @returns A promise resolved on end of stream only.
   */
  ended(): Promise<void> {
    if (this.#pending.length > 0) return new Promise(() => {});
    this.#inflight ??= this.#readConn().catch(() => null);
    return this.#inflight.then((b) =>
      b === null ? undefined : new Promise<void>(() => {})
    );
  }

  /**
   * Hands bytes back; the next {@linkcode read} returns them.
   * @param bytes Bytes to return (ignored when empty).
   */
  unread(bytes: Uint8Array): void {
    if (bytes.length > 0) this.#pending.unshift(bytes);
  }

  /**
   * Takes every pushed-back byte out (for an upgrade: what the client sent
   * after its request head).
   * @returns The bytes, joined.
   */
  takePending(): Uint8Array {
    const parts = this.#pending;
    this.#pending = [];
    return concatBytes(parts);
  }
}
