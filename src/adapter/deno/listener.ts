/**
 * Adapter: serves a {@linkcode Proxy} on Deno's own sockets
 * (`Deno.listenTls` or `Deno.listen`) with the runtime-neutral HTTP/1.1
 * core ({@linkcode serveHttp1Connection}), each connection as a
 * {@linkcode connDuplex}. Unlike `node:https` under Deno, a `Deno.Conn` is
 * read only when the server asks, so back-pressure reaches the client
 * through TCP; a TLS handshake that does not finish within
 * `handshakeTimeoutMs` is closed, and so is a request head that does not
 * within `headTimeoutMs`.
 *
 * `Deno.listenTls` cannot ask for client certificates (denoland/deno#26825):
 * the `mtls` identity still needs `node_server.ts`.
 *
 * Known limit of Deno's TLS: closing a `TlsConn` whose handshake has not
 * finished does not close its socket. Deno's TLS stream
 * (`rustls-tokio-stream`) awaits the handshake task before shutting down,
 * and that task waits for the client's bytes without a deadline. So after
 * `handshakeTimeoutMs` the server lets go of the connection (it no longer
 * counts against `maxConnections`, holds no JS state, and `close()` does not
 * wait for it), but the kernel socket and the handshake task stay until the
 * client sends anything or goes away. Closing such sockets for real needs a
 * TCP front (accept with `Deno.listen`, pipe to an internal TLS listener).
 *
 * @module
 */

import { connDuplex } from "../../proxy/deno_socket.ts";
import {
  DEFAULT_HEAD_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  serveHttp1Connection,
} from "../../proxy/http1/connection.ts";
import type { ServedProxy } from "../../proxy/node_server.ts";
import type { Proxy } from "../../proxy/proxy.ts";
import type { Logger } from "../../log.ts";

/** Options of {@linkcode listenProxy}. */
export interface ListenOptions {
  /** Address to bind. @default {"127.0.0.1"} */
  host?: string;
  /** Port; 0 picks a free one. @default {0} */
  port?: number;
  /** Serving certificate and key (PEM); plain HTTP when absent. */
  tls?: { certPem: string; keyPem: string };
  /** How long a TLS handshake may take. @default {10_000} */
  handshakeTimeoutMs?: number;
  /** How long a request head may take. @default {10_000} */
  headTimeoutMs?: number;
  /** How long a kept-alive connection may wait for a request. @default {120_000} */
  idleTimeoutMs?: number;
  /** Connections served at once; more are closed as they come. @default {10_000} */
  maxConnections?: number;
  /** Logger for connection-level failures. */
  logger?: Logger;
}

/** Default of {@linkcode ListenOptions.handshakeTimeoutMs}. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

function close(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

/** How a handshake ended: in time, failed, timed out or cut by shutdown. */
async function handshake(
  conn: Deno.TlsConn,
  ms: number,
  signal: AbortSignal,
): Promise<"done" | "failed" | "timeout" | "shutdown"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort = () => {};
  try {
    return await Promise.race([
      conn.handshake().then(() => "done" as const, () => "failed" as const),
      new Promise<"timeout" | "shutdown">((r) => {
        onAbort = () => r("shutdown");
        timer = setTimeout(() => r("timeout"), ms);
        signal.addEventListener("abort", onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
  }
}

/**
 * Starts serving.
 * @param proxy The proxy core.
 * @param opts Address, TLS, timeouts.
 * @returns The running server (same shape as `node_server.ts`'s).
 * @throws {Deno.errors.AddrInUse} The address is taken.
 * @example
 * ```ts ignore
 * import { listenProxy } from "./listener.ts";
 * const served = await listenProxy(proxy, { port: 8443, tls: { certPem, keyPem } });
 * await served.close();
 * ```
 */
export function listenProxy(
  proxy: Proxy,
  opts: ListenOptions = {},
): Promise<ServedProxy> {
  const hostname = opts.host ?? "127.0.0.1";
  const port = opts.port ?? 0;
  const listener: Deno.Listener = opts.tls
    ? Deno.listenTls({
      hostname,
      port,
      cert: opts.tls.certPem,
      key: opts.tls.keyPem,
      alpnProtocols: ["http/1.1"],
    })
    : Deno.listen({ hostname, port });
  const secure = opts.tls !== undefined;
  const handshakeMs = opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  const max = opts.maxConnections ?? 10_000;
  const shutdown = new AbortController();
  const open = new Set<Promise<void>>();

  async function serve(conn: Deno.Conn): Promise<void> {
    try {
      if (secure) {
        const done = await handshake(
          conn as Deno.TlsConn,
          handshakeMs,
          shutdown.signal,
        );
        if (done !== "done") {
          if (done === "timeout") {
            const addr = conn.remoteAddr as Deno.NetAddr;
            opts.logger?.info("tls handshake timed out", {
              remote: `${addr.hostname}:${addr.port}`,
              timeoutMs: handshakeMs,
            });
          }
          return close(conn);
        }
      } else {
        (conn as Deno.TcpConn).setNoDelay(true);
      }
      const addr = conn.remoteAddr as Deno.NetAddr;
      // Reads only when asked; closing the writable half-closes.
      await serveHttp1Connection(connDuplex(conn), proxy, {
        remoteAddr: `${addr.hostname}:${addr.port}`,
        secure,
        headTimeoutMs: opts.headTimeoutMs ?? DEFAULT_HEAD_TIMEOUT_MS,
        idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
        signal: shutdown.signal,
        logger: opts.logger,
      });
    } catch (e) {
      opts.logger?.warn("client connection failed", {
        error: (e as Error).message,
      });
      close(conn);
    }
  }

  const accepting = (async () => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (shutdown.signal.aborted) return;
        opts.logger?.warn("accept failed", { error: (e as Error).message });
        continue;
      }
      if (open.size >= max) {
        close(conn);
        continue;
      }
      const p = serve(conn).finally(() => open.delete(p));
      open.add(p);
    }
  })();

  const addr = listener.addr as Deno.NetAddr;
  const host = hostname === "0.0.0.0" || hostname === "::"
    ? "127.0.0.1"
    : hostname.includes(":")
    ? `[${hostname}]`
    : hostname;
  return Promise.resolve({
    url: `${secure ? "https" : "http"}://${host}:${addr.port}`,
    port: addr.port,
    async close() {
      shutdown.abort();
      try {
        listener.close();
      } catch { /* already closed */ }
      await accepting;
      await Promise.all([...open]);
    },
  });
}
