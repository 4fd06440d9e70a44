import assert from "node:assert/strict";
import { FakeSocket } from "../testing/fake_socket.ts";
import type { RelayTap } from "./relay_tap.ts";
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
    const r = await (async () => {
      await client.until(() => client.ended);
      client.emit("close");
      return await done;
    })();
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
    await client.until(() => client.ended);
    client.emit("close");
    assert.equal((await done).status, 404);
    assert.equal(client.text, answer);
  }
});

Deno.test("relayUpgrade does not forward client bytes when the upgrade is refused", async () => {
  const { client, up, done } = setup();
  await up.until(() => up.written.length > 0);
  client.receive("GET /api/v1/secrets HTTP/1.1\r\n\r\n");
  up.receive(FORBIDDEN);
  await client.until(() => client.ended);
  client.emit("close");
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
    assert.deepEqual(client.bytes, all, `split at ${i}`);
    client.receive(new Uint8Array([0x82, 0x80, 1, 2, 3, 4]));
    assert.deepEqual(
      up.written.at(-1),
      new Uint8Array([0x82, 0x80, 1, 2, 3, 4]),
    );
    up.emit("end");
    await client.until(() => client.ended);
    client.emit("close");
    up.emit("close");
    const r = await done;
    assert.equal(r.status, 101);
  }
});

Deno.test("relayUpgrade applies back-pressure from the client to upstream", async () => {
  const { client, up } = setup();
  await up.until(() => up.written.length > 0);
  up.receive("HTTP/1.1 101 Switching Protocols\r\n\r\n");
  client.full = true;
  up.receive("x");
  assert.ok(up.paused, "upstream paused while the client buffer is full");
  client.drain();
  assert.ok(!up.paused, "upstream resumed on drain");
  client.emit("close");
  up.emit("close");
});

Deno.test("relayUpgrade lets a tap hold bytes back and abort the session", async () => {
  const seen: string[] = [];
  let ended = "";
  const tap: RelayTap = {
    upgraded: (p) => seen.push(`proto:${p}`),
    fromClient: (c) => seen.push(`client:${c.length}`),
    fromUpstream: (c) => {
      const t = new TextDecoder().decode(c);
      if (t === "hold") return new Uint8Array(0);
      if (t === "fail") {
        tap.abort!(enc.encode("BYE"), "recorder gone");
        return new Uint8Array(0);
      }
      return Promise.resolve(c);
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
  await client.until(() => client.ended);
  assert.match(
    client.text,
    /\r\n\r\noneBYE$/,
    "released bytes, then the abort message",
  );
  assert.ok(
    !client.text.includes("late"),
    "nothing after the failure reaches the client",
  );
  assert.ok(up.destroyed);
  client.emit("close");
  const r = await done;
  assert.equal(r.reason, "recording-failed");
  assert.equal(ended, "recording-failed:recorder gone");
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
  await client.until(() => client.ended);
  assert.match(client.text, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
  assert.match(client.text, /could not be reached: connect ECONNREFUSED/);
  client.emit("close");
  assert.equal((await done).reason, "upstream-gone");
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
        fromClient: () => {},
        fromUpstream: (c) => c,
        end: (reason, detail, upstream) => {
          ends.push({ reason, detail, upstream });
          return Promise.resolve();
        },
      };
      const { client, up, done } = setup(tap);
      await up.until(() => up.written.length > 0);
      up.receive(all.subarray(0, i));
      up.receive(all.subarray(i));
      await client.until(() => client.ended);
      client.emit("close");
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
