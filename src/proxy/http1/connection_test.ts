import assert from "node:assert/strict";
import type { PeerInfo } from "../../identity/identity.ts";
import type { Proxy, UpgradeRequest } from "../proxy.ts";
import { serveHttp1Connection } from "./connection.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

type Fetch = Proxy["fetch"];
type Upgrade = Proxy["upgrade"];

/** A server on 127.0.0.1:0 running the core over real `Deno.listen` sockets. */
function serve(
  fetch: Fetch,
  opts: { upgrade?: Upgrade; headTimeoutMs?: number; idleTimeoutMs?: number } =
    {},
) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const shutdown = new AbortController();
  const conns = new Set<Promise<void>>();
  const proxy: Proxy = {
    fetch,
    upgrade: opts.upgrade ??
      (() => Promise.reject(new Error("no upgrade expected"))),
  };
  const accepting = (async () => {
    for await (const conn of listener) {
      conn.setNoDelay(true);
      const p = serveHttp1Connection(conn, proxy, {
        remoteAddr: "127.0.0.1:1",
        secure: false,
        headTimeoutMs: opts.headTimeoutMs ?? 30_000,
        idleTimeoutMs: opts.idleTimeoutMs ?? 30_000,
        closeWrite: () => conn.closeWrite(),
        signal: shutdown.signal,
      }).finally(() => conns.delete(p));
      conns.add(p);
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      shutdown.abort();
      listener.close();
      await accepting;
      await Promise.all([...conns]);
    },
  };
}

async function connect(port: number): Promise<Deno.TcpConn> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  c.setNoDelay(true);
  return c;
}

/** Reads until EOF (or a reset) and returns everything as text. */
async function readAll(conn: Deno.Conn): Promise<string> {
  const parts: Uint8Array[] = [];
  const buf = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      parts.push(buf.slice(0, n));
    }
  } catch { /* reset */ }
  let text = "";
  for (const p of parts) text += dec.decode(p, { stream: true });
  return text;
}

/** Reads until the text read so far satisfies `done`. */
async function readUntil(
  conn: Deno.Conn,
  done: (text: string) => boolean,
): Promise<string> {
  let text = "";
  const buf = new Uint8Array(64 * 1024);
  while (!done(text)) {
    const n = await conn.read(buf);
    if (n === null) throw new Error(`EOF after ${JSON.stringify(text)}`);
    text += dec.decode(buf.subarray(0, n));
  }
  return text;
}

/** Resolves once `value()` has stayed the same over many event-loop turns. */
async function settled(value: () => number): Promise<number> {
  let last = -1;
  let same = 0;
  while (same < 20) {
    await new Promise((r) => setTimeout(r, 10));
    const v = value();
    same = v === last ? same + 1 : 0;
    last = v;
  }
  return last;
}

const text = (s: string, init?: ResponseInit) => new Response(s, init);

Deno.test("serveHttp1Connection answers 3 pipelined requests in order on one connection", async () => {
  const seen: string[] = [];
  const server = serve((req, _peer, raw) => {
    seen.push(`${req.method} ${raw}`);
    // The first answer is the slowest: order must still hold.
    const wait = raw === "/a" ? 30 : 0;
    return new Promise((r) =>
      setTimeout(() => r(text(`body of ${raw}`)), wait)
    );
  });
  try {
    const c = await connect(server.port);
    await c.write(enc.encode(
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\n" +
        "GET /b?x=%zz HTTP/1.1\r\nHost: x\r\n\r\n" +
        "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ));
    const all = await readAll(c);
    c.close();
    const bodies = [...all.matchAll(/body of (\S+)/g)].map((m) => m[1]);
    assert.deepEqual(bodies, ["/a", "/b?x=%zz", "/c"]);
    assert.equal(all.match(/HTTP\/1\.1 200 OK\r\n/g)?.length, 3);
    assert.match(all, /connection: close\r\n/);
    assert.deepEqual(seen, ["GET /a", "GET /b?x=%zz", "GET /c"]);
  } finally {
    await server.close();
  }
});

Deno.test("serveHttp1Connection hands a chunked request body over intact, trailers dropped", async () => {
  const got: Uint8Array[] = [];
  let peerOf: PeerInfo | undefined;
  const server = serve(async (req, peer) => {
    peerOf ??= peer;
    const body = new Uint8Array(await req.arrayBuffer());
    got.push(body);
    return text(`got ${body.length}`);
  });
  try {
    const payload = new Uint8Array(100_000);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) % 251;
    const pieces = [1, 4095, 30_000, 65_904];
    let wire = "";
    let off = 0;
    for (const n of pieces) {
      wire += `${n.toString(16)};ext=1\r\n`;
      wire += String.fromCharCode(...payload.subarray(off, off + n)) + "\r\n";
      off += n;
    }
    wire += "0\r\nX-Trailer: t\r\n\r\n";
    const head =
      "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    const bytes = Uint8Array.from(head + wire, (ch) => ch.charCodeAt(0));
    const c = await connect(server.port);
    // In odd pieces, so framing lines split across reads.
    for (let i = 0; i < bytes.length; i += 7777) {
      await c.write(bytes.subarray(i, i + 7777));
    }
    // Then a second request on the same connection.
    await c.write(
      enc.encode("GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    );
    const all = await readAll(c);
    c.close();
    assert.deepEqual(got[0], payload);
    assert.equal(got[1]?.length, 0);
    assert.match(all, /got 100000[\s\S]*got 0/);
    assert.equal(peerOf?.headers.get("transfer-encoding"), "chunked");
  } finally {
    await server.close();
  }
});

Deno.test("serveHttp1Connection keeps the body of a chunked upload byte for byte", async () => {
  const bodies: Uint8Array[] = [];
  const server = serve(async (req) => {
    bodies.push(new Uint8Array(await req.arrayBuffer()));
    return text("ok");
  });
  try {
    const payload = crypto.getRandomValues(new Uint8Array(50_000));
    const c = await connect(server.port);
    await c.write(enc.encode(
      "PUT /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    ));
    for (let i = 0; i < payload.length; i += 12_345) {
      const part = payload.subarray(i, i + 12_345);
      await c.write(enc.encode(`${part.length.toString(16)}\r\n`));
      await c.write(part);
      await c.write(enc.encode("\r\n"));
    }
    await c.write(enc.encode("0\r\n\r\n"));
    await readAll(c);
    c.close();
    assert.deepEqual(bodies[0], payload);
  } finally {
    await server.close();
  }
});

Deno.test("serveHttp1Connection answers HEAD with the length and no body", async () => {
  const server = serve((req) =>
    Promise.resolve(
      req.method === "HEAD"
        ? new Response("hello", { headers: { "content-length": "5" } })
        : text("second"),
    )
  );
  try {
    const c = await connect(server.port);
    await c.write(enc.encode(
      "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /g HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ));
    const all = await readAll(c);
    c.close();
    const [first, second] = all.split(/(?=HTTP\/1\.1 )/);
    assert.match(first!, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(first!, /content-length: 5\r\n/);
    assert.ok(first!.endsWith("\r\n\r\n"), "no body after a HEAD answer");
    assert.match(
      second!,
      /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n6\r\nsecond\r\n0\r\n\r\n$/,
    );
  } finally {
    await server.close();
  }
});

Deno.test("serveHttp1Connection closes after Connection: close and after HTTP/1.0", async () => {
  let calls = 0;
  const server = serve(() => {
    calls++;
    // Unknown length: chunked for 1.1, close-delimited for 1.0.
    return Promise.resolve(
      new Response(ReadableStream.from([enc.encode("strea"), enc.encode("m")])),
    );
  });
  try {
    for (
      const [request, framing] of [
        [
          "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
          /transfer-encoding: chunked\r\n[\s\S]*\r\n\r\n5\r\nstrea\r\n1\r\nm\r\n0\r\n\r\n$/,
        ],
        ["GET / HTTP/1.0\r\n\r\n", /\r\n\r\nstream$/],
      ] as const
    ) {
      const c = await connect(server.port);
      // A request after the last one is never answered.
      await c.write(enc.encode(request + "GET /x HTTP/1.1\r\nHost: x\r\n\r\n"));
      const all = await readAll(c);
      c.close();
      assert.match(all, framing);
      assert.match(all, /connection: close\r\n/);
      assert.equal(all.match(/HTTP\/1\.1 /g)?.length, 1);
    }
    assert.equal(calls, 2);
  } finally {
    await server.close();
  }
});

Deno.test("serveHttp1Connection keeps an HTTP/1.0 keep-alive connection with a known length", async () => {
  const server = serve(() =>
    Promise.resolve(new Response("x", { headers: { "content-length": "1" } }))
  );
  try {
    const c = await connect(server.port);
    await c.write(enc.encode(
      "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
    ));
    const all = await readAll(c);
    c.close();
    assert.equal(all.match(/HTTP\/1\.1 200/g)?.length, 2);
    assert.match(all, /connection: keep-alive\r\n/);
  } finally {
    await server.close();
  }
});

Deno.test("serveHttp1Connection sends 100 Continue when the body is first read", async () => {
  const server = serve(async (req) => text(`len ${(await req.text()).length}`));
  try {
    const c = await connect(server.port);
    await c.write(enc.encode(
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
    ));
    const cont = await readUntil(c, (t) => t.includes("\r\n\r\n"));
    assert.equal(cont, "HTTP/1.1 100 Continue\r\n\r\n");
    await c.write(enc.encode("abcd"));
    const all = await readAll(c);
    c.close();
    assert.match(all, /^HTTP\/1\.1 200 OK[\s\S]*len 4/);
  } finally {
    await server.close();
  }
});

Deno.test("serveHttp1Connection hands a SPDY upgrade (POST, Content-Length: 0) to proxy.upgrade with the bytes after the head", async () => {
  let seen: { req: UpgradeRequest; head: string } | undefined;
  const server = serve(() => Promise.reject(new Error("not an upgrade")), {
    upgrade: async (req, client, head) => {
      seen = { req, head: dec.decode(head) };
      const w = client.writable.getWriter();
      await w.write(enc.encode(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n",
      ));
      // Echo what the client sends next until END, then close.
      for await (const d of client.readable) {
        await w.write(d);
        if (dec.decode(d).includes("END")) break;
      }
      await w.close();
    },
  });
  try {
    const c = await connect(server.port);
    await c.write(enc.encode(
      "POST /api/v1/namespaces/d/pods/p/exec?command=sh HTTP/1.1\r\nHost: x\r\n" +
        "Content-Length: 0\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n" +
        "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n\x80\x03\x00\x01",
    ));
    await readUntil(c, (t) => t.includes("\r\n\r\n"));
    await c.write(enc.encode("more END"));
    const rest = await readAll(c);
    c.close();
    assert.equal(seen?.req.method, "POST");
    assert.equal(
      seen?.req.target,
      "/api/v1/namespaces/d/pods/p/exec?command=sh",
    );
    assert.deepEqual(seen?.req.rawHeaders.at(-1), [
      "X-Stream-Protocol-Version",
      "v4.channel.k8s.io",
    ]);
    assert.equal(seen?.head, "\x80\x03\x00\x01");
    assert.equal(rest, "more END");
  } finally {
    await server.close();
  }
});

Deno.test("serveHttp1Connection answers a malformed head with a Status and closes", async () => {
  const server = serve(() => Promise.reject(new Error("must not be called")));
  try {
    const c = await connect(server.port);
    await c.write(enc.encode(
      "GET / HTTP/1.1\r\nHost: x\r\nX-Remote-User: a\r\n  system:admin\r\n\r\n",
    ));
    const all = await readAll(c);
    c.close();
    assert.match(all, /^HTTP\/1\.1 400 Bad Request\r\n/);
    const body = JSON.parse(all.slice(all.indexOf("\r\n\r\n") + 4));
    assert.equal(body.kind, "Status");
    assert.equal(body.code, 400);
    assert.match(body.message, /obs-fold/);
  } finally {
    await server.close();
  }
});

Deno.test("serveHttp1Connection closes a connection whose head stalls past headTimeoutMs", async () => {
  const server = serve(() => Promise.reject(new Error("must not be called")), {
    headTimeoutMs: 200,
  });
  try {
    const c = await connect(server.port);
    await c.write(enc.encode("GET /api HTTP/1.1\r\nHost: x\r\nX-Half"));
    // The assertion is that it closes (EOF arrives), not when.
    const all = await readAll(c);
    c.close();
    assert.match(all, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.match(all, /not complete within 200 ms/);
    // And a connection that sends nothing at all.
    const idle = await connect(server.port);
    const none = await readAll(idle);
    idle.close();
    assert.match(none, /^HTTP\/1\.1 408 /);
  } finally {
    await server.close();
  }
});

Deno.test("serveHttp1Connection stops pulling an endless response body when the client stops reading", async () => {
  let produced = 0;
  let pulls = 0;
  const chunk = new Uint8Array(64 * 1024);
  const server = serve(() =>
    Promise.resolve(
      new Response(
        new ReadableStream<Uint8Array>({
          pull(c) {
            pulls++;
            produced += chunk.length;
            c.enqueue(chunk.slice());
          },
        }, { highWaterMark: 0 }),
      ),
    )
  );
  try {
    const c = await connect(server.port);
    await c.write(enc.encode("GET /endless HTTP/1.1\r\nHost: x\r\n\r\n"));
    const stopped = await settled(() => pulls);
    assert.ok(stopped > 0);
    assert.ok(
      produced < 8 * 1024 * 1024,
      `produced ${produced} bytes for a client that reads nothing`,
    );
    // Reading resumes the producer.
    let read = 0;
    const buf = new Uint8Array(256 * 1024);
    const target = produced + 4 * 1024 * 1024;
    while (read < target) {
      const n = await c.read(buf);
      if (n === null) throw new Error("EOF");
      read += n;
    }
    assert.ok(pulls > stopped);
    c.close();
  } finally {
    await server.close();
  }
});

Deno.test("serveHttp1Connection reads an upload no faster than the request body is consumed", async () => {
  let release!: () => void;
  const released = new Promise<void>((r) => release = r);
  let started!: () => void;
  const inFetch = new Promise<void>((r) => started = r);
  const server = serve(async () => {
    started();
    await released; // reads nothing of req.body
    return text("late");
  });
  try {
    const c = await connect(server.port);
    await c.write(enc.encode(
      `PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${2 ** 30}\r\n\r\n`,
    ));
    await inFetch;
    let accepted = 0;
    const chunk = new Uint8Array(64 * 1024);
    const writing = (async () => {
      for (;;) accepted += await c.write(chunk);
    })().catch(() => {});
    const stalled = await settled(() => accepted);
    assert.ok(
      stalled < 16 * 1024 * 1024,
      `${stalled} bytes accepted from a client whose body nobody reads`,
    );
    c.close();
    await writing;
  } finally {
    release();
    await server.close();
  }
});

Deno.test("serveHttp1Connection cancels a quiet streaming answer (a watch) when the client goes away", async () => {
  let cancelled!: () => void;
  const wasCancelled = new Promise<void>((r) => cancelled = r);
  const server = serve(() =>
    Promise.resolve(
      new Response(
        new ReadableStream<Uint8Array>({
          start(c) {
            c.enqueue(enc.encode('{"type":"ADDED"}\n'));
          },
          pull: () => new Promise(() => {}), // no more events, ever
          cancel: () => cancelled(),
        }),
      ),
    )
  );
  try {
    const c = await connect(server.port);
    await c.write(
      enc.encode("GET /pods?watch=true HTTP/1.1\r\nHost: x\r\n\r\n"),
    );
    await readUntil(c, (t) => t.includes("ADDED"));
    c.close();
    await wasCancelled;
  } finally {
    await server.close();
  }
});

Deno.test("serveHttp1Connection closes a kept-alive connection idle past idleTimeoutMs, without a 408", async () => {
  const server = serve(() => Promise.resolve(text("one")), {
    idleTimeoutMs: 200,
  });
  try {
    const c = await connect(server.port);
    await c.write(enc.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    // One answer, then EOF once the connection has sat idle.
    const all = await readAll(c);
    c.close();
    assert.equal(all.match(/HTTP\/1\.1 /g)?.length, 1);
    assert.match(all, /^HTTP\/1\.1 200 OK/);
  } finally {
    await server.close();
  }
});
