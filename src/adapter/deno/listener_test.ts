import assert from "node:assert/strict";
import { generateCa, issueCert } from "../../devcluster/certs.ts";
import type { PeerInfo } from "../../identity/identity.ts";
import { memoryLogger } from "../../log.ts";
import type { Proxy } from "../../proxy/proxy.ts";
import { listenProxy } from "./listener.ts";

const enc = new TextEncoder();

async function tlsFixture() {
  const ca = await generateCa("listener-test-ca");
  const leaf = await issueCert(ca, { commonName: "proxy", usage: "server" });
  return { caPem: ca.certPem, certPem: leaf.certPem, keyPem: leaf.keyPem };
}

async function readAll(conn: Deno.Conn): Promise<string> {
  let text = "";
  const buf = new Uint8Array(16 * 1024);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
  } catch { /* reset */ }
  return text;
}

function echoProxy(peers: PeerInfo[]): Proxy {
  return {
    async fetch(req, peer, raw) {
      peers.push(peer);
      const body = req.body ? await req.text() : "";
      return new Response(`${req.method} ${raw} ${body}`);
    },
    upgrade: () => Promise.reject(new Error("no upgrade expected")),
  };
}

Deno.test("listenProxy serves HTTPS with ALPN http/1.1 and reports the peer", async () => {
  const tls = await tlsFixture();
  const peers: PeerInfo[] = [];
  const served = await listenProxy(echoProxy(peers), {
    tls: { certPem: tls.certPem, keyPem: tls.keyPem },
  });
  const client = Deno.createHttpClient({ caCerts: [tls.caPem] });
  try {
    assert.match(served.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${served.url}/api/v1/%70ods?a=b`, {
      method: "POST",
      body: "hello",
      headers: { authorization: "Bearer t" },
      client,
    });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "POST /api/v1/%70ods?a=b hello");
    assert.match(peers[0]!.remoteAddr, /^127\.0\.0\.1:\d+$/);
    assert.equal(peers[0]!.headers.get("authorization"), "Bearer t");
    assert.equal(peers[0]!.clientCertDer, undefined);

    const conn = await Deno.connectTls({
      hostname: "127.0.0.1",
      port: served.port,
      caCerts: [tls.caPem],
      alpnProtocols: ["h2", "http/1.1"],
    });
    const info = await conn.handshake();
    assert.equal(info.alpnProtocol, "http/1.1");
    conn.close();
  } finally {
    client.close();
    await served.close();
  }
});

Deno.test("listenProxy gives up on a TLS handshake that stalls past handshakeTimeoutMs", async () => {
  const tls = await tlsFixture();
  const log = memoryLogger();
  const served = await listenProxy(echoProxy([]), {
    tls: { certPem: tls.certPem, keyPem: tls.keyPem },
    handshakeTimeoutMs: 200,
    logger: log,
  });
  const stalled: Deno.Conn[] = [];
  try {
    // Nothing sent, and half a ClientHello.
    stalled.push(
      await Deno.connect({ hostname: "127.0.0.1", port: served.port }),
    );
    const half = await Deno.connect({
      hostname: "127.0.0.1",
      port: served.port,
    });
    await half.write(new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    stalled.push(half);
    // The event, not the time: both are given up on.
    while (
      log.lines.filter((l) => l.msg === "tls handshake timed out").length < 2
    ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    // The server still serves, and close() does not wait for them (Deno
    // keeps their sockets until the clients go: see the module doc).
    const client = Deno.createHttpClient({ caCerts: [tls.caPem] });
    const res = await fetch(`${served.url}/ok`, { client });
    assert.equal(await res.text(), "GET /ok ");
    client.close();
  } finally {
    await served.close();
    for (const c of stalled) c.close();
  }
});

Deno.test("listenProxy serves plain HTTP and times out a stalled head", async () => {
  const served = await listenProxy(echoProxy([]), { headTimeoutMs: 200 });
  try {
    const res = await fetch(`${served.url}/x`);
    assert.equal(await res.text(), "GET /x ");
    const c = await Deno.connect({ hostname: "127.0.0.1", port: served.port });
    await c.write(enc.encode("GET / HTTP/1.1\r\nHo"));
    assert.match(await readAll(c), /^HTTP\/1\.1 408 /);
    c.close();
  } finally {
    await served.close();
  }
});

Deno.test("listenProxy close() ends open connections", async () => {
  const served = await listenProxy(echoProxy([]));
  const c = await Deno.connect({ hostname: "127.0.0.1", port: served.port });
  await c.write(enc.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  const buf = new Uint8Array(4096);
  const n = await c.read(buf);
  assert.match(
    new TextDecoder().decode(buf.subarray(0, n!)),
    /^HTTP\/1\.1 200 /,
  );
  // The kept-alive connection is idle now; close() ends it (EOF).
  await served.close();
  assert.equal(await readAll(c), "");
  c.close();
});
