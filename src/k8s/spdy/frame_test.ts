import assert from "node:assert/strict";
import {
  encodeControlFrame,
  encodeDataFrame,
  MAX_FRAME_PAYLOAD,
  SpdyFrameParser,
  TYPE_PING,
  u32s,
} from "./frame.ts";
import { SpdyFrameDecoder } from "./frame_decoder.ts";

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

const FRAMES = [
  encodeDataFrame(1, new TextEncoder().encode("hello"), false),
  encodeControlFrame(TYPE_PING, 0, u32s(7)),
  encodeDataFrame(0x7fffffff, new Uint8Array(), true),
  encodeDataFrame(3, new Uint8Array(300).fill(9), false),
];
const WIRE = concat(FRAMES);

Deno.test("SpdyFrameParser decodes header fields of data and control frames", () => {
  const frames = new SpdyFrameParser().push(WIRE);
  assert.equal(frames.length, 4);
  assert.deepEqual(
    frames.map((
      f,
    ) => [
      f.control,
      f.version,
      f.type,
      f.streamId,
      f.flags,
      f.payload.length,
      f.offset,
    ]),
    [
      [false, 0, 0, 1, 0, 5, 0],
      [true, 3, 6, 0, 0, 4, 13],
      [false, 0, 0, 0x7fffffff, 1, 0, 25],
      [false, 0, 0, 3, 0, 300, 33],
    ],
  );
});

Deno.test("SpdyFrameParser yields the same frames at every split point", () => {
  const whole = new SpdyFrameParser().push(WIRE);
  for (let i = 0; i <= WIRE.length; i++) {
    for (
      const j of [i, Math.min(WIRE.length, i + 1), Math.min(WIRE.length, i + 9)]
    ) {
      const p = new SpdyFrameParser();
      const got = [
        ...p.push(WIRE.subarray(0, i)),
        ...p.push(WIRE.subarray(i, j)),
        ...p.push(WIRE.subarray(j)),
      ];
      assert.deepEqual(got, whole, `split at ${i}/${j}`);
      assert.equal(p.consumed, WIRE.length);
      assert.equal(p.pending, 0);
    }
  }
});

Deno.test("SpdyFrameParser yields the same frames byte by byte and counts consumed bytes per whole frame", () => {
  const p = new SpdyFrameParser();
  const got = [];
  const boundaries = [0];
  for (const f of FRAMES) boundaries.push(boundaries.at(-1)! + f.length);
  for (let i = 0; i < WIRE.length; i++) {
    got.push(...p.push(WIRE.subarray(i, i + 1)));
    assert.ok(boundaries.includes(p.consumed));
    assert.equal(p.consumed + p.pending, i + 1);
  }
  assert.deepEqual(got, new SpdyFrameParser().push(WIRE));
});

Deno.test("SpdyFrameParser refuses a frame over the payload limit as soon as its header is in", () => {
  const p = new SpdyFrameParser({ maxFramePayload: 100 });
  p.push(encodeDataFrame(1, new Uint8Array(100)));
  assert.throws(
    () => p.push(encodeDataFrame(1, new Uint8Array(101)).subarray(0, 8)),
    (e: Error) =>
      e instanceof RangeError &&
      e.message ===
        "Cannot decode SPDY frame at offset 108: payload of 101 bytes exceeds the limit of 100 bytes",
  );
});

Deno.test("encodeDataFrame refuses stream id 0 and oversized payloads", () => {
  assert.throws(() => encodeDataFrame(0, new Uint8Array()), RangeError);
  assert.throws(() => encodeDataFrame(2 ** 31, new Uint8Array()), RangeError);
  assert.throws(
    () => encodeControlFrame(TYPE_PING, 0, new Uint8Array(0x1000000)),
    /exceeds 16777215 bytes/,
  );
});

Deno.test("SpdyFrameParser parses a 16 MiB data frame fed in 256-byte chunks with at most 3x the input copied", () => {
  const data = new Uint8Array(MAX_FRAME_PAYLOAD).map((_, i) => i * 13);
  const wire = encodeDataFrame(5, data, true);
  const parser = new SpdyFrameParser();
  const frames = [];
  for (let off = 0; off < wire.length; off += 256) {
    frames.push(...parser.push(wire.subarray(off, off + 256)));
  }
  assert.equal(frames.length, 1);
  assert.equal(frames[0]!.streamId, 5);
  assert.ok(frames[0]!.payload.every((b, i) => b === data[i]));
  assert.ok(
    parser.copiedBytes <= 3 * wire.length,
    `${parser.copiedBytes} bytes copied for ${wire.length} bytes of input`,
  );
  assert.equal(parser.pending, 0);
});

Deno.test("SpdyFrameDecoder copies data frames at most twice over for every chunk size", () => {
  for (const size of [1, 3, 8, 9, 256, WIRE.length]) {
    const decoder = new SpdyFrameDecoder();
    const out = [];
    for (let off = 0; off < WIRE.length; off += size) {
      out.push(...decoder.push(WIRE.subarray(off, off + size)));
    }
    assert.equal(out.length, FRAMES.length, `size ${size}`);
    assert.ok(decoder.copiedBytes <= 2 * WIRE.length, `size ${size}`);
  }
});

Deno.test("SpdyFrameParser does not keep views of a chunk the caller reuses", () => {
  const wire = encodeDataFrame(1, new TextEncoder().encode("reused"), false);
  const parser = new SpdyFrameParser();
  const buf = new Uint8Array(3);
  const out = [];
  for (let off = 0; off < wire.length; off += 3) {
    const n = Math.min(3, wire.length - off);
    buf.set(wire.subarray(off, off + n));
    out.push(...parser.push(buf.subarray(0, n)));
    buf.fill(0xee);
  }
  assert.equal(new TextDecoder().decode(out[0]!.payload), "reused");
});
