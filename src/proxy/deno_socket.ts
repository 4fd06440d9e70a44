/**
 * Adapters from runtime connections to {@linkcode ByteDuplex}:
 *
 * - {@linkcode connDuplex}: a `Deno.Conn` (TCP or TLS). Its own `readable` and
 *   `writable` would do, except that closing `conn.writable` closes the whole
 *   connection; here closing the writable half-closes it (`closeWrite`), and
 *   a read is made only when the consumer asks for bytes (no read-ahead), so
 *   a slow reader slows the peer down through TCP.
 * - {@linkcode nodeSocketDuplex}: a `node:net`/`node:tls` socket (the
 *   `node_server.ts` listener kept for mTLS).
 *
 * @module
 */

import type { Socket } from "node:net";
import type { ByteDuplex } from "./duplex.ts";

/** Most bytes asked of one read. */
const MAX_READ = 64 * 1024;
/**
 * Fewest bytes asked of one read. Reads start here and grow 4× each time a
 * read fills its buffer, and shrink back when reads come in well below it:
 * an idle connection's pending read (every recorded session has three)
 * holds 2 KiB instead of 64 KiB, a busy one reads 64 KiB at a time.
 */
const MIN_READ = 2 * 1024;

/**
 * A `Deno.Conn` as a {@linkcode ByteDuplex}.
 * @param conn An open connection (a TLS handshake may still be pending).
 * @returns The duplex; `close()` closes the connection (idempotent).
 * @example
 * ```ts ignore
 * const up = connDuplex(await Deno.connect({ hostname, port }));
 * ```
 */
export function connDuplex(conn: Deno.Conn): ByteDuplex {
  let closed = false;
  let buf: Uint8Array | undefined;
  let size = MIN_READ;
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      conn.close();
    } catch { /* closed already */ }
  };
  const readable = new ReadableStream<Uint8Array>({
    async pull(c) {
      buf ??= new Uint8Array(size);
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch (e) {
        if (closed) {
          c.close();
          return;
        }
        throw e;
      }
      if (n === null) {
        c.close();
        return;
      }
      const full = buf.length;
      // Half the buffer or more is handed over as it is; less is copied
      // out, so a chunk held downstream never pins more than twice its size.
      if (n * 2 < full) c.enqueue(buf.slice(0, n));
      else {
        c.enqueue(buf.subarray(0, n));
        buf = undefined;
      }
      if (n === full && size < MAX_READ) {
        size = Math.min(MAX_READ, size * 4);
        buf = undefined;
      } else if (n * 8 < full && size > MIN_READ) {
        size = Math.max(MIN_READ, size / 4);
        buf = undefined;
      }
    },
    cancel() {
      close();
    },
  }, { highWaterMark: 0 });
  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      let off = 0;
      while (off < chunk.length) {
        off += await conn.write(chunk.subarray(off));
      }
    },
    async close() {
      try {
        await (conn as Deno.TcpConn).closeWrite();
      } catch { /* peer gone, or closed already */ }
    },
    abort() {
      close();
    },
  }, { highWaterMark: 1 });
  return { readable, writable, close };
}

/**
 * A Node socket as a {@linkcode ByteDuplex}: reads pause the socket while
 * the consumer does not ask for more; closing the writable ends the socket
 * (a half-close).
 * @param socket The socket (e.g. of an `upgrade` event).
 * @returns The duplex; `close()` destroys the socket.
 */
export function nodeSocketDuplex(socket: Socket): ByteDuplex {
  socket.pause();
  let queue: Uint8Array[] = [];
  let ended = false;
  let failed: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  socket.on("data", (d: Uint8Array) => {
    queue.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    socket.pause();
    notify();
  });
  socket.on("end", () => {
    ended = true;
    notify();
  });
  socket.on("close", () => {
    ended = true;
    notify();
  });
  socket.on("error", (e: Error) => {
    failed = e;
    notify();
  });
  const readable = new ReadableStream<Uint8Array>({
    async pull(c) {
      while (queue.length === 0 && !ended && !failed) {
        socket.resume();
        await new Promise<void>((r) => wake = r);
      }
      if (queue.length > 0) {
        const q = queue;
        queue = [];
        for (const d of q) c.enqueue(d);
      } else if (failed) c.error(failed);
      else c.close();
    },
    cancel() {
      socket.destroy();
    },
  }, { highWaterMark: 0 });
  // A destroyed socket may never call back: settle what waits on 'close'.
  const settleOnClose = new Set<(e?: Error) => void>();
  socket.on("close", () => {
    for (const f of [...settleOnClose]) f(new Error("The socket is closed"));
  });
  const waitFor = (start: (done: (e?: Error | null) => void) => void) =>
    new Promise<void>((resolve, reject) => {
      if (socket.destroyed) return reject(new Error("The socket is closed"));
      const done = (e?: Error | null) => {
        settleOnClose.delete(done);
        if (e) reject(e);
        else resolve();
      };
      settleOnClose.add(done);
      start(done);
    });
  const writable = new WritableStream<Uint8Array>({
    write(chunk) {
      return waitFor((done) => socket.write(chunk, (e) => done(e)));
    },
    close() {
      return waitFor((done) => socket.end(() => done())).catch(() => {});
    },
    abort() {
      socket.destroy();
    },
  }, { highWaterMark: 1 });
  return { readable, writable, close: () => socket.destroy() };
}
