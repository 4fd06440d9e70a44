/**
 * What a test pod serves behind its ports (see `pod_ports.ts`): an HTTP
 * server with a page, bodies of any size and an upload digest, and a TCP
 * server that answers only after the client's half-close. Both count the
 * TCP connections they accepted.
 *
 * @module
 */

import { createHash } from "node:crypto";
import net from "node:net";

/** The page `GET /` answers. */
export const PAGE = "<h1>hello from the web pod</h1>\n";

/**
 * The bytes `GET /bytes?n=N&seed=S` answers: every byte value, in an order
 * that depends on the seed and the offset.
 * @param n Length.
 * @param seed Seed.
 * @returns The bytes.
 */
export function patternBytes(
  n: number,
  seed = 0,
): Uint8Array<ArrayBuffer> {
  return patternAt(0, n, seed);
}

function patternAt(
  offset: number,
  n: number,
  seed: number,
): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    const i = offset + k;
    out[k] = (i * 7 + Math.floor(i / 1024) + seed * 31) & 0xff;
  }
  return out;
}

/** `patternBytes(n, seed)` made as the reader pulls, 64 KiB at a time. */
function patternStream(n: number, seed: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(c) {
      if (sent >= n) return c.close();
      const len = Math.min(64 * 1024, n - sent);
      c.enqueue(patternAt(sent, len, seed));
      sent += len;
    },
  }, { highWaterMark: 0 });
}

/**
 * Hex SHA-256 of bytes.
 * @param bytes Input.
 * @returns The digest.
 */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** A running pod server. */
export interface PodServer {
  /** The local port it listens on. */
  port: number;
  /** Distinct client connections accepted so far. */
  connections(): number;
  /** Stops it. */
  close(): Promise<void>;
}

/**
 * An HTTP server: `GET /` the page, `GET /bytes?n=N&seed=S` a body of
 * `patternBytes(N, S)` (made as the client reads it), `POST /digest` answers `LENGTH SHA256` of the body.
 * @returns The server.
 */
export function startHttpPodServer(): PodServer {
  const peers = new Set<string>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req, info) => {
      peers.add(`${info.remoteAddr.hostname}:${info.remoteAddr.port}`);
      const url = new URL(req.url);
      if (req.method === "GET" && url.pathname === "/") {
        return new Response(PAGE, { headers: { "content-type": "text/html" } });
      }
      if (req.method === "GET" && url.pathname === "/bytes") {
        const n = Number(url.searchParams.get("n") ?? "0");
        const seed = Number(url.searchParams.get("seed") ?? "0");
        return new Response(patternStream(n, seed), {
          headers: { "content-length": String(n) },
        });
      }
      if (req.method === "POST" && url.pathname === "/digest") {
        const body = await req.bytes();
        return new Response(`${body.length} ${sha256Hex(body)}\n`);
      }
      return new Response("not found\n", { status: 404 });
    },
  );
  return {
    port: server.addr.port,
    connections: () => peers.size,
    close: () => server.shutdown(),
  };
}

/**
 * A TCP server that reads until the client's FIN, then answers
 * `got LENGTH SHA256\n` and closes: it only answers when half-close
 * reaches it, and the client only sees the answer if the way back stays
 * open after its own FIN.
 * @returns The server, once it listens.
 */
export async function startHalfCloseServer(): Promise<PodServer> {
  let accepted = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    accepted++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    const hash = createHash("sha256");
    let n = 0;
    s.on("data", (chunk: Uint8Array) => {
      n += chunk.length;
      hash.update(chunk);
    });
    s.on("end", () => s.end(`got ${n} ${hash.digest("hex")}\n`));
  });
  await new Promise<void>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve())
  );
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    connections: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
