/**
 * Adapters: how the proxy reaches the upstream API server with its own
 * credentials, for ordinary requests (`node:https`) and for upgrades (a raw
 * Deno TLS or TCP connection as a {@linkcode ByteDuplex}).
 *
 * @module
 */

import http from "node:http";
import https from "node:https";
import net from "node:net";
import type { UpstreamConfig } from "./upstream_config.ts";
import type { ByteDuplex } from "./duplex.ts";
import { connDuplex } from "./deno_socket.ts";

/** One ordinary request upstream, headers as an ordered list of pairs. */
export interface UpstreamRequestInit {
  /** The request method, as the client sent it. */
  method: string;
  /** Path and query. */
  target: string;
  /** Header pairs; a name may repeat (each `Impersonate-Group` is its own line). */
  headers: [string, string][];
  /** Request body, streamed. */
  body: ReadableStream<Uint8Array> | null;
}

/**
 * Sends an ordinary request upstream and resolves with the streamed answer.
 * (Not `fetch`: the Fetch standard joins repeated headers into one
 * comma-separated line, and the API server reads `Impersonate-Group: a, b` as
 * one group named "a, b".)
 */
export type UpstreamRequest = (init: UpstreamRequestInit) => Promise<Response>;

const NULL_BODY = new Set([101, 204, 205, 304]);

/**
 * A requester over `node:https` (keep-alive) that trusts the upstream's CA
 * and presents the client certificate, with back-pressure both ways.
 * @param up The upstream.
 * @returns The requester.
 */
export function upstreamRequester(up: UpstreamConfig): UpstreamRequest {
  const u = new URL(up.server);
  const secure = u.protocol === "https:";
  const host = u.hostname.replace(/^\[|\]$/g, "");
  const port = Number(u.port || (secure ? 443 : 80));
  const agent = secure
    ? new https.Agent({
      keepAlive: true,
      ...(up.caPem ? { ca: up.caPem } : {}),
      ...(up.certPem && up.keyPem ? { cert: up.certPem, key: up.keyPem } : {}),
      rejectUnauthorized: !up.insecureSkipVerify,
      ...(net.isIP(host) ? {} : { servername: host }),
    })
    : new http.Agent({ keepAlive: true });
  return (init) =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of init.headers) {
        const prev = headers[k];
        headers[k] = prev === undefined ? v : [prev, v].flat();
      }
      const req = (secure ? https : http).request({
        host,
        port,
        method: init.method,
        path: init.target,
        headers,
        agent,
      }, (res) => {
        const out = new Headers();
        const raw = res.rawHeaders;
        for (let i = 0; i + 1 < raw.length; i += 2) {
          try {
            out.append(raw[i]!, raw[i + 1]!);
          } catch { /* a header Headers refuses: dropped */ }
        }
        const status = res.statusCode ?? 502;
        const body = NULL_BODY.has(status) || init.method === "HEAD"
          ? null
          : new ReadableStream<Uint8Array>({
            start(c) {
              res.on("data", (d: Uint8Array) => {
                c.enqueue(new Uint8Array(d));
                if ((c.desiredSize ?? 0) <= 0) res.pause();
              });
              res.on("end", () => c.close());
              res.on("error", (e) => c.error(e));
            },
            pull() {
              res.resume();
            },
            cancel() {
              res.destroy();
            },
          }, { highWaterMark: 16 });
        if (!body) res.resume();
        resolve(
          new Response(body, {
            status,
            statusText: res.statusMessage ?? "",
            headers: out,
          }),
        );
      });
      req.on("error", reject);
      if (!init.body) {
        req.end();
        return;
      }
      (async () => {
        const reader = init.body!.getReader();
        while (true) {
          const { value, done } = await reader.read();
          if (done) break;
          if (!req.write(value)) {
            await new Promise<void>((r) => req.once("drain", () => r()));
          }
        }
        req.end();
      })().catch((e) => req.destroy(e as Error));
    });
}

/**
 * A connector opening raw TLS (or TCP for `http:`) connections upstream, as
 * streams with real back-pressure ({@linkcode connDuplex}).
 * @param up The upstream.
 * @returns The connector.
 */
export function upstreamConnector(
  up: UpstreamConfig,
): () => Promise<ByteDuplex> {
  const u = new URL(up.server);
  const hostname = u.hostname.replace(/^\[|\]$/g, "");
  const secure = u.protocol === "https:";
  const port = Number(u.port || (secure ? 443 : 80));
  if (secure && up.insecureSkipVerify) {
    throw new TypeError(
      "Cannot connect upstream: insecure-skip-tls-verify is not supported; give the cluster's CA",
    );
  }
  const clientCert = up.certPem && up.keyPem
    ? { cert: up.certPem, key: up.keyPem }
    : undefined;
  return async () => {
    let conn: Deno.Conn;
    if (!secure) {
      conn = await Deno.connect({ hostname, port });
      (conn as Deno.TcpConn).setNoDelay(true);
    } else if (!clientCert) {
      // No Nagle delay on the request head: TCP first, then TLS over it
      // (connectTls gives no way to set TCP_NODELAY; the head then waited
      // ~40 ms for a delayed ACK).
      const tcp = await Deno.connect({ hostname, port });
      tcp.setNoDelay(true);
      conn = await Deno.startTls(tcp, {
        hostname,
        ...(up.caPem ? { caCerts: [up.caPem] } : {}),
        alpnProtocols: ["http/1.1"],
      });
    } else {
      // startTls takes no client certificate.
      conn = await Deno.connectTls({
        hostname,
        port,
        ...(up.caPem ? { caCerts: [up.caPem] } : {}),
        ...clientCert,
        alpnProtocols: ["http/1.1"],
      });
    }
    if (secure) await (conn as Deno.TlsConn).handshake();
    return connDuplex(conn);
  };
}
