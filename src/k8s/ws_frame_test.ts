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
