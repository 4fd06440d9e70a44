/**
 * `pods/portforward` on the wire, with hand-made requests: the refusals a
 * real cluster gives, the channel-style WebSocket protocol (no kubectl
 * speaks it), and SPDY streams kubectl never sends (no `requestid`, bad
 * headers).
 */
import assert from "node:assert/strict";
import tls from "node:tls";
import { type SpdyFrame, SpdyFrameDecoder } from "../k8s/spdy/frame_decoder.ts";
import { SpdyFrameEncoder } from "../k8s/spdy/frame_encoder.ts";
import { encodeWsFrame, WsFrameParser } from "../k8s/ws_frame.ts";
import { PAGE, startHttpPodServer } from "./_pod_servers.ts";
import { withCluster } from "./_test_fixture.ts";
import type { DevCluster } from "./server.ts";

const PF = "/api/v1/namespaces/default/pods/demo/portforward";
const GET_PAGE = new TextEncoder().encode(
  "GET / HTTP/1.1\r\nHost: pod\r\nConnection: close\r\n\r\n",
);

/** An upgrade request on a raw TLS socket, and what came back. */
interface Upgraded {
  status: number;
  headers: Map<string, string>;
  /** Bytes after the head (the body of a refusal, or the first session bytes). */
  rest: Uint8Array;
  socket: tls.TLSSocket;
  /** Every later chunk. */
  chunks: AsyncIterable<Uint8Array>;
}

function upgrade(
  cluster: DevCluster,
  method: string,
  target: string,
  headers: [string, string][],
): Promise<Upgraded> {
  const u = new URL(cluster.url);
  const socket = tls.connect({
    host: u.hostname,
    port: Number(u.port),
    ca: cluster.caPem,
    ALPNProtocols: ["http/1.1"],
  });
  let head = `${method} ${target} HTTP/1.1\r\nHost: ${u.host}\r\n` +
    `Authorization: Bearer ${cluster.token}\r\n`;
  for (const [k, v] of headers) head += `${k}: ${v}\r\n`;
  socket.write(head + "\r\n");
  const queue: Uint8Array[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  socket.on("data", (c: Uint8Array) => {
    queue.push(new Uint8Array(c));
    wake?.();
  });
  const end = () => {
    ended = true;
    wake?.();
  };
  socket.on("end", end);
  socket.on("close", end);
  socket.on("error", end);
  const chunks = (async function* () {
    while (true) {
      if (queue.length > 0) yield queue.shift()!;
      else if (ended) return;
      else await new Promise<void>((r) => (wake = r));
    }
  })();
  return (async () => {
    let buf = new Uint8Array();
    // Not `for await`: leaving that loop would end the generator.
    for (let n = await chunks.next(); !n.done; n = await chunks.next()) {
      const c = n.value;
      const joined = new Uint8Array(buf.length + c.length);
      joined.set(buf);
      joined.set(c, buf.length);
      buf = joined;
      const text = new TextDecoder("latin1").decode(buf);
      const at = text.indexOf("\r\n\r\n");
      if (at < 0) continue;
      const [statusLine, ...lines] = text.slice(0, at).split("\r\n");
      const map = new Map<string, string>();
      for (const l of lines) {
        const i = l.indexOf(":");
        map.set(l.slice(0, i).toLowerCase(), l.slice(i + 1).trim());
      }
      return {
        status: Number(statusLine!.split(" ")[1]),
        headers: map,
        rest: buf.subarray(at + 4),
        socket,
        chunks,
      };
    }
    throw new Error(`No answer to ${method} ${target}`);
  })();
}

async function refusal(
  cluster: DevCluster,
  method: string,
  target: string,
  headers: [string, string][],
): Promise<{ status: number; message: string }> {
  const r = await upgrade(cluster, method, target, headers);
  const parts = [r.rest];
  for await (const c of r.chunks) parts.push(c);
  const body = new TextDecoder().decode(
    new Uint8Array(parts.flatMap((p) => [...p])),
  );
  r.socket.destroy();
  return { status: r.status, message: JSON.parse(body).message };
}

const SPDY = (version: string): [string, string][] => [
  ["Connection", "Upgrade"],
  ["Upgrade", "SPDY/3.1"],
  ["X-Stream-Protocol-Version", version],
  ["Content-Length", "0"],
];
const WS = (protocol?: string): [string, string][] => [
  ["Connection", "Upgrade"],
  ["Upgrade", "websocket"],
  ["Sec-WebSocket-Version", "13"],
  ["Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="],
  ...(protocol === undefined
    ? []
    : [["Sec-WebSocket-Protocol", protocol] as [string, string]]),
];

Deno.test("devcluster port-forward refuses bad ports, unknown pods and protocols it does not speak, as a real cluster does", async () => {
  await withCluster(async ({ cluster }) => {
    const cases: [string, string, [string, string][], number, string][] = [
      [
        "POST",
        `${PF}?ports=abc`,
        SPDY("portforward.k8s.io"),
        400,
        'cannot convert to []int32: strconv.ParseUint: parsing "abc": invalid syntax',
      ],
      [
        "POST",
        `${PF}?ports=80,70000`,
        SPDY("portforward.k8s.io"),
        400,
        'cannot convert to []int32: strconv.ParseUint: parsing "70000": value out of range',
      ],
      [
        "POST",
        "/api/v1/namespaces/default/pods/nope/portforward",
        SPDY("portforward.k8s.io"),
        404,
        'pods "nope" not found',
      ],
      [
        "POST",
        PF,
        SPDY("v4.channel.k8s.io"),
        403,
        "unable to upgrade: unable to negotiate protocol: client supports [v4.channel.k8s.io], server accepts [portforward.k8s.io]",
      ],
      [
        "GET",
        PF,
        WS("SPDY/3.1+v2.portforward.k8s.io"),
        403,
        "unable to upgrade: unable to negotiate protocol: client supports [v2.portforward.k8s.io], server accepts [portforward.k8s.io]",
      ],
      [
        "GET",
        `${PF}?ports=80`,
        WS("v2.portforward.k8s.io"),
        403,
        "unable to upgrade websocket connection: requested protocol(s) are not supported: [v2.portforward.k8s.io]; supports [v4.channel.k8s.io]",
      ],
      [
        "GET",
        PF,
        WS("v4.channel.k8s.io"),
        400,
        'query parameter "port" is required',
      ],
      [
        "GET",
        `${PF}?ports=0`,
        WS("v4.channel.k8s.io"),
        400,
        'port "0" must be > 0',
      ],
      ["GET", PF, [["Connection", "close"]], 400, "Upgrade request required"],
    ];
    for (const [method, target, headers, status, message] of cases) {
      const r = await refusal(cluster, method, target, headers);
      assert.deepEqual(r, { status, message }, `${method} ${target}`);
    }
    assert.equal(
      cluster.executions().filter((e) => e.via === "pods/portforward").length,
      0,
    );
  });
});

Deno.test("devcluster port-forward over channel-style WebSocket: port prefixes, data both ways, errors per port, close when all are done", async () => {
  await withCluster(async ({ cluster }) => {
    const http = startHttpPodServer();
    try {
      cluster.exposePort("default", "demo", 8080, { port: http.port });
      for (const protocol of ["v4.channel.k8s.io", undefined]) {
        const r = await upgrade(
          cluster,
          "GET",
          `${PF}?ports=8080&ports=9999`,
          WS(protocol),
        );
        assert.equal(r.status, 101);
        assert.equal(r.headers.get("sec-websocket-protocol"), protocol);
        r.socket.write(encodeWsFrame({
          opcode: 2,
          payload: new Uint8Array([0, ...GET_PAGE]),
          mask: new Uint8Array([1, 2, 3, 4]),
        }));
        const parser = new WsFrameParser();
        const channels = new Map<number, number[]>();
        let closeCode: number | undefined;
        const frames = (c: Uint8Array) => {
          for (const f of parser.push(c)) {
            if (f.opcode === 8) {
              closeCode = (f.payload[0]! << 8) | f.payload[1]!;
            }
            if (f.opcode !== 2) continue;
            const list = channels.get(f.payload[0]!) ?? [];
            list.push(...f.payload.subarray(1));
            channels.set(f.payload[0]!, list);
          }
        };
        frames(r.rest);
        for await (const c of r.chunks) frames(c);
        const text = (ch: number) =>
          new TextDecoder("latin1").decode(
            new Uint8Array(channels.get(ch) ?? []),
          );
        const le = (p: number) => String.fromCharCode(p & 0xff, p >> 8);
        // Each channel starts with its port, little endian.
        assert.equal(text(1), le(8080));
        assert.ok(text(0).startsWith(le(8080) + "HTTP/1.1 200 OK\r\n"));
        assert.ok(text(0).endsWith(PAGE));
        assert.equal(text(2), le(9999));
        assert.match(
          text(3),
          new RegExp(
            `^${
              le(9999)
            }error forwarding port 9999 to pod [0-9a-f]{64}, uid : .*connection refused`,
          ),
        );
        assert.equal(closeCode, 1000);
      }
    } finally {
      await http.close();
    }
  });
});

Deno.test("devcluster port-forward over SPDY pairs streams without requestid by stream id and resets streams with bad headers", async () => {
  await withCluster(async ({ cluster }) => {
    const http = startHttpPodServer();
    try {
      cluster.exposePort("default", "demo", 8080, { port: http.port });
      const r = await upgrade(cluster, "POST", PF, SPDY("portforward.k8s.io"));
      assert.equal(r.status, 101);
      assert.equal(
        r.headers.get("x-stream-protocol-version"),
        "portforward.k8s.io",
      );
      const enc = new SpdyFrameEncoder();
      const send = (f: SpdyFrame) => r.socket.write(enc.encode(f));
      const syn = (streamId: number, headers: [string, string][]) =>
        send({
          kind: "syn_stream",
          streamId,
          associatedToStreamId: 0,
          priority: 0,
          fin: false,
          unidirectional: false,
          headers,
        });
      syn(1, [["streamtype", "error"], ["port", "8080"]]);
      send({ kind: "data", streamId: 1, data: new Uint8Array(), fin: true });
      syn(3, [["streamtype", "data"], ["port", "8080"]]);
      send({ kind: "data", streamId: 3, data: GET_PAGE, fin: false });
      syn(5, [["streamtype", "data"], ["port", "0"]]);
      syn(7, [["streamtype", "stdin"], ["port", "8080"]]);
      const dec = new SpdyFrameDecoder();
      const replies: number[] = [];
      const resets: [number, number][] = [];
      const data = new Map<number, number[]>();
      const fins: number[] = [];
      const frames = (c: Uint8Array) => {
        for (const { frame: f } of dec.push(c)) {
          if (f.kind === "syn_reply") replies.push(f.streamId);
          if (f.kind === "rst_stream") resets.push([f.streamId, f.status]);
          if (f.kind === "data") {
            data.set(f.streamId, [...(data.get(f.streamId) ?? []), ...f.data]);
            if (f.fin) fins.push(f.streamId);
            // As kubectl does once the pod's side ended.
            if (f.fin && f.streamId === 3) {
              send({ kind: "rst_stream", streamId: 3, status: 5 });
            }
          }
        }
      };
      frames(r.rest);
      for await (const c of r.chunks) {
        frames(c);
        if (fins.includes(1) && fins.includes(3)) break;
      }
      r.socket.destroy();
      assert.deepEqual(replies, [1, 3]);
      assert.deepEqual(resets, [[5, 5], [7, 5]]);
      const body = new TextDecoder().decode(new Uint8Array(data.get(3) ?? []));
      assert.match(body, /^HTTP\/1\.1 200 OK\r\n/);
      assert.ok(body.endsWith(PAGE));
      assert.equal(data.get(1)?.length, 0); // nothing went wrong
      assert.deepEqual(fins.sort(), [1, 3]);
    } finally {
      await http.close();
    }
  });
});
