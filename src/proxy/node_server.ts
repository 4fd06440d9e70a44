/**
 * Adapter: serves a {@linkcode Proxy} with `node:https` (or `node:http`).
 * `Deno.serve` rejects kubectl's SPDY upgrade before any handler runs; Node's
 * servers under Deno hand every upgrade to us as an `upgrade` event with the
 * raw socket, which is what the byte relay needs.
 *
 * @module
 */

import http from "node:http";
import https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { getRequestListener } from "@hono/node-server";
import type { PeerInfo } from "../identity/identity.ts";
import type { Proxy } from "./proxy.ts";
import { nodeSocketDuplex } from "./deno_socket.ts";

/** Listener options. */
export interface ServeOptions {
  /** Address to bind. @default {"127.0.0.1"} */
  host?: string;
  /** Port; 0 picks a free one. @default {0} */
  port?: number;
  /** TLS certificate and key PEM; plain HTTP when absent. */
  tls?: { certPem: string; keyPem: string; clientCaPem?: string };
}

/** A running server. */
export interface ServedProxy {
  /** Base URL, e.g. `https://127.0.0.1:8443`. */
  url: string;
  /** Bound port. */
  port: number;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

function peerOf(socket: Socket, headers: Headers): PeerInfo {
  const tls = socket as TLSSocket;
  const peer: PeerInfo = {
    remoteAddr: `${socket.remoteAddress}:${socket.remotePort}`,
    headers,
  };
  if (typeof tls.getPeerCertificate === "function") {
    const cert = tls.getPeerCertificate();
    if (cert && cert.raw) {
      peer.clientCertDer = new Uint8Array(cert.raw);
      peer.clientCertAuthorized = tls.authorized === true;
    }
  }
  return peer;
}

function pairs(raw: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

/**
 * Starts serving.
 * @param proxy The proxy core.
 * @param opts Address and TLS.
 * @returns The running server.
 */
export function serveProxy(
  proxy: Proxy,
  opts: ServeOptions = {},
): Promise<ServedProxy> {
  // overrideGlobalObjects: false keeps the global Response native, so a
  // Deno.serve in the same process (an embedded recorder) still works.
  const listener = getRequestListener((req, env) => {
    const incoming = (env as { incoming: http.IncomingMessage }).incoming;
    // The raw target: the proxy parses it itself, the way the API server
    // will (the URL parser behind `req.url` has already normalised it).
    return proxy.fetch(
      req,
      peerOf(incoming.socket, req.headers),
      incoming.url ?? "/",
    );
  }, { overrideGlobalObjects: false });
  const server = opts.tls
    ? https.createServer({
      cert: opts.tls.certPem,
      key: opts.tls.keyPem,
      ...(opts.tls.clientCaPem
        ? {
          ca: opts.tls.clientCaPem,
          requestCert: true,
          rejectUnauthorized: false,
        }
        : {}),
    }, listener)
    : http.createServer(listener);
  const sockets = new Set<Socket>();
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("secureConnection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on(
    "upgrade",
    (req: http.IncomingMessage, socket: Socket, head: Uint8Array) => {
      socket.setNoDelay(true);
      const headers = new Headers();
      const raw = pairs(req.rawHeaders);
      for (const [k, v] of raw) {
        try {
          headers.append(k, v);
        } catch { /* invalid for Headers; the relay still sees it raw */ }
      }
      proxy.upgrade(
        {
          method: req.method ?? "GET",
          target: req.url ?? "/",
          rawHeaders: raw,
        },
        nodeSocketDuplex(socket),
        new Uint8Array(head),
        peerOf(socket, headers),
      ).catch((e) => {
        console.error("upgrade handler failed", e);
        socket.destroy();
      });
    },
  );
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", () => {
      const port = (server.address() as AddressInfo).port;
      const host = opts.host && opts.host !== "0.0.0.0"
        ? opts.host
        : "127.0.0.1";
      resolve({
        url: `${opts.tls ? "https" : "http"}://${host}:${port}`,
        port,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            for (const s of sockets) s.destroy();
          }),
      });
    });
  });
}
