import assert from "node:assert/strict";
import { Duplex } from "node:stream";
import { encodeWsFrame, WsFrameParser } from "../k8s/ws_frame.ts";
import { ChannelSocket } from "./channel_socket.ts";

/** A socket double: `feed` plays client bytes, `frames()` decodes what the server wrote. */
function fakeSocket() {
  const written: Uint8Array[] = [];
  const socket = new Duplex({
    read() {},
    write(chunk, _enc, cb) {
      written.push(new Uint8Array(chunk));
      cb();
    },
  });
  return {
    socket,
    feed: (bytes: Uint8Array) => socket.push(bytes),
    frames: () => new WsFrameParser().push(concat(written)),
  };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

const MASK = new Uint8Array([1, 2, 3, 4]);
const enc = new TextEncoder();

function clientFrame(
  opcode: number,
  payload: Uint8Array,
  fin = true,
): Uint8Array {
  return encodeWsFrame({ opcode, payload, fin, mask: MASK });
}

function recorder() {
  const events: string[] = [];
  const stdin: Uint8Array[] = [];
  return {
    events,
    stdinText: () => new TextDecoder().decode(concat(stdin)),
    handlers: {
      stdin: (d: Uint8Array) => stdin.push(d.slice()),
      resize: (c: number, r: number) => events.push(`resize ${c}x${r}`),
      closeChannel: (ch: number) => events.push(`close ${ch}`),
    },
  };
}

/** Flushes `socket.push` deliveries (they are emitted on a later tick). */
const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("ChannelSocket reassembles fragmented stdin and resize messages at every split point", async () => {
  // stdin "hello world" in three frames (channel byte only in the first),
  // a fragmented resize, and a v5 stdin close.
  const wire = concat([
    clientFrame(2, enc.encode("\x00hel"), false),
    clientFrame(0, enc.encode("lo wo"), false),
    clientFrame(0, enc.encode("rld"), true),
    clientFrame(2, enc.encode('\x04{"Width":1'), false),
    clientFrame(0, enc.encode('20,"Height":40}\n'), true),
    clientFrame(2, new Uint8Array([255, 0])),
  ]);
  for (let split = 0; split <= wire.length; split++) {
    const fake = fakeSocket();
    const ch = new ChannelSocket(
      fake.socket,
      "v5.channel.k8s.io",
      new Uint8Array(0),
    );
    const rec = recorder();
    ch.start(rec.handlers);
    fake.feed(wire.subarray(0, split));
    fake.feed(wire.subarray(split));
    await tick();
    assert.equal(rec.stdinText(), "hello world", `split at ${split}`);
    assert.deepEqual(
      rec.events,
      ["resize 120x40", "close 0"],
      `split at ${split}`,
    );
    ch.destroy();
  }
});

Deno.test("ChannelSocket holds messages until start, resizes first, and resolves firstMessage", async () => {
  const fake = fakeSocket();
  const head = clientFrame(2, enc.encode('\x04{"Width":80,"Height":24}'));
  const ch = new ChannelSocket(fake.socket, "v5.channel.k8s.io", head);
  await ch.firstMessage;
  fake.feed(clientFrame(2, enc.encode("\x00x")));
  fake.feed(clientFrame(2, enc.encode('\x04{"Width":100,"Height":30}')));
  await tick();
  const rec = recorder();
  ch.start(rec.handlers);
  // Resizes are delivered before held stdin.
  assert.deepEqual(rec.events, ["resize 80x24", "resize 100x30"]);
  assert.equal(rec.stdinText(), "x");
  ch.destroy();
});

Deno.test("ChannelSocket answers pings, echoes a close and sends unmasked frames", async () => {
  const fake = fakeSocket();
  const ch = new ChannelSocket(
    fake.socket,
    "v4.channel.k8s.io",
    new Uint8Array(0),
  );
  ch.start(recorder().handlers);
  fake.feed(clientFrame(9, enc.encode("p")));
  await tick();
  assert.ok(ch.send(1, enc.encode("out")));
  fake.feed(clientFrame(8, new Uint8Array([0x03, 0xe8])));
  await tick();
  await ch.closed;
  const frames = fake.frames();
  assert.deepEqual(frames.map((f) => [f.opcode, f.masked]), [[10, false], [
    2,
    false,
  ], [8, false]]);
  assert.equal(new TextDecoder().decode(frames[0]!.payload), "p");
  assert.deepEqual([...frames[1]!.payload], [1, ...enc.encode("out")]);
});

Deno.test("ChannelSocket.finish sends the status on channel 3, then a close frame", () => {
  const fake = fakeSocket();
  const ch = new ChannelSocket(
    fake.socket,
    "v5.channel.k8s.io",
    new Uint8Array(0),
  );
  ch.finish({ metadata: {}, status: "Success" });
  const frames = fake.frames();
  assert.equal(frames.length, 2);
  assert.equal(frames[0]!.payload[0], 3);
  assert.deepEqual(
    JSON.parse(new TextDecoder().decode(frames[0]!.payload.subarray(1))),
    { metadata: {}, status: "Success" },
  );
  assert.equal(frames[1]!.opcode, 8);
  assert.ok(ch.isClosed);
});
