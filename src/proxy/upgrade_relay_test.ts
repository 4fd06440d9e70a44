import assert from "node:assert/strict";
import { FakeSocket } from "../testing/fake_socket.ts";
import type { RelayTap } from "../recording/relay_tap.ts";
import { connDuplex } from "./deno_socket.ts";
import type { ByteDuplex } from "./duplex.ts";
import { encodeRequestHead, relayUpgrade } from "./upgrade_relay.ts";

const enc = new TextEncoder();
const HEAD = encodeRequestHead(
  "GET",
  "/api/v1/namespaces/default/pods/demo/exec?command=sh",
  [
    ["Host", "k8s"],
    ["Connection", "Upgrade"],
    ["Upgrade", "websocket"],
  ],
);

function setup(tap?: RelayTap) {
  const client = new FakeSocket();
  const up = new FakeSocket();
  const done = relayUpgrade({
    client,
    clientHead: new Uint8Array(0),
    requestHead: HEAD,
    connect: () => Promise.resolve(up),
    tap,
  });
  return { client, up, done };
}

const BODY =
  '{"kind":"Status","apiVersion":"v1","status":"Failure","message":"forbidden","reason":"Forbidden"}';
const FORBIDDEN =
  `HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`;

Deno.test("relayUpgrade passes a non-101 answer through unchanged at every split point", async () => {
  const all = enc.encode(FORBIDDEN);
  for (let i = 0; i <= all.length; i++) {
    const { client, up, done } = setup();
    await up.until(() => up.written.length > 0);
    assert.deepEqual(up.bytes, HEAD);
    up.receive(all.subarray(0, i));
    up.receive(all.subarray(i));
    const r = await done;
    assert.equal(client.text, FORBIDDEN, `split at ${i}`);
    assert.equal(r.status, 403);
    assert.ok(up.destroyed, "upstream closed after the answer");
  }
});

Deno.test("relayUpgrade passes a chunked non-101 answer through and ends after the last chunk", async () => {
  const answer =
    "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n";
  const all = enc.encode(answer);
  for (let i = 0; i <= all.length; i++) {
    const { client, up, done } = setup();
    await up.until(() => up.written.length > 0);
    up.receive(all.subarray(0, i));
    up.receive(all.subarray(i));
    assert.equal((await done).status, 404);
    assert.equal(client.text, answer);
  }
});

Deno.test("relayUpgrade does not forward client bytes when the upgrade is refused", async () => {
  const { client, up, done } = setup();
  await up.until(() => up.written.length > 0);
  client.receive("GET /api/v1/secrets HTTP/1.1\r\n\r\n");
  up.receive(FORBIDDEN);
  await done;
  assert.deepEqual(
    up.bytes,
    HEAD,
    "nothing but the request head reached upstream",
  );
});

Deno.test("relayUpgrade relays raw bytes both ways after 101 at every split of the answer", async () => {
  const answer =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n";
  const after = new Uint8Array([0x82, 0x03, 0x01, 0x68, 0x69]);
  const all = new Uint8Array([...enc.encode(answer), ...after]);
  for (let i = 0; i <= all.length; i++) {
    const { client, up, done } = setup();
    await up.until(() => up.written.length > 0);
    up.receive(all.subarray(0, i));
    up.receive(all.subarray(i));
    await client.until(() => client.bytes.length === all.length);
    assert.deepEqual(client.bytes, all, `split at ${i}`);
    client.receive(new Uint8Array([0x82, 0x80, 1, 2, 3, 4]));
    await up.until(() => up.written.length === 2);
    assert.deepEqual(
      up.written.at(-1),
      new Uint8Array([0x82, 0x80, 1, 2, 3, 4]),
    );
    up.end();
    const r = await done;
    assert.equal(r.status, 101);
    assert.equal(r.reason, "upstream-gone");
    assert.ok(client.ended && client.destroyed, "client closed after upstream");
  }
});

Deno.test("relayUpgrade lets a tap gate hold bytes back and end the session with its own bytes", async () => {
  const seen: string[] = [];
  let ended = "";
  let aborted: string | undefined;
  const tap: RelayTap = {
    upgraded: (p) => seen.push(`proto:${p}`),
    clientObserver: () =>
      new TransformStream({
        transform(c, ctl) {
          seen.push(`client:${c.length}`);
          ctl.enqueue(c);
        },
      }),
    upstreamGate: () =>
      new TransformStream({
        transform(c, ctl) {
          const t = new TextDecoder().decode(c);
          if (t === "hold") return;
          if (t === "fail") {
            aborted = "recording failed: recorder gone";
            ctl.enqueue(enc.encode("BYE"));
            ctl.terminate();
            return;
          }
          ctl.enqueue(c);
        },
      }),
    get abortedWith() {
      return aborted;
    },
    end: (reason, detail) => {
      ended = `${reason}:${detail}`;
      return Promise.resolve();
    },
  };
  const { client, up, done } = setup(tap);
  await up.until(() => up.written.length > 0);
  up.receive(
    "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n",
  );
  up.receive("one");
  up.receive("hold");
  up.receive("fail");
  up.receive("late");
  const r = await done;
  assert.match(
    client.text,
    /\r\n\r\noneBYE$/,
    "released bytes, then the abort message",
  );
  assert.ok(client.ended, "the client was closed after the final bytes");
  assert.ok(up.destroyed, "upstream closed");
  assert.equal(r.reason, "recording-failed");
  assert.equal(ended, "recording-failed:recording failed: recorder gone");
  assert.equal(seen[0], "proto:v4.channel.k8s.io");
});

Deno.test("relayUpgrade answers 502 with a Status when upstream cannot be reached", async () => {
  const client = new FakeSocket();
  const done = relayUpgrade({
    client,
    clientHead: new Uint8Array(0),
    requestHead: HEAD,
    connect: () =>
      Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:1")),
  });
  assert.equal((await done).reason, "upstream-gone");
  assert.match(client.text, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
  assert.match(client.text, /could not be reached: connect ECONNREFUSED/);
});

Deno.test("encodeRequestHead refuses header values that would split the head", () => {
  assert.throws(
    () => encodeRequestHead("GET", "/", [["Impersonate-User", "a\r\nX: y"]]),
    /header "Impersonate-User" has a forbidden character/,
  );
});

Deno.test("relayUpgrade ends the tap refused with the upstream's Status message at every split point", async () => {
  const chunked =
    `HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n${
      BODY.slice(0, 16)
    }\r\n${(BODY.length - 16).toString(16)}\r\n${BODY.slice(16)}\r\n0\r\n\r\n`;
  const cases: [string, string, number, string][] = [
    [FORBIDDEN, "Content-Length", 403, "forbidden"],
    [chunked, "chunked", 404, "forbidden"],
    [
      "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot json!",
      "not JSON",
      404,
      "Not Found",
    ],
    [
      `HTTP/1.1 500 Internal Server Error\r\nContent-Length: ${
        70 * 1024
      }\r\n\r\n{"kind":"Status","message":"${"x".repeat(70 * 1024 - 30)}"}`,
      "over 64 KiB",
      500,
      "Internal Server Error",
    ],
  ];
  for (const [answer, name, status, message] of cases) {
    const all = enc.encode(answer);
    const step = Math.max(1, Math.floor(all.length / 40));
    for (let i = 0; i <= all.length; i += step) {
      const ends: unknown[] = [];
      const tap: RelayTap = {
        upgraded: () => {},
        clientObserver: () => new TransformStream(),
        upstreamGate: () => new TransformStream(),
        end: (reason, detail, upstream) => {
          ends.push({ reason, detail, upstream });
          return Promise.resolve();
        },
      };
      const { client, up, done } = setup(tap);
      await up.until(() => up.written.length > 0);
      up.receive(all.subarray(0, i));
      up.receive(all.subarray(i));
      const r = await done;
      assert.equal(client.text, answer, `${name}: passed through unchanged`);
      assert.equal(r.reason, "refused");
      assert.deepEqual(r.upstream, { status, message }, `${name} split ${i}`);
      assert.equal(ends.length, 1);
      assert.deepEqual((ends[0] as { upstream: unknown }).upstream, {
        status,
        message,
      });
      assert.equal((ends[0] as { reason: string }).reason, "refused");
    }
  }
});

/** A connected pair of real TCP connections (the relay's end, the peer's end). */
async function tcpPair(): Promise<{ mine: Deno.Conn; peer: Deno.Conn }> {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [mine, peer] = await Promise.all([
    l.accept(),
    Deno.connect({
      hostname: "127.0.0.1",
      port: (l.addr as Deno.NetAddr).port,
    }),
  ]);
  l.close();
  return { mine, peer };
}

/** Counts the bytes a stream hands on. */
function counted(d: ByteDuplex, count: { n: number }): ByteDuplex {
  return {
    readable: d.readable.pipeThrough(
      new TransformStream({
        transform(c, ctl) {
          count.n += c.length;
          ctl.enqueue(c);
        },
      }),
    ),
    writable: d.writable,
    close: () => d.close(),
  };
}

/** Resolves once `read()` stood still over a number of event-loop turns. */
async function settled(read: () => number): Promise<number> {
  let last = -1;
  let still = 0;
  while (still < 20) {
    await new Promise((r) => setTimeout(r, 5));
    const now = read();
    still = now === last ? still + 1 : 0;
    last = now;
  }
  return last;
}

/** Writes `total` bytes in 64 KiB chunks, counting what the kernel took. */
async function pump(conn: Deno.Conn, total: number, sent: { n: number }) {
  const chunk = new Uint8Array(64 * 1024).fill(0x61);
  try {
    while (sent.n < total) {
      sent.n += await conn.write(chunk.subarray(0, total - sent.n));
    }
  } catch { /* closed by the test */ }
}

const ANSWER_101 = enc.encode(
  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
);
const TOTAL = 64 * 1024 * 1024;
const BOUND = 24 * 1024 * 1024;

/** A relay between two real TCP pairs; `upstream` has answered 101. */
async function realRelay() {
  const c = await tcpPair();
  const u = await tcpPair();
  const fromUpstream = { n: 0 };
  const fromClient = { n: 0 };
  const done = relayUpgrade({
    client: counted(connDuplex(c.mine), fromClient),
    clientHead: new Uint8Array(0),
    requestHead: HEAD,
    connect: () => Promise.resolve(counted(connDuplex(u.mine), fromUpstream)),
  });
  // The upstream's side reads the request head and answers 101.
  const buf = new Uint8Array(HEAD.length);
  let got = 0;
  while (got < HEAD.length) got += (await u.peer.read(buf.subarray(got)))!;
  await u.peer.write(ANSWER_101);
  const head = new Uint8Array(ANSWER_101.length);
  got = 0;
  while (got < head.length) got += (await c.peer.read(head.subarray(got)))!;
  return { client: c.peer, upstream: u.peer, fromUpstream, fromClient, done };
}

async function drainAll(conn: Deno.Conn, n: number): Promise<number> {
  const buf = new Uint8Array(256 * 1024);
  let got = 0;
  while (got < n) {
    const k = await conn.read(buf);
    if (k === null) break;
    got += k;
  }
  return got;
}

Deno.test("relayUpgrade over real sockets: a client that stops reading stops the proxy reading upstream", async () => {
  const r = await realRelay();
  const sent = { n: 0 };
  const writing = pump(r.upstream, TOTAL, sent);
  const stalled = await settled(() => sent.n);
  assert.ok(stalled < TOTAL, `upstream was held back (${stalled} bytes sent)`);
  assert.ok(
    r.fromUpstream.n < BOUND,
    `the proxy read ${r.fromUpstream.n} bytes from upstream while the client read nothing`,
  );
  // Once the client reads, everything flows.
  assert.equal(await drainAll(r.client, TOTAL), TOTAL);
  await writing;
  r.upstream.close();
  await drainAll(r.client, 1);
  r.client.close();
  assert.equal((await r.done).reason, "upstream-gone");
});

Deno.test("relayUpgrade over real sockets: an upstream that stops reading stops the proxy reading the client", async () => {
  const r = await realRelay();
  const sent = { n: 0 };
  const writing = pump(r.client, TOTAL, sent);
  const stalled = await settled(() => sent.n);
  assert.ok(
    stalled < TOTAL,
    `the client was held back (${stalled} bytes sent)`,
  );
  assert.ok(
    r.fromClient.n < BOUND,
    `the proxy read ${r.fromClient.n} bytes from the client while upstream read nothing`,
  );
  assert.equal(await drainAll(r.upstream, TOTAL), TOTAL);
  await writing;
  r.client.close();
  await drainAll(r.upstream, 1);
  r.upstream.close();
  assert.equal((await r.done).reason, "client-gone");
});

Deno.test("relayUpgrade: an upstream whose connection breaks after its last bytes still gets them to the client once the gate releases them", async () => {
  // The gate holds everything until "release" arrives from the recorder side
  // (here: a promise the test resolves after the upstream broke).
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const held: Uint8Array[] = [];
  let gotBoth!: () => void;
  const both = new Promise<void>((r) => (gotBoth = r));
  const tap: RelayTap = {
    upgraded: () => {},
    clientObserver: () => new TransformStream(),
    upstreamGate: () =>
      new TransformStream({
        transform(c) {
          held.push(c);
          if (held.length === 2) gotBoth();
        },
        async flush(ctl) {
          await released;
          for (const c of held) ctl.enqueue(c);
        },
      }),
    abortedWith: undefined,
    end: () => Promise.resolve(),
  };
  const { client, up, done } = setup(tap);
  await up.until(() => up.written.length > 0);
  up.receive("HTTP/1.1 101 Switching Protocols\r\n\r\n");
  up.receive("all-");
  await new Promise((r) => setTimeout(r, 0));
  up.receive("the-output");
  // The gate has taken both pieces off the connection before it breaks (an
  // errored stream drops what is still queued in it).
  await both;
  up.fail(new Error("peer closed connection without sending TLS close_notify"));
  // The client's side is not cut while the gate still holds the output.
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(client.destroyed, false);
  release();
  const r = await done;
  assert.match(client.text, /\r\n\r\nall-the-output$/);
  assert.equal(r.reason, "upstream-gone");
});
