import assert from "node:assert/strict";
import {
  encodeWsFrame,
  WsFrameDecoderStream,
  WsFrameParser,
} from "./ws_frame.ts";

const MASK = new Uint8Array([1, 2, 3, 4]);

Deno.test("encodeWsFrame and WsFrameParser round-trip 7, 16 and 64-bit lengths, masked or not", () => {
  for (const len of [0, 1, 125, 126, 127, 65535, 65536, 70000]) {
    for (const mask of [undefined, MASK]) {
      const payload = new Uint8Array(len).map((_, i) => i * 7);
      const wire = encodeWsFrame({ opcode: 2, payload, mask });
      const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
      assert.equal(wire.length, 2 + ext + (mask ? 4 : 0) + len);
      const parser = new WsFrameParser();
      const frames = [
        ...parser.push(wire.subarray(0, 5)),
        ...parser.push(wire.subarray(5)),
      ];
      assert.equal(frames.length, 1, `length ${len}`);
      assert.equal(frames[0]!.masked, mask !== undefined);
      assert.equal(frames[0]!.wireLength, wire.length);
      assert.deepEqual(frames[0]!.payload, payload);
      assert.equal(parser.consumed, wire.length);
      assert.equal(parser.pending, 0);
    }
  }
});

Deno.test("WsFrameParser decodes a masked frame split at every byte", () => {
  const wire = encodeWsFrame({
    opcode: 2,
    payload: new TextEncoder().encode("\x01hello world"),
    mask: MASK,
  });
  for (let cut = 0; cut <= wire.length; cut++) {
    const parser = new WsFrameParser();
    const frames = [
      ...parser.push(wire.subarray(0, cut)),
      ...parser.push(wire.subarray(cut)),
    ];
    assert.equal(frames.length, 1);
    assert.equal(
      new TextDecoder().decode(frames[0]!.payload),
      "\x01hello world",
    );
  }
});

Deno.test("WsFrameParser reports the stream offset of a bad frame after good ones", () => {
  const good = encodeWsFrame({ opcode: 2, payload: new Uint8Array(10) });
  const parser = new WsFrameParser();
  parser.push(good); // 12 bytes consumed in an earlier call
  const bad = new Uint8Array([...good, 0x83, 0x00]); // opcode 3 is reserved
  assert.throws(() => parser.push(bad), /opcode 3 is unknown at byte 24/);
});

Deno.test("WsFrameParser refuses long or fragmented control frames and oversize payloads", () => {
  assert.throws(
    () => new WsFrameParser().push(new Uint8Array([0x09, 0x00])),
    /control frame 9 is fragmented or longer than 125 bytes at byte 0/,
  );
  assert.throws(
    () =>
      new WsFrameParser({ maxFramePayload: 3 }).push(
        encodeWsFrame({ opcode: 2, payload: new Uint8Array(4) }),
      ),
    RangeError,
  );
});

Deno.test("WsFrameDecoderStream refuses a stream that ends inside a frame", async () => {
  const wire = encodeWsFrame({ opcode: 2, payload: new Uint8Array(4) });
  await assert.rejects(
    Array.fromAsync(
      ReadableStream.from([wire.subarray(0, 3)]).pipeThrough(
        new WsFrameDecoderStream(),
      ),
    ),
    /stream ended inside a frame \(3 bytes pending\)/,
  );
});

/** Feeds `wire` to `push` in pieces of `size` bytes. */
function feed<T>(wire: Uint8Array, size: number, push: (c: Uint8Array) => T[]) {
  const out: T[] = [];
  for (let off = 0; off < wire.length; off += size) {
    out.push(...push(wire.subarray(off, off + size)));
  }
  return out;
}

Deno.test("WsFrameParser parses a 16 MiB masked frame fed in 256-byte chunks with at most 3x the input copied", () => {
  const payload = new Uint8Array(16 * 1024 * 1024).map((_, i) => i * 31);
  const wire = encodeWsFrame({ opcode: 2, payload, mask: MASK });
  const before = wire.slice();
  const parser = new WsFrameParser();
  const frames = feed(wire, 256, (c) => parser.push(c));
  assert.equal(frames.length, 1);
  assert.equal(frames[0]!.wireLength, wire.length);
  assert.ok(frames[0]!.payload.every((b, i) => b === payload[i]));
  assert.ok(
    parser.copiedBytes <= 3 * wire.length,
    `${parser.copiedBytes} bytes copied for ${wire.length} bytes of input`,
  );
  assert.deepEqual(wire, before, "the caller's bytes are unchanged");
  assert.equal(parser.pending, 0);
});

Deno.test("WsFrameParser copies each byte at most twice for frames of every size split every way", () => {
  const frames = [0, 1, 125, 126, 300, 65536].map((len, i) =>
    encodeWsFrame({
      opcode: i === 0 ? 9 : 2,
      payload: new Uint8Array(len).fill(i),
      mask: i % 2 ? MASK : undefined,
    })
  );
  const wire = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  frames.reduce((off, f) => (wire.set(f, off), off + f.length), 0);
  for (const size of [1, 2, 3, 7, 13, 256, 4096, wire.length]) {
    const parser = new WsFrameParser();
    const out = feed(wire, size, (c) => parser.push(c));
    assert.deepEqual(out.map((f) => f.wireLength), frames.map((f) => f.length));
    assert.ok(parser.copiedBytes <= 2 * wire.length, `size ${size}`);
  }
});

Deno.test("WsFrameParser does not keep views of a chunk the caller reuses", () => {
  const wire = encodeWsFrame({
    opcode: 2,
    payload: new TextEncoder().encode("\x01reused buffer"),
    mask: MASK,
  });
  const parser = new WsFrameParser();
  const buf = new Uint8Array(4);
  const out = [];
  for (let off = 0; off < wire.length; off += 4) {
    const n = Math.min(4, wire.length - off);
    buf.set(wire.subarray(off, off + n));
    out.push(...parser.push(buf.subarray(0, n)));
    buf.fill(0xee); // the caller reuses its read buffer
  }
  assert.equal(out.length, 1);
  assert.equal(new TextDecoder().decode(out[0]!.payload), "\x01reused buffer");
});

Deno.test("WsFrameParser checks the header before the payload arrives", () => {
  const parser = new WsFrameParser({ maxFramePayload: 1000 });
  const wire = encodeWsFrame({ opcode: 2, payload: new Uint8Array(2000) });
  assert.throws(() => parser.push(wire.subarray(0, 4)), /2000 bytes exceeds/);
});
