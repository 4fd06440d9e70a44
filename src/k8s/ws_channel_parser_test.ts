import assert from "node:assert/strict";
import fc from "fast-check";
import type { ChannelMessage } from "./channel_tap.ts";
import { PROTOCOL_V4, PROTOCOL_V5 } from "./constants.ts";
import {
  WsChannelDecoderStream,
  WsChannelParser,
} from "./ws_channel_parser.ts";
import { encodeWsFrame } from "./ws_frame.ts";

const MASK = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);

function bytes(...parts: (number[] | string | Uint8Array)[]): Uint8Array {
  const arrays = parts.map((p) =>
    typeof p === "string"
      ? new TextEncoder().encode(p)
      : p instanceof Uint8Array
      ? p
      : new Uint8Array(p)
  );
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let off = 0;
  for (const a of arrays) {
    out.set(a, off);
    off += a.length;
  }
  return out;
}

/** A binary frame with a non-minimal 64-bit length, as RFC 6455 permits. */
function frame64(payload: Uint8Array): Uint8Array {
  const head = new Uint8Array(10);
  head[0] = 0x82;
  head[1] = 127;
  new DataView(head.buffer).setUint32(6, payload.length);
  return bytes(head, payload);
}

/** Pieces joined into whole messages. */
function join(pieces: ChannelMessage[]): { channel: number; text: string }[] {
  const out: { channel: number; text: string }[] = [];
  let cur: Uint8Array[] = [];
  for (const p of pieces) {
    if (p.first) cur = [];
    cur.push(p.data);
    if (p.last) {
      out.push({
        channel: p.channel,
        text: new TextDecoder().decode(bytes(...cur)),
      });
    }
  }
  return out;
}

function decodeSplit(
  wire: Uint8Array,
  cuts: number[],
  options: ConstructorParameters<typeof WsChannelParser>[0] = {},
): ChannelMessage[] {
  const parser = new WsChannelParser(options);
  const out: ChannelMessage[] = [];
  let prev = 0;
  for (const cut of [...cuts, wire.length]) {
    out.push(...parser.push(wire.subarray(prev, cut)));
    prev = cut;
  }
  assert.equal(parser.pending, 0);
  return out;
}

// A session with every frame shape: 7-bit, 16-bit and 64-bit lengths, masked
// and unmasked frames, a fragmented message with pings and pongs between
// fragments, an empty message and a final close.
const SESSION = bytes(
  encodeWsFrame({ opcode: 2, payload: bytes([1], "hello") }),
  encodeWsFrame({ opcode: 2, payload: bytes([2], "x".repeat(300)) }),
  frame64(bytes([1], "sixty-four")),
  encodeWsFrame({ opcode: 2, payload: bytes([1], "frag-"), fin: false }),
  encodeWsFrame({ opcode: 9, payload: bytes("ping") }),
  encodeWsFrame({ opcode: 0, payload: bytes("ment"), fin: false }),
  encodeWsFrame({ opcode: 10, payload: bytes("") }),
  encodeWsFrame({ opcode: 0, payload: bytes("ed"), mask: MASK }),
  encodeWsFrame({ opcode: 2, payload: bytes() }),
  encodeWsFrame({ opcode: 2, payload: bytes([3], '{"status":"Success"}') }),
  encodeWsFrame({ opcode: 2, payload: bytes([255, 0]), mask: MASK }),
  encodeWsFrame({ opcode: 8, payload: bytes([3, 232]) }),
);
const SESSION_MESSAGES = [
  { channel: 1, text: "hello" },
  { channel: 2, text: "x".repeat(300) },
  { channel: 1, text: "sixty-four" },
  { channel: 1, text: "frag-mented" },
  { channel: 3, text: '{"status":"Success"}' },
  { channel: 255, text: "\0" },
];

Deno.test("WsChannelParser decodes a session split at every byte", () => {
  for (let cut = 0; cut <= SESSION.length; cut++) {
    const got = decodeSplit(SESSION, [cut]);
    assert.deepEqual(join(got), SESSION_MESSAGES, `split at ${cut}`);
  }
});

Deno.test("WsChannelParser decodes a session split at every pair of bytes", () => {
  // Two cuts cover a frame header split in three and a payload split twice.
  const small = SESSION.subarray(0, 40);
  for (let a = 0; a <= small.length; a++) {
    for (let b = a; b <= SESSION.length; b += 7) {
      assert.deepEqual(
        join(decodeSplit(SESSION, [a, b])),
        SESSION_MESSAGES,
        `split at ${a} and ${b}`,
      );
    }
  }
});

Deno.test("WsChannelParser decodes a session fed one byte at a time", () => {
  const cuts = Array.from({ length: SESSION.length }, (_, i) => i);
  assert.deepEqual(join(decodeSplit(SESSION, cuts)), SESSION_MESSAGES);
});

Deno.test("WsChannelParser yields one piece per fragment with the first fragment's channel", () => {
  const wire = bytes(
    encodeWsFrame({ opcode: 2, payload: bytes([2], "ab"), fin: false }),
    encodeWsFrame({ opcode: 0, payload: bytes([1, 1]), fin: false }),
    encodeWsFrame({ opcode: 0, payload: bytes("c") }),
  );
  const got = new WsChannelParser().push(wire);
  assert.deepEqual(got, [
    { channel: 2, data: bytes("ab"), first: true, last: false },
    // A continuation's first byte is payload, not a channel.
    { channel: 2, data: bytes([1, 1]), first: false, last: false },
    { channel: 2, data: bytes("c"), first: false, last: true },
  ]);
});

Deno.test("WsChannelParser takes the channel from the first byte of the message when the first fragment is empty", () => {
  const wire = bytes(
    encodeWsFrame({ opcode: 2, payload: bytes(), fin: false }),
    encodeWsFrame({ opcode: 0, payload: bytes([1], "x"), fin: false }),
    encodeWsFrame({ opcode: 0, payload: bytes() }),
  );
  assert.deepEqual(new WsChannelParser().push(wire), [
    { channel: 1, data: bytes("x"), first: true, last: false },
    { channel: 1, data: bytes(), first: false, last: true },
  ]);
});

Deno.test("WsChannelParser skips an empty message and yields a channel-only one", () => {
  const wire = bytes(
    encodeWsFrame({ opcode: 2, payload: bytes() }),
    encodeWsFrame({ opcode: 2, payload: bytes([1]) }),
  );
  assert.deepEqual(new WsChannelParser().push(wire), [
    { channel: 1, data: bytes(), first: true, last: true },
  ]);
});

Deno.test("WsChannelParser assembles fragmented messages when asked", () => {
  const got = decodeSplit(SESSION, [5, 17, 400], { assemble: true });
  assert.ok(got.every((m) => m.first && m.last));
  assert.deepEqual(join(got), SESSION_MESSAGES);
});

Deno.test("WsChannelParser tracks an open fragmented message and the close frame", () => {
  const parser = new WsChannelParser();
  parser.push(encodeWsFrame({ opcode: 2, payload: bytes([1]), fin: false }));
  assert.equal(parser.messageOpen, true);
  parser.push(encodeWsFrame({ opcode: 0, payload: bytes("z") }));
  assert.equal(parser.messageOpen, false);
  assert.equal(parser.closed, false);
  parser.push(encodeWsFrame({ opcode: 8, payload: bytes() }));
  assert.equal(parser.closed, true);
});

const MALFORMED: {
  name: string;
  wire: Uint8Array;
  options?: ConstructorParameters<typeof WsChannelParser>[0];
  error: RegExp;
  type?: ErrorConstructor;
}[] = [
  {
    name: "an unknown channel",
    wire: bytes(
      encodeWsFrame({ opcode: 2, payload: bytes([1, 65]) }),
      encodeWsFrame({ opcode: 2, payload: bytes([7, 65]) }),
    ),
    error: /channel 7 is unknown at byte 4/,
  },
  {
    name: "channel 255 on v4",
    wire: encodeWsFrame({ opcode: 2, payload: bytes([255, 0]) }),
    options: { protocol: PROTOCOL_V4 },
    error: /channel 255 is unknown at byte 0/,
  },
  {
    name: "a continuation without a start",
    wire: encodeWsFrame({ opcode: 0, payload: bytes("x") }),
    error: /continuation frame without a message to continue at byte 0/,
  },
  {
    name: "a new data frame while a fragmented message is open",
    wire: bytes(
      encodeWsFrame({ opcode: 2, payload: bytes([1, 65]), fin: false }),
      encodeWsFrame({ opcode: 2, payload: bytes([1, 66]) }),
    ),
    error: /new data frame while a fragmented message is open at byte 4/,
  },
  {
    name: "a text frame",
    wire: encodeWsFrame({ opcode: 1, payload: bytes([1], "hi") }),
    error: /text frame at byte 0/,
  },
  {
    name: "a data frame after the close frame",
    wire: bytes(
      encodeWsFrame({ opcode: 8, payload: bytes() }),
      encodeWsFrame({ opcode: 2, payload: bytes([1, 65]) }),
    ),
    error: /data frame after the close frame at byte 2/,
  },
  {
    name: "a fragmented message over the limit",
    wire: bytes(
      encodeWsFrame({ opcode: 2, payload: bytes([1], "abc"), fin: false }),
      encodeWsFrame({ opcode: 0, payload: bytes("de"), fin: false }),
    ),
    options: { maxMessageBytes: 4 },
    error: /message on channel 1 exceeds the limit of 4 bytes at byte 6/,
    type: RangeError,
  },
  {
    name: "a frame over the limit",
    wire: encodeWsFrame({ opcode: 2, payload: bytes([1], "abcdef") }),
    options: { maxMessageBytes: 4 },
    error: /exceeds the limit of 5 bytes/,
    type: RangeError,
  },
  {
    name: "reserved bits",
    wire: bytes([0xc2, 0x01, 0x01]),
    error: /reserved bits 0x40 are set at byte 0/,
  },
];

for (const c of MALFORMED) {
  Deno.test(`WsChannelParser refuses ${c.name}`, () => {
    assert.throws(
      () => new WsChannelParser(c.options).push(c.wire),
      (e: unknown) => {
        assert.ok(e instanceof (c.type ?? SyntaxError), String(e));
        assert.match((e as Error).message, c.error);
        return true;
      },
    );
  });
}

Deno.test("WsChannelParser accepts text frames when told to", () => {
  const wire = encodeWsFrame({ opcode: 1, payload: bytes([4], "{}") });
  const [m] = new WsChannelParser({ acceptText: true }).push(wire);
  assert.equal(m?.channel, 4);
});

Deno.test("WsChannelParser refuses an unknown protocol", () => {
  assert.throws(
    () => new WsChannelParser({ protocol: "channel.k8s.io" }),
    /protocol "channel.k8s.io": only "v5.channel.k8s.io" and "v4.channel.k8s.io" are supported/,
  );
});

Deno.test("WsChannelDecoderStream decodes chunks and refuses a truncated stream", async () => {
  const chunks = [SESSION.subarray(0, 3), SESSION.subarray(3)];
  const out = await Array.fromAsync(
    ReadableStream.from(chunks).pipeThrough(new WsChannelDecoderStream()),
  );
  assert.deepEqual(join(out), SESSION_MESSAGES);

  const truncated = ReadableStream.from([SESSION.subarray(0, 5)])
    .pipeThrough(new WsChannelDecoderStream());
  await assert.rejects(
    Array.fromAsync(truncated),
    /stream ended inside a frame \(5 bytes pending\)/,
  );
  const open = ReadableStream.from([
    encodeWsFrame({ opcode: 2, payload: bytes([1, 2]), fin: false }),
  ]).pipeThrough(new WsChannelDecoderStream());
  await assert.rejects(
    Array.fromAsync(open),
    /stream ended inside a fragmented message/,
  );
});

// ---- fixed-seed fuzz ----

interface FuzzMessage {
  channel: number;
  payload: Uint8Array;
  /** Fragment lengths summing to at most the payload's length + 1. */
  cuts: number[];
  masked: boolean;
  pings: boolean[];
}

function encodeSession(messages: FuzzMessage[]): Uint8Array {
  const frames: Uint8Array[] = [];
  for (const m of messages) {
    const body = bytes([m.channel], m.payload);
    const points = [
      ...new Set(m.cuts.map((c) => c % (body.length + 1))),
    ].sort((a, b) => a - b);
    const edges = [0, ...points.filter((p) => p > 0), body.length];
    for (let i = 0; i + 1 < edges.length; i++) {
      const last = i + 2 === edges.length;
      frames.push(encodeWsFrame({
        opcode: i === 0 ? 2 : 0,
        payload: body.subarray(edges[i], edges[i + 1]),
        fin: last,
        mask: m.masked ? MASK : undefined,
      }));
      if (!last && m.pings[i]) {
        frames.push(encodeWsFrame({ opcode: 9, payload: bytes("p") }));
      }
    }
  }
  return bytes(...frames);
}

Deno.test("WsChannelParser decodes random sessions split randomly (seed 20261127)", () => {
  const message = fc.record({
    channel: fc.constantFrom(0, 1, 2, 3, 4, 255),
    payload: fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      fc.uint8Array({ minLength: 120, maxLength: 300 }),
      fc.uint8Array({ minLength: 65530, maxLength: 65560 }),
    ),
    cuts: fc.array(fc.nat(), { maxLength: 4 }),
    masked: fc.boolean(),
    pings: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
  });
  fc.assert(
    fc.property(
      fc.array(message, { maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      (messages, rawCuts) => {
        const wire = encodeSession(messages);
        const cuts = [...new Set(rawCuts.map((c) => c % (wire.length + 1)))]
          .sort((a, b) => a - b);
        const got = decodeSplit(wire, cuts);
        const expected = messages.map((m) => ({
          channel: m.channel,
          data: m.payload,
        }));
        const joined: { channel: number; data: Uint8Array }[] = [];
        let cur: Uint8Array[] = [];
        for (const p of got) {
          if (p.first) cur = [];
          cur.push(p.data);
          if (p.last) joined.push({ channel: p.channel, data: bytes(...cur) });
        }
        assert.deepEqual(joined, expected);
        const whole = decodeSplit(wire, cuts, {
          assemble: true,
          protocol: PROTOCOL_V5,
        });
        assert.deepEqual(
          whole.map((m) => ({ channel: m.channel, data: m.data })),
          expected,
        );
      },
    ),
    { seed: 20261127, numRuns: 200 },
  );
});

Deno.test("WsChannelParser parses a 16 MiB stdout message fed in 256-byte chunks with at most 3x the input copied", () => {
  for (const assemble of [false, true]) {
    const payload = new Uint8Array(16 * 1024 * 1024).fill(7);
    payload[0] = 1; // stdout
    // One 16 MiB frame, and the same message in four fragments.
    const quarter = payload.length / 4;
    const wires = [
      encodeWsFrame({ opcode: 2, payload, mask: MASK }),
      bytes(
        ...[0, 1, 2, 3].map((i) =>
          encodeWsFrame({
            opcode: i === 0 ? 2 : 0,
            fin: i === 3,
            payload: payload.subarray(i * quarter, (i + 1) * quarter),
            mask: MASK,
          })
        ),
      ),
    ];
    for (const wire of wires) {
      const parser = new WsChannelParser({ assemble });
      let size = 0;
      for (let off = 0; off < wire.length; off += 256) {
        for (const m of parser.push(wire.subarray(off, off + 256))) {
          assert.equal(m.channel, 1);
          size += m.data.length;
        }
      }
      assert.equal(size, payload.length - 1, `assemble ${assemble}`);
      assert.ok(
        parser.copiedBytes <= 3 * wire.length,
        `${parser.copiedBytes} bytes copied for ${wire.length} (assemble ${assemble})`,
      );
    }
  }
});
