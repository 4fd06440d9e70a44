import assert from "node:assert/strict";
import { encodeControlFrame, TYPE_SYN_STREAM } from "./frame.ts";
import {
  type SpdyFrame,
  SpdyFrameDecoder,
  SpdyFrameDecoderStream,
} from "./frame_decoder.ts";
import { SpdyFrameEncoder } from "./frame_encoder.ts";

const FRAMES: SpdyFrame[] = [
  {
    kind: "syn_stream",
    streamId: 1,
    associatedToStreamId: 0,
    priority: 0,
    fin: false,
    unidirectional: false,
    headers: [["streamtype", "error"]],
  },
  { kind: "syn_reply", streamId: 1, fin: false, headers: [] },
  {
    kind: "syn_stream",
    streamId: 3,
    associatedToStreamId: 1,
    priority: 7,
    fin: true,
    unidirectional: true,
    headers: [["streamtype", "stdout"], ["x", "a\0b"]],
  },
  { kind: "headers", streamId: 3, fin: true, headers: [["k", "v"]] },
  { kind: "data", streamId: 3, fin: false, data: new Uint8Array([1, 2, 3]) },
  { kind: "data", streamId: 3, fin: true, data: new Uint8Array() },
  { kind: "rst_stream", streamId: 5, status: 5 },
  {
    kind: "settings",
    clear: true,
    entries: [{ flags: 1, id: 7, value: 65536 }, {
      flags: 0,
      id: 4,
      value: 100,
    }],
  },
  { kind: "ping", id: 0xfffffffe },
  { kind: "window_update", streamId: 0, delta: 0x7fffffff },
  { kind: "window_update", streamId: 3, delta: 1 },
  { kind: "goaway", lastGoodStreamId: 9, status: 2 },
  { kind: "unknown", type: 10, flags: 0, payload: new Uint8Array([9, 9]) },
];

function wire(frames: SpdyFrame[]): { bytes: Uint8Array; sizes: number[] } {
  const enc = new SpdyFrameEncoder();
  const parts = frames.map((f) => enc.encode(f));
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    bytes.set(p, off);
    off += p.length;
  }
  return { bytes, sizes: parts.map((p) => p.length) };
}

Deno.test("SpdyFrameDecoder round-trips every frame type through SpdyFrameEncoder", () => {
  const { bytes, sizes } = wire(FRAMES);
  const got = new SpdyFrameDecoder().push(bytes);
  assert.deepEqual(got.map((d) => d.frame), FRAMES);
  assert.deepEqual(got.map((d) => d.size), sizes);
});

Deno.test("SpdyFrameDecoder decodes header blocks split across chunks at every point", () => {
  const { bytes } = wire(FRAMES);
  for (let i = 0; i <= bytes.length; i++) {
    const d = new SpdyFrameDecoder();
    const got = [...d.push(bytes.subarray(0, i)), ...d.push(bytes.subarray(i))];
    assert.deepEqual(got.map((x) => x.frame), FRAMES, `split at ${i}`);
  }
});

Deno.test("SpdyFrameDecoder refuses another version, short payloads and stream id 0", () => {
  const v2 = encodeControlFrame(TYPE_SYN_STREAM, 0, new Uint8Array(10));
  v2[1] = 2;
  assert.throws(
    () => new SpdyFrameDecoder().push(v2),
    /Cannot decode SPDY control frame \(type 1\) at offset 0: version 2 is not 3/,
  );
  assert.throws(
    () =>
      new SpdyFrameDecoder().push(encodeControlFrame(6, 0, new Uint8Array(3))),
    /Cannot decode SPDY control frame \(type 6\) at offset 0: payload is 3 bytes, expected 4/,
  );
  assert.throws(
    () => new SpdyFrameDecoder().push(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0])),
    /stream id is 0/,
  );
  assert.throws(
    () =>
      new SpdyFrameDecoder().push(
        encodeControlFrame(TYPE_SYN_STREAM, 0, new Uint8Array(14)),
      ),
    (e: Error) =>
      e instanceof SyntaxError &&
      e.message.startsWith(
        "Cannot decode SPDY control frame (type 1) at offset 0: Cannot inflate",
      ),
  );
});

Deno.test("SpdyFrameDecoderStream decodes a stream and refuses one ending inside a frame", async () => {
  const { bytes } = wire(FRAMES);
  const got = await Array.fromAsync(
    ReadableStream.from([bytes.subarray(0, 7), bytes.subarray(7)])
      .pipeThrough(new SpdyFrameDecoderStream()),
  );
  assert.deepEqual(got.map((d) => d.frame), FRAMES);
  await assert.rejects(
    Array.fromAsync(
      ReadableStream.from([bytes.subarray(0, bytes.length - 1)])
        .pipeThrough(new SpdyFrameDecoderStream()),
    ),
    /it ends inside a frame/,
  );
});
