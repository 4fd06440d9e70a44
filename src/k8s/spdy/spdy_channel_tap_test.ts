import assert from "node:assert/strict";
import fc from "fast-check";
import type { ChannelMessage } from "../channel_tap.ts";
import { exitCodeStatus, failureStatus } from "../status.ts";
import { type SpdyFrame, SpdyFrameDecoder } from "./frame_decoder.ts";
import { SpdyFrameEncoder } from "./frame_encoder.ts";
import { SpdyChannelTap } from "./spdy_channel_tap.ts";

const te = new TextEncoder();
const td = new TextDecoder();

function syn(
  streamId: number,
  type: string | undefined,
  fin = false,
): SpdyFrame {
  return {
    kind: "syn_stream",
    streamId,
    associatedToStreamId: 0,
    priority: 0,
    fin,
    unidirectional: false,
    headers: type === undefined ? [["other", "x"]] : [["streamtype", type]],
  };
}
const reply = (streamId: number): SpdyFrame => ({
  kind: "syn_reply",
  streamId,
  fin: false,
  headers: [],
});
const data = (
  streamId: number,
  text: string | Uint8Array,
  fin = false,
): SpdyFrame => ({
  kind: "data",
  streamId,
  fin,
  data: typeof text === "string" ? te.encode(text) : text,
});

/** Encodes frames; returns the bytes and each frame's end offset. */
function encodeAll(enc: SpdyFrameEncoder, frames: SpdyFrame[]) {
  const parts = frames.map((f) => enc.encode(f));
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  const ends: number[] = [];
  let off = 0;
  for (const p of parts) {
    bytes.set(p, off);
    off += p.length;
    ends.push(off);
  }
  return { bytes, ends };
}

const STATUS = JSON.stringify(exitCodeStatus(3));

/** A kubectl-like session without TTY: error 1, stdin 3, stdout 5, stderr 7. */
function session(tty = false) {
  const types = tty
    ? ["error", "stdin", "stdout", "resize"]
    : ["error", "stdin", "stdout", "stderr"];
  const client: SpdyFrame[] = [];
  const upstream: SpdyFrame[] = [];
  types.forEach((t, i) => {
    client.push(syn(2 * i + 1, t));
    upstream.push(reply(2 * i + 1));
  });
  client.push(
    data(1, "", true),
    data(5, "", true),
    data(3, "input 1\n"),
    { kind: "ping", id: 1 },
    data(3, "input 2\n"),
    data(3, "", true),
  );
  if (tty) {
    client.push(
      data(7, '{"Width":80,"Height":24}\n'),
      data(7, '{"Width":100,'),
      data(7, '"Height":30}\n'),
    );
  } else client.push(data(7, "", true));
  upstream.push(
    { kind: "window_update", streamId: 3, delta: 16 },
    data(5, "out\n"),
    ...(tty ? [] : [data(7, "err\n")]),
    data(1, STATUS.slice(0, 20)),
    data(1, STATUS.slice(20), true),
    data(5, "", true),
    ...(tty ? [] : [data(7, "", true)]),
    { kind: "goaway", lastGoodStreamId: 7, status: 0 },
  );
  return {
    client: encodeAll(new SpdyFrameEncoder(), client),
    upstream: encodeAll(new SpdyFrameEncoder(), upstream),
  };
}

const plain = (ms: ChannelMessage[]) =>
  ms.map((m) => ({ ...m, data: td.decode(m.data) }));

Deno.test("SpdyChannelTap maps streams to channels and yields DATA as messages", () => {
  const s = session();
  const tap = new SpdyChannelTap("v5.channel.k8s.io");
  assert.deepEqual(plain(tap.client(s.client.bytes)), [
    { channel: 0, data: "input 1\n", first: true, last: true },
    { channel: 0, data: "input 2\n", first: true, last: true },
    { channel: 255, data: "\0", first: true, last: true },
  ]);
  assert.deepEqual([...tap.streams], [[1, 3], [3, 0], [5, 1], [7, 2]]);
  assert.deepEqual(plain(tap.upstream(s.upstream.bytes)), [
    { channel: 1, data: "out\n", first: true, last: true },
    { channel: 2, data: "err\n", first: true, last: true },
    { channel: 3, data: STATUS.slice(0, 20), first: true, last: false },
    { channel: 3, data: STATUS.slice(20), first: false, last: true },
  ]);
  assert.equal(tap.upstreamComplete, s.upstream.bytes.length);
});

Deno.test("SpdyChannelTap on v4 yields no close message and joins resize lines split across frames", () => {
  const s = session(true);
  const tap = new SpdyChannelTap("v4.channel.k8s.io");
  assert.deepEqual(plain(tap.client(s.client.bytes)), [
    { channel: 0, data: "input 1\n", first: true, last: true },
    { channel: 0, data: "input 2\n", first: true, last: true },
    { channel: 4, data: '{"Width":80,"Height":24}\n', first: true, last: true },
    {
      channel: 4,
      data: '{"Width":100,"Height":30}\n',
      first: true,
      last: true,
    },
  ]);
});

Deno.test("SpdyChannelTap yields the same messages at every split point, upstreamComplete on frame ends", () => {
  for (const tty of [false, true]) {
    const s = session(tty);
    const ref = new SpdyChannelTap("v5.channel.k8s.io");
    const clientAll = ref.client(s.client.bytes);
    const upAll = ref.upstream(s.upstream.bytes);
    for (let i = 0; i <= s.client.bytes.length; i++) {
      const tap = new SpdyChannelTap("v5.channel.k8s.io");
      const got = [
        ...tap.client(s.client.bytes.subarray(0, i)),
        ...tap.client(s.client.bytes.subarray(i)),
      ];
      assert.deepEqual(got, clientAll, `client split at ${i}`);
    }
    const tap = new SpdyChannelTap("v5.channel.k8s.io");
    tap.client(s.client.bytes);
    for (let i = 0; i <= s.upstream.bytes.length; i++) {
      const t = new SpdyChannelTap("v5.channel.k8s.io");
      t.client(s.client.bytes);
      const got = [...t.upstream(s.upstream.bytes.subarray(0, i))];
      const complete = t.upstreamComplete;
      assert.equal(
        complete,
        [0, ...s.upstream.ends].filter((e) => e <= i).at(-1),
      );
      got.push(...t.upstream(s.upstream.bytes.subarray(i)));
      assert.deepEqual(got, upAll, `upstream split at ${i}`);
    }
  }
});

Deno.test("SpdyChannelTap refuses malformed sessions with what and where", () => {
  const cases: [string, SpdyFrame[], SpdyFrame[], RegExp][] = [
    [
      "unknown streamtype",
      [syn(1, "data")],
      [],
      /frame from the client at offset 0: stream 1 has streamtype "data", expected one of "stdin", "stdout", "stderr", "error", "resize"/,
    ],
    [
      "missing streamtype",
      [syn(1, undefined)],
      [],
      /stream 1 has no streamtype header/,
    ],
    [
      "repeated streamtype",
      [syn(1, "stdout"), syn(3, "stdout")],
      [],
      /stream 3 repeats streamtype "stdout" of stream 1/,
    ],
    ["even stream id", [syn(2, "stdout")], [], /stream id 2 is even/],
    [
      "reused stream id",
      [syn(1, "stdout"), syn(1, "stderr")],
      [],
      /stream id 1 is already open/,
    ],
    [
      "data on an unopened stream",
      [data(9, "x")],
      [],
      /data frame from the client at offset 0: stream 9 was not opened/,
    ],
    [
      "client data after FIN",
      [syn(1, "stdin"), data(1, "", true), data(1, "x")],
      [],
      /stream 1 already ended \(FIN\)/,
    ],
    [
      "client writes stdout",
      [syn(1, "stdout"), data(1, "x")],
      [],
      /the client sent 1 bytes on stream 1, channel 1, which only the server writes/,
    ],
    [
      "server writes stdin",
      [syn(1, "stdin")],
      [data(1, "x")],
      /the server sent 1 bytes on stream 1, channel 0, which only the client writes/,
    ],
    [
      "server opens a stream",
      [],
      [syn(2, "stdout")],
      /the server opens no streams/,
    ],
    ["server data after FIN", [syn(1, "stdout")], [
      data(1, "", true),
      data(1, "x"),
    ], /data frame from the server at offset 8: stream 1 already ended/],
    [
      "server data on an unopened stream",
      [],
      [data(1, "x")],
      /from the server at offset 0: stream 1 was not opened/,
    ],
  ]; // deno-fmt-ignore
  for (const [name, client, upstream, re] of cases) {
    const tap = new SpdyChannelTap("v5.channel.k8s.io");
    assert.throws(() => {
      tap.client(encodeAll(new SpdyFrameEncoder(), client).bytes);
      tap.upstream(encodeAll(new SpdyFrameEncoder(), upstream).bytes);
    }, (e: Error) => e instanceof SyntaxError && re.test(e.message), name);
  }
  assert.throws(() => new SpdyChannelTap("v3.channel.k8s.io"), RangeError);
  const small = new SpdyChannelTap("v4.channel.k8s.io", { maxFramePayload: 4 });
  assert.throws(
    () => small.upstream(new SpdyFrameEncoder().encode(data(1, "12345"))),
    RangeError,
  );
  const resize = new SpdyChannelTap("v4.channel.k8s.io", { maxResizeBytes: 8 });
  resize.client(new SpdyFrameEncoder().encode(syn(1, "resize")));
  assert.throws(
    () => resize.client(new SpdyFrameEncoder().encode(data(1, "{".repeat(9)))),
    RangeError,
  );
});

/** Decodes abort bytes as the client would, after the released upstream bytes. */
function clientView(released: Uint8Array, abort: Uint8Array) {
  const d = new SpdyFrameDecoder();
  d.push(released);
  return d.push(abort).map(({ frame }) =>
    frame.kind === "data" ? { ...frame, data: td.decode(frame.data) } : frame
  );
}

Deno.test("SpdyChannelTap.abortBytes writes the message on stderr, the status with FIN, FINs and GOAWAY", () => {
  const s = session();
  const tap = new SpdyChannelTap("v5.channel.k8s.io");
  tap.client(s.client.bytes);
  const upto = s.upstream.ends[5]!; // the replies, a window update, "out"
  tap.upstream(s.upstream.bytes.subarray(0, upto + 3));
  assert.equal(tap.upstreamComplete, upto);
  tap.released();
  const status = failureStatus(500, "recording failed");
  const frames = clientView(
    s.upstream.bytes.subarray(0, upto),
    tap.abortBytes("execgate: recording failed\n", status),
  );
  assert.deepEqual(frames, [
    {
      kind: "data",
      streamId: 7,
      fin: false,
      data: "execgate: recording failed\n",
    },
    { kind: "data", streamId: 1, fin: true, data: JSON.stringify(status) },
    { kind: "data", streamId: 5, fin: true, data: "" },
    { kind: "data", streamId: 7, fin: true, data: "" },
    { kind: "goaway", lastGoodStreamId: 7, status: 0 },
  ]);
});

Deno.test("SpdyChannelTap.abortBytes skips streams the client saw end and writes on stdout without stderr", () => {
  const s = session(true); // TTY: no stderr stream
  const tap = new SpdyChannelTap("v5.channel.k8s.io");
  tap.client(s.client.bytes);
  const upto = s.upstream.ends.at(-2)!; // everything but the GOAWAY: stdout and error ended
  tap.upstream(s.upstream.bytes.subarray(0, upto));
  tap.released();
  assert.deepEqual(
    clientView(
      s.upstream.bytes.subarray(0, upto),
      tap.abortBytes("m", failureStatus(500, "x")),
    ),
    [{ kind: "goaway", lastGoodStreamId: 7, status: 0 }],
  );
  const early = new SpdyChannelTap("v5.channel.k8s.io");
  early.client(s.client.bytes);
  early.upstream(s.upstream.bytes.subarray(0, s.upstream.ends[3]!));
  early.released();
  const frames = clientView(
    s.upstream.bytes.subarray(0, s.upstream.ends[3]!),
    early.abortBytes("m", failureStatus(500, "x")),
  );
  assert.deepEqual(
    frames.map((f) => [f.kind, "streamId" in f ? f.streamId : 0]),
    [
      ["data", 5],
      ["data", 1],
      ["data", 5],
      ["goaway", 0],
    ],
  );
});

Deno.test("SpdyChannelTap.abortBytes replies to streams the client waits on, with header blocks any zlib state accepts", () => {
  const s = session();
  for (const releasedReplies of [0, 1, 3, 4]) {
    const tap = new SpdyChannelTap("v4.channel.k8s.io");
    tap.client(s.client.bytes);
    const upto = releasedReplies === 0
      ? 0
      : s.upstream.ends[releasedReplies - 1]!;
    tap.upstream(s.upstream.bytes.subarray(0, upto));
    tap.released();
    // Unreleased upstream frames change nothing of what the client saw.
    tap.upstream(s.upstream.bytes.subarray(upto));
    const frames = clientView(
      s.upstream.bytes.subarray(0, upto),
      tap.abortBytes("m\n", failureStatus(500, "x")),
    );
    const replies = frames.filter((f) => f.kind === "syn_reply");
    assert.deepEqual(
      replies,
      [1, 3, 5, 7].slice(releasedReplies).map((id) => ({
        kind: "syn_reply",
        streamId: id,
        fin: false,
        headers: [],
      })),
      `${releasedReplies} replies released`,
    );
    assert.deepEqual(frames.slice(replies.length, replies.length + 2), [
      { kind: "data", streamId: 7, fin: false, data: "m\n" },
      {
        kind: "data",
        streamId: 1,
        fin: true,
        data: JSON.stringify(failureStatus(500, "x")),
      },
    ]);
  }
});

Deno.test("SpdyChannelTap fuzz: random sessions split at random points decode like whole input (fixed seed)", () => {
  const frameArb = fc.oneof(
    fc.record({
      ch: fc.constantFrom(3, 5, 7, 1),
      text: fc.string({ maxLength: 40 }),
    }),
    fc.constant(null), // a ping
  );
  fc.assert(
    fc.property(
      fc.array(frameArb, { maxLength: 20 }),
      fc.array(fc.nat(400), { maxLength: 6 }),
      (items, cuts) => {
        const client: SpdyFrame[] = [
          syn(1, "error"),
          syn(3, "stdin"),
          syn(5, "stdout"),
          syn(7, "stderr"),
        ];
        const upstream: SpdyFrame[] = [reply(1), reply(3), reply(5), reply(7)];
        for (const it of items) {
          if (it === null) {
            client.push({ kind: "ping", id: 1 });
            upstream.push({ kind: "ping", id: 1 });
          } else if (it.ch === 3) client.push(data(3, it.text));
          else upstream.push(data(it.ch, it.text));
        }
        for (const dir of ["client", "upstream"] as const) {
          const bytes = encodeAll(
            new SpdyFrameEncoder(),
            dir === "client" ? client : upstream,
          ).bytes;
          const whole = new SpdyChannelTap("v5.channel.k8s.io");
          const split = new SpdyChannelTap("v5.channel.k8s.io");
          if (dir === "upstream") {
            const c = encodeAll(new SpdyFrameEncoder(), client).bytes;
            whole.client(c);
            split.client(c);
          }
          const expected = whole[dir](bytes);
          const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))]
            .sort((a, b) => a - b);
          const got: ChannelMessage[] = [];
          let prev = 0;
          for (const p of [...points, bytes.length]) {
            got.push(...split[dir](bytes.subarray(prev, p)));
            prev = p;
          }
          assert.deepEqual(got, expected);
        }
      },
    ),
    { seed: 20261101, numRuns: 200 },
  );
});

Deno.test("SpdyChannelTap fuzz: random bytes only ever raise SyntaxError or RangeError (fixed seed)", () => {
  const s = session();
  fc.assert(
    fc.property(
      fc.nat(s.upstream.bytes.length - 1),
      fc.uint8Array({ minLength: 1, maxLength: 16 }),
      (at, noise) => {
        const tap = new SpdyChannelTap("v5.channel.k8s.io");
        tap.client(s.client.bytes);
        const bytes = s.upstream.bytes.slice();
        bytes.set(noise.subarray(0, bytes.length - at), at);
        try {
          tap.upstream(bytes);
        } catch (e) {
          assert.ok(
            e instanceof SyntaxError || e instanceof RangeError,
            String(e),
          );
        }
      },
    ),
    { seed: 7, numRuns: 300 },
  );
});
