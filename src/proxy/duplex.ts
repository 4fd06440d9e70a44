/**
 * The one shape of a connection in the proxy core: web-standard streams in
 * both directions. A `Deno.Conn` is one as it is; other runtimes adapt theirs.
 * Back-pressure is the streams' own: a reader that stops reading stops the
 * producer.
 *
 * @module
 */

/** A bidirectional byte stream (a client or upstream connection). */
export interface ByteDuplex {
  /** Bytes from the peer. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes to the peer; closing it half-closes the connection. */
  readonly writable: WritableStream<Uint8Array>;
  /** Closes both directions at once (an abort; idempotent). */
  close(): void;
}
