/**
 * Adapters: how the proxy reaches the upstream API server with its own
 * credentials, for ordinary requests (`fetch` with a Deno HTTP client) and
 * for upgrades (a raw `node:tls` socket).
 *
 * @module
 */

import net from "node:net";
import tls from "node:tls";
import type { UpstreamConfig } from "./upstream_config.ts";
import type { RelaySocket } from "./upgrade_relay.ts";

/**
 * A `fetch` that trusts the upstream's CA and presents the client cert.
 * @param up The upstream.
 * @returns The fetch function.
 */
export function upstreamFetch(up: UpstreamConfig): typeof fetch {
  const client = Deno.createHttpClient({
    ...(up.caPem ? { caCerts: [up.caPem] } : {}),
    ...(up.certPem && up.keyPem ? { cert: up.certPem, key: up.keyPem } : {}),
    http2: false,
  });
  return ((input: RequestInfo | URL, init?: RequestInit) =>
    fetch(input, { ...init, client } as RequestInit)) as typeof fetch;
}

/**
 * A connector opening raw TLS (or TCP for `http:`) connections upstream.
 * @param up The upstream.
 * @returns The connector.
 */
export function upstreamConnector(
  up: UpstreamConfig,
): () => Promise<RelaySocket> {
  const u = new URL(up.server);
  const host = u.hostname.replace(/^\[|\]$/g, "");
  const secure = u.protocol === "https:";
  const port = Number(u.port || (secure ? 443 : 80));
  return () =>
    new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      if (!secure) {
        const s = net.connect({ host, port }, () => {
          s.off("error", onError);
          s.setNoDelay(true);
          resolve(s as unknown as RelaySocket);
        });
        s.once("error", onError);
        return;
      }
      const s = tls.connect({
        host,
        port,
        ...(net.isIP(host) ? {} : { servername: host }),
        ...(up.caPem ? { ca: up.caPem } : {}),
        ...(up.certPem && up.keyPem
          ? { cert: up.certPem, key: up.keyPem }
          : {}),
        rejectUnauthorized: !up.insecureSkipVerify,
        ALPNProtocols: ["http/1.1"],
      }, () => {
        s.off("error", onError);
        s.setNoDelay(true);
        resolve(s as unknown as RelaySocket);
      });
      s.once("error", onError);
    });
}
