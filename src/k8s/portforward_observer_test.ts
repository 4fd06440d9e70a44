import assert from "node:assert/strict";
import {
  type PortForwardEvent,
  PortForwardObserver,
  type PortForwardWire,
  portForwardWireOf,
} from "./portforward_observer.ts";
import { SpdyFrameEncoder } from "./spdy/frame_encoder.ts";
import { encodeWsFrame, WsFrameParser } from "./ws_frame.ts";
import { encodeDataFrame } from "./spdy/frame.ts";
import { SpdyFrameDecoder } from "./spdy/frame_decoder.ts";
import { concatBytes } from "../bytes.ts";

const enc = new TextEncoder();
const MASK = new Uint8Array([1, 2, 3, 4]);

function syn(
  e: SpdyFrameEncoder,
  id: number,
  type: string,
  port = "80",
  requestId = "0",
) {
  return e.encode({
    kind: "syn_stream",
    streamId: id,
    associatedToStreamId: 0,
    priority: 0,
    fin: false,
    unidirectional: false,
    headers: [["streamtype", type], ["port", port], ["requestid", requestId]],
  });
}

function data(e: SpdyFrameEncoder, id: number, s: string, fin = false) {
  return e.encode({ kind: "data", streamId: id, fin, data: enc.encode(s) });
}

function reply(e: SpdyFrameEncoder, id: number) {
  return e.encode({ kind: "syn_reply", streamId: id, fin: false, headers: [] });
}

/** What kubectl and the kubelet exchange for one curl: client, pod bytes. */
function spdySession(): { client: Uint8Array[]; pod: Uint8Array[] } {
  const c = new SpdyFrameEncoder();
  const p = new SpdyFrameEncoder();
  return {
    client: [
      syn(c, 1, "error"),
      data(c, 1, "", true),
      syn(c, 3, "data"),
      data(c, 3, "GET / HTTP/1.1\r\n\r\n"),
      data(c, 3, "", true),
    ],
    pod: [
      reply(p, 1),
      reply(p, 3),
      data(p, 3, "HTTP/1.1 200 OK\r\n\r\n"),
      data(p, 3, "hello", true),
      data(p, 1, "", true),
    ],
  };
}

/** Events with data pieces of one stream and side joined (splits differ). */
function normalise(events: PortForwardEvent[]): unknown[] {
  const out: unknown[] = [];
  for (const e of events) {
    const last = out[out.length - 1] as
      | { type: string; stream: number; from: string; text: string }
      | undefined;
    if (e.type === "data") {
      const text = new TextDecoder().decode(e.data);
      if (
        last?.type === "data" && last.stream === e.stream &&
        last.from === e.from
      ) {
        last.text += text;
      } else out.push({ type: "data", stream: e.stream, from: e.from, text });
    } else out.push(e);
  }
  return out;
}

/** Feeds the client's bytes, then the pod's, each split at `at`. */
function run(
  wire: PortForwardWire,
  client: Uint8Array,
  pod: Uint8Array,
  at: { client: number; pod: number },
  queryPorts: number[] = [],
): { events: PortForwardEvent[]; o: PortForwardObserver } {
  const o = new PortForwardObserver(wire, { queryPorts });
  const events = [
    ...o.client(client.subarray(0, at.client)),
    ...o.client(client.subarray(at.client)),
    ...o.upstream(pod.subarray(0, at.pod)),
    ...o.upstream(pod.subarray(at.pod)),
  ];
  return { events, o };
}

const EXPECTED = [
  {
    type: "open",
    stream: 1,
    streamType: "error",
    port: 80,
    requestId: "0",
    by: "client",
  },
  { type: "fin", stream: 1, by: "client" },
  {
    type: "open",
    stream: 3,
    streamType: "data",
    port: 80,
    requestId: "0",
    by: "client",
  },
  { type: "data", stream: 3, from: "client", text: "GET / HTTP/1.1\r\n\r\n" },
  { type: "fin", stream: 3, by: "client" },
  {
    type: "data",
    stream: 3,
    from: "pod",
    text: "HTTP/1.1 200 OK\r\n\r\nhello",
  },
  { type: "fin", stream: 3, by: "pod" },
  { type: "close", stream: 3, bytesFromClient: 18, bytesFromPod: 24 },
  { type: "fin", stream: 1, by: "pod" },
  { type: "close", stream: 1, bytesFromClient: 0, bytesFromPod: 0 },
];

Deno.test("portForwardWireOf picks the wire from transport and protocol", () => {
  assert.equal(portForwardWireOf("spdy", "portforward.k8s.io"), "spdy");
  assert.equal(
    portForwardWireOf("websocket", "SPDY/3.1+portforward.k8s.io"),
    "tunnel",
  );
  assert.equal(portForwardWireOf("websocket", "v4.channel.k8s.io"), "channels");
  assert.equal(portForwardWireOf("websocket", ""), "channels");
});

Deno.test("PortForwardObserver reads a SPDY port-forward at every split point", () => {
  const s = spdySession();
  const client = concatBytes(s.client);
  const pod = concatBytes(s.pod);
  for (let i = 0; i <= client.length; i++) {
    const { events } = run("spdy", client, pod, { client: i, pod: 0 });
    assert.deepEqual(normalise(events), EXPECTED, `client split at ${i}`);
  }
  for (let i = 0; i <= pod.length; i++) {
    const { events, o } = run("spdy", client, pod, { client: 0, pod: i });
    assert.deepEqual(normalise(events), EXPECTED, `pod split at ${i}`);
    assert.equal(o.upstreamComplete, pod.length);
    assert.equal(o.upstreamSynced, pod.length);
  }
});

Deno.test("PortForwardObserver upstreamComplete stops at a partial SPDY frame", () => {
  const s = spdySession();
  const pod = concatBytes(s.pod);
  const o = new PortForwardObserver("spdy");
  o.client(concatBytes(s.client));
  const cut = s.pod[0]!.length + s.pod[1]!.length + 3;
  o.upstream(pod.subarray(0, cut));
  assert.equal(o.upstreamComplete, s.pod[0]!.length + s.pod[1]!.length);
});

/** Wraps SPDY bytes in WebSocket binary messages cut at `cuts`. */
function tunnel(bytes: Uint8Array, cuts: number[], masked: boolean) {
  const out: Uint8Array[] = [];
  let from = 0;
  for (const to of [...cuts, bytes.length]) {
    if (to < from) continue;
    out.push(encodeWsFrame({
      opcode: 2,
      payload: bytes.subarray(from, to),
      ...(masked ? { mask: MASK } : {}),
    }));
    from = to;
  }
  return concatBytes(out);
}

Deno.test("PortForwardObserver reads tunnelled SPDY with messages cut anywhere and bytes split anywhere", () => {
  const s = spdySession();
  const spdyClient = concatBytes(s.client);
  const spdyPod = concatBytes(s.pod);
  for (let cut = 1; cut < spdyPod.length; cut += 3) {
    const client = tunnel(spdyClient, [cut % spdyClient.length], true);
    const pod = tunnel(spdyPod, [cut], false);
    for (let i = 0; i <= pod.length; i += 7) {
      const { events, o } = run("tunnel", client, pod, {
        client: i % client.length,
        pod: i,
      });
      assert.deepEqual(normalise(events), EXPECTED, `cut ${cut} split ${i}`);
      assert.equal(o.upstreamComplete, pod.length);
      assert.equal(o.upstreamSynced, pod.length);
    }
  }
});

Deno.test("PortForwardObserver upstreamSynced waits for a SPDY frame cut across WebSocket messages", () => {
  const p = new SpdyFrameEncoder();
  const c = new SpdyFrameEncoder();
  const o = new PortForwardObserver("tunnel");
  o.client(tunnel(syn(c, 1, "data"), [], true));
  const frame = data(p, 1, "abcdef");
  const first = encodeWsFrame({ opcode: 2, payload: frame.subarray(0, 10) });
  const second = encodeWsFrame({ opcode: 2, payload: frame.subarray(10) });
  assert.deepEqual(o.upstream(first), []);
  assert.equal(o.upstreamComplete, first.length);
  assert.equal(o.upstreamSynced, 0);
  const [d] = o.upstream(second);
  assert.equal(d?.type, "data");
  assert.equal(o.upstreamSynced, first.length + second.length);
});

/** Channel-style: pod names ports first, then data both ways. */
function channelSession() {
  const msg = (bytes: number[], masked = false) =>
    encodeWsFrame({
      opcode: 2,
      payload: new Uint8Array(bytes),
      ...(masked ? { mask: MASK } : {}),
    });
  const pod = concatBytes([
    msg([0, 0x90, 0x1f]), // channel 0: port 8080
    msg([1, 0x90, 0x1f]), // channel 1: port 8080
    msg([0, ...enc.encode("pong")]),
    msg([1, ...enc.encode("boom")]),
  ]);
  const client = concatBytes([msg([0, ...enc.encode("ping!")], true)]);
  return { pod, client };
}

Deno.test("PortForwardObserver reads channel-style port-forward at every split point", () => {
  const { pod, client } = channelSession();
  const want = [
    { type: "open", stream: 0, streamType: "data", port: 8080, by: "pod" },
    { type: "open", stream: 1, streamType: "error", port: 8080, by: "pod" },
    { type: "data", stream: 0, from: "pod", text: "pong" },
    { type: "error", stream: 1, message: "boom" },
    { type: "data", stream: 0, from: "client", text: "ping!" },
  ];
  for (let i = 0; i <= pod.length; i++) {
    const o = new PortForwardObserver("channels", { queryPorts: [8080] });
    const events = [
      ...o.upstream(pod.subarray(0, i)),
      ...o.upstream(pod.subarray(i)),
      ...o.client(client),
    ];
    assert.deepEqual(normalise(events), want, `split at ${i}`);
    assert.deepEqual(o.openStreams(), [
      {
        stream: 0,
        streamType: "data",
        port: 8080,
        bytesFromClient: 5,
        bytesFromPod: 4,
      },
      {
        stream: 1,
        streamType: "error",
        port: 8080,
        bytesFromClient: 0,
        bytesFromPod: 4,
      },
    ]);
  }
});

Deno.test("PortForwardObserver refuses malformed input, saying what and where", () => {
  const c = new SpdyFrameEncoder();
  const p = new SpdyFrameEncoder();
  const cases: [string, PortForwardWire, () => void, RegExp][] = [
    [
      "a stream opened by the pod",
      "spdy",
      function () {
        new PortForwardObserver("spdy").upstream(syn(p, 2, "data"));
      },
      /the pod: it opened stream 2/,
    ],
    [
      "an unknown streamtype",
      "spdy",
      function () {
        new PortForwardObserver("spdy").client(syn(c, 1, "stdin"));
      },
      /stream 1 has streamtype "stdin", expected "data" or "error"/,
    ],
    [
      "data on a stream never opened",
      "spdy",
      function () {
        new PortForwardObserver("spdy").upstream(
          encodeDataFrame(7, enc.encode("x")),
        );
      },
      /data on stream 7, which was never opened/,
    ],
    [
      "data after FIN",
      "spdy",
      function () {
        const e = new SpdyFrameEncoder();
        const o = new PortForwardObserver("spdy");
        o.client(syn(e, 1, "data"));
        o.client(encodeDataFrame(1, enc.encode("a"), true));
        o.client(encodeDataFrame(1, enc.encode("b")));
      },
      /the client: data on stream 1 after its FIN/,
    ],
    [
      "a reused stream id",
      "spdy",
      function () {
        const e = new SpdyFrameEncoder();
        const o = new PortForwardObserver("spdy");
        o.client(syn(e, 3, "data"));
        o.client(syn(e, 1, "data"));
      },
      /stream 1 is opened a second time or out of order/,
    ],
    [
      "a text message in the tunnel",
      "tunnel",
      function () {
        new PortForwardObserver("tunnel").upstream(
          encodeWsFrame({ opcode: 1, payload: enc.encode("hi") }),
        );
      },
      /a text message/,
    ],
    [
      "a channel with no port",
      "channels",
      function () {
        new PortForwardObserver("channels", { queryPorts: [80] }).upstream(
          encodeWsFrame({ opcode: 2, payload: new Uint8Array([2, 80, 0]) }),
        );
      },
      /channel 2 has no port \(the query names 1\)/,
    ],
    [
      "a port the query did not ask for",
      "channels",
      function () {
        new PortForwardObserver("channels", { queryPorts: [80] }).upstream(
          encodeWsFrame({ opcode: 2, payload: new Uint8Array([0, 81, 0]) }),
        );
      },
      /channel 0 names port 81, the query asked for 80/,
    ],
    [
      "a frame after the close frame",
      "channels",
      function () {
        const o = new PortForwardObserver("channels", { queryPorts: [80] });
        o.upstream(concatBytes([
          encodeWsFrame({ opcode: 8, payload: new Uint8Array([3, 232]) }),
          encodeWsFrame({ opcode: 2, payload: new Uint8Array([0, 80, 0]) }),
        ]));
      },
      /a WebSocket frame after its close frame/,
    ],
  ];
  for (const [name, , f, re] of cases) {
    assert.throws(f, (e: Error) => {
      assert.ok(e instanceof SyntaxError, `${name}: ${e}`);
      assert.match(e.message, re, name);
      assert.match(e.message, /^Cannot decode /, name);
      return true;
    });
  }
});

Deno.test("PortForwardObserver bounds the open streams and frame sizes", () => {
  const e = new SpdyFrameEncoder();
  const o = new PortForwardObserver("spdy", { maxStreams: 3 });
  for (const id of [1, 3, 5]) o.client(syn(e, id, "data"));
  assert.throws(() => o.client(syn(e, 7, "data")), RangeError);
  // A closed stream frees its place.
  const o2 = new PortForwardObserver("spdy", { maxStreams: 1 });
  const e2 = new SpdyFrameEncoder();
  o2.client(syn(e2, 1, "data"));
  o2.client(e2.encode({ kind: "rst_stream", streamId: 1, status: 5 }));
  o2.client(syn(e2, 3, "data"));
  assert.equal(o2.openStreams().length, 1);
  // Frames over the bound are refused before they are buffered.
  const o3 = new PortForwardObserver("spdy", { maxFramePayload: 100 });
  o3.client(syn(new SpdyFrameEncoder(), 1, "data"));
  assert.throws(
    () => o3.client(encodeDataFrame(1, new Uint8Array(101)).subarray(0, 8)),
    RangeError,
  );
  const o4 = new PortForwardObserver("tunnel", { maxFramePayload: 16 });
  assert.throws(
    () =>
      o4.upstream(
        encodeWsFrame({ opcode: 2, payload: new Uint8Array(17) }).subarray(
          0,
          2,
        ),
      ),
    RangeError,
  );
});

Deno.test("PortForwardObserver keeps at most maxErrorBytes of an error message", () => {
  const c = new SpdyFrameEncoder();
  const o = new PortForwardObserver("spdy", { maxErrorBytes: 4 });
  o.client(syn(c, 1, "error"));
  const events = o.upstream(
    encodeDataFrame(1, enc.encode("a long message"), true),
  );
  const err = events.find((e) => e.type === "error");
  assert.deepEqual(err, { type: "error", stream: 1, message: "a lo" });
  const fin = events.find((e) => e.type === "fin");
  assert.deepEqual(fin, { type: "fin", stream: 1, by: "pod" });
});

Deno.test("PortForwardObserver abortBytes puts the message on every open error stream", () => {
  const s = spdySession();
  const o = new PortForwardObserver("spdy");
  o.client(concatBytes(s.client));
  o.upstream(s.pod[0]!);
  const frames = new SpdyFrameDecoder().push(o.abortBytes("stop"));
  assert.equal(frames.length, 2);
  const f = frames[0]!.frame;
  assert.ok(f.kind === "data");
  assert.equal(f.streamId, 1);
  assert.equal(f.fin, true);
  assert.equal(new TextDecoder().decode(f.data), "stop");
  // Open data streams get a FIN, so kubectl's copy ends and it reads the error.
  const o2 = new PortForwardObserver("spdy");
  o2.client(concatBytes(s.client));
  const both = new SpdyFrameDecoder().push(o2.abortBytes("stop")).map((d) =>
    d.frame.kind === "data" &&
    [d.frame.streamId, d.frame.fin, d.frame.data.length]
  );
  assert.deepEqual(both, [[1, true, 4], [3, true, 0]]);
  // Over WebSocket: the same frames in binary messages (the connection's
  // end is the session's to make).
  const t = new PortForwardObserver("tunnel");
  t.client(tunnel(concatBytes(s.client), [], true));
  const ws = new WsFrameParser().push(t.abortBytes("stop"));
  assert.deepEqual(ws.map((f) => f.opcode), [2, 2]);
  const inner = new SpdyFrameDecoder().push(ws[0]!.payload);
  assert.equal(inner[0]?.frame.kind, "data");
  // Channels: the message on each error channel.
  const ch = new PortForwardObserver("channels", { queryPorts: [8080] });
  ch.upstream(channelSession().pod);
  const m = new WsFrameParser().push(ch.abortBytes("stop"));
  assert.deepEqual([...m[0]!.payload], [1, ...enc.encode("stop")]);
  assert.equal(m[1]!.opcode, 8);
  assert.equal((m[1]!.payload[0]! << 8) | m[1]!.payload[1]!, 1011);
});
