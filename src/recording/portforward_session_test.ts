import assert from "node:assert/strict";
import { SpdyFrameEncoder } from "../k8s/spdy/frame_encoder.ts";
import { SpdyFrameDecoder } from "../k8s/spdy/frame_decoder.ts";
import { memoryLogger } from "../log.ts";
import { RecordType } from "../protocol/records.ts";
import { startFakeRecorder } from "../testing/fake_recorder.ts";
import { RecordingRequiredError } from "./failure_policy.ts";
import {
  PortForwardSession,
  type PortForwardSessionOptions,
} from "./portforward_session.ts";
import { UnrecordedTap } from "./recording_session.ts";
import type { PortForwardEventRecord, SessionEnd } from "./wire.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const TOKEN = "test-token";

function options(
  urls: string[],
  over: Partial<PortForwardSessionOptions> = {},
): PortForwardSessionOptions {
  return {
    sessionId: "pf-1",
    identity: {
      hostname: "alice-laptop",
      nodeId: "n1",
      userId: "u1",
      loginName: "alice@example.com",
      groups: [],
    },
    namespace: "default",
    pod: "web",
    queryPorts: ["8080"],
    transport: "spdy",
    proxyHostname: "execgate",
    recorderUrls: urls,
    enforce: true,
    recordContent: false,
    uploaderToken: TOKEN,
    logger: memoryLogger(),
    ...over,
  };
}

function deadUrl(): string {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return `http://127.0.0.1:${port}`;
}

/** One forwarded connection: client opens error+data, sends, pod answers. */
function wire() {
  const c = new SpdyFrameEncoder();
  const p = new SpdyFrameEncoder();
  const syn = (id: number, type: string) =>
    c.encode({
      kind: "syn_stream",
      streamId: id,
      associatedToStreamId: 0,
      priority: 0,
      fin: false,
      unidirectional: false,
      headers: [["streamtype", type], ["port", "8080"], ["requestid", "0"]],
    });
  return {
    client: [
      syn(1, "error"),
      c.encode({
        kind: "data",
        streamId: 1,
        fin: true,
        data: new Uint8Array(),
      }),
      syn(3, "data"),
      c.encode({ kind: "data", streamId: 3, fin: false, data: enc("ping") }),
    ],
    pod: [
      p.encode({ kind: "syn_reply", streamId: 1, fin: false, headers: [] }),
      p.encode({ kind: "syn_reply", streamId: 3, fin: false, headers: [] }),
      p.encode({ kind: "data", streamId: 3, fin: true, data: enc("pong!") }),
    ],
  };
}

/** Drives a tap as the relay does; returns what reached each side. */
async function drive(
  tap: PortForwardSession,
  client: Uint8Array[],
  pod: Uint8Array[],
  between?: () => Promise<void>,
) {
  tap.upgraded("portforward.k8s.io");
  const gate = tap.upstreamGate();
  const observer = tap.clientObserver();
  const toClient = Array.fromAsync(gate.readable);
  const toPod = Array.fromAsync(observer.readable);
  const cw = observer.writable.getWriter();
  for (const b of client) await cw.write(b);
  await between?.();
  const pw = gate.writable.getWriter();
  for (const b of pod) await pw.write(b).catch(() => {});
  await pw.close().catch(() => {});
  await cw.close();
  return { toClient: await toClient, toPod: await toPod };
}

const total = (chunks: Uint8Array[]) =>
  chunks.reduce((n, c) => n + c.length, 0);

Deno.test("PortForwardSession fail closed without a recorder refuses before anything is forwarded", async () => {
  await assert.rejects(
    PortForwardSession.start(
      options([deadUrl()], { limits: { connectTimeoutMs: 500 } }),
    ),
    RecordingRequiredError,
  );
  const open = await PortForwardSession.start(
    options([deadUrl()], { enforce: false, limits: { connectTimeoutMs: 500 } }),
  );
  assert.ok(open instanceof UnrecordedTap);
});

Deno.test("PortForwardSession records stream events, byte totals and the header, and forwards every byte unchanged", async () => {
  const rec = await startFakeRecorder({ token: TOKEN });
  try {
    const tap = await PortForwardSession.start(options([rec.url]));
    assert.ok(tap instanceof PortForwardSession);
    const w = wire();
    const got = await drive(tap, w.client, w.pod);
    await tap.end("normal");
    assert.equal(total(got.toClient), total(w.pod));
    assert.equal(total(got.toPod), total(w.client));
    const u = await rec.upload(0);
    await u.ended;
    assert.equal(u.complete, true);
    const header = JSON.parse(new TextDecoder().decode(u.records[0]!.payload));
    assert.equal(header.kubernetes.sessionType, "portforward");
    assert.deepEqual(header.portforward, {
      ports: ["8080"],
      recordContent: false,
    });
    const events = u.records.filter((r) => r.type === RecordType.PORTFORWARD)
      .map((r) =>
        JSON.parse(
          new TextDecoder().decode(r.payload),
        ) as PortForwardEventRecord
      );
    assert.deepEqual(events.map((e) => e.event), [
      "open",
      "fin",
      "open",
      "fin",
      "close",
      "close",
    ]);
    const closes = events.filter((e) => e.event === "close");
    assert.deepEqual(closes.find((e) => e.stream === 3), {
      event: "close",
      stream: 3,
      bytesFromClient: 4,
      bytesFromPod: 5,
      atEnd: true,
    });
    assert.equal(
      u.records.some((r) => r.type === RecordType.PORTFORWARD_DATA),
      false,
    );
    const end = JSON.parse(
      new TextDecoder().decode(u.records.at(-1)!.payload),
    ) as SessionEnd;
    assert.equal(end.portforward?.bytesFromClient, 4);
    assert.equal(end.portforward?.bytesFromPod, 5);
    assert.deepEqual(end.portforward?.ports, [8080]);
    assert.equal(end.portforward?.streams.length, 2);
  } finally {
    await rec.close();
  }
});

Deno.test("PortForwardSession with recordContent stores both directions' bytes", async () => {
  const rec = await startFakeRecorder({ token: TOKEN });
  try {
    const tap = await PortForwardSession.start(
      options([rec.url], { recordContent: true }),
    );
    assert.ok(tap instanceof PortForwardSession);
    const w = wire();
    await drive(tap, w.client, w.pod);
    await tap.end("normal");
    const u = await rec.upload(0);
    await u.ended;
    assert.equal(u.complete, true);
    const data = u.records.filter((r) => r.type === RecordType.PORTFORWARD_DATA)
      .map((
        r,
      ) => [r.payload[0], new TextDecoder().decode(r.payload.subarray(5))]);
    assert.deepEqual(data, [[0, "ping"], [1, "pong!"]]);
  } finally {
    await rec.close();
  }
});

Deno.test("PortForwardSession fail closed: a recorder that stops acknowledging ends it, and the client never gets the unacknowledged bytes", async () => {
  const rec = await startFakeRecorder({ token: TOKEN });
  try {
    const tap = await PortForwardSession.start(
      options([rec.url], { limits: { ackTimeoutMs: 300 } }),
    );
    assert.ok(tap instanceof PortForwardSession);
    const w = wire();
    const got = await drive(tap, w.client, w.pod, () => {
      rec.stall();
      return Promise.resolve();
    });
    await tap.end("normal");
    assert.match(tap.abortedWith ?? "", /recording failed/);
    // What reached the client is whole SPDY frames: none of the pod's data,
    // the reason on the error stream and a FIN on the data stream.
    const frames = new SpdyFrameDecoder().push(
      new Uint8Array(got.toClient.flatMap((c) => [...c])),
    ).map((d) => d.frame);
    const data = frames.filter((f) => f.kind === "data");
    assert.equal(
      data.some((f) =>
        f.kind === "data" && new TextDecoder().decode(f.data) === "pong!"
      ),
      false,
    );
    const error = data.find((f) => f.kind === "data" && f.streamId === 1);
    assert.ok(error?.kind === "data" && error.fin);
    assert.match(
      new TextDecoder().decode(error.data),
      /^execgate: port-forward ended: recording failed: /,
    );
    const fin = data.find((f) => f.kind === "data" && f.streamId === 3);
    assert.ok(fin?.kind === "data" && fin.fin && fin.data.length === 0);
  } finally {
    await rec.close();
  }
});

/**
 * A fail-closed forward whose recorder stops acknowledging after the
 * client's first `acked` chunks of {@linkcode wire}: the rest is written
 * while it stalls. Returns the SPDY frames that reached the pod.
 */
async function stalledAfter(
  over: Partial<PortForwardSessionOptions>,
  acked: number,
) {
  const rec = await startFakeRecorder({ token: TOKEN });
  try {
    const tap = await PortForwardSession.start(
      options([rec.url], { ...over, limits: { ackTimeoutMs: 300 } }),
    );
    assert.ok(tap instanceof PortForwardSession);
    const w = wire();
    tap.upgraded("portforward.k8s.io");
    const gate = tap.upstreamGate();
    const observer = tap.clientObserver();
    const toPod = Array.fromAsync(observer.readable);
    void Array.fromAsync(gate.readable);
    const cw = observer.writable.getWriter();
    for (const b of w.client.slice(0, acked)) await cw.write(b);
    rec.stall();
    for (const b of w.client.slice(acked)) await cw.write(b).catch(() => {});
    await cw.close().catch(() => {});
    await gate.writable.close().catch(() => {});
    await tap.end("normal");
    assert.match(tap.abortedWith ?? "", /recording failed/);
    return new SpdyFrameDecoder().push(
      new Uint8Array((await toPod).flatMap((c) => [...c])),
    ).map((d) => d.frame);
  } finally {
    await rec.close();
  }
}

Deno.test("PortForwardSession fail closed with recordContent: the client's bytes reach the pod only once their record is acknowledged", async () => {
  // The stream opens go through (acknowledged); the data frame is held
  // and, when the recording fails, never reaches the pod.
  const frames = await stalledAfter({ recordContent: true }, 3);
  assert.equal(
    frames.filter((f) => f.kind === "syn_stream").length,
    2,
    "the opens went through",
  );
  assert.equal(
    frames.some((f) =>
      f.kind === "data" && new TextDecoder().decode(f.data) === "ping"
    ),
    false,
    "the unacknowledged data did not reach the pod",
  );
});

Deno.test("PortForwardSession fail closed, content not recorded: a stream's opening reaches the pod only once acknowledged, its unrecorded data at once", async () => {
  // The error stream opens and finishes (acknowledged); the data stream's
  // SYN is held and never reaches the pod, nor anything after it.
  const frames = await stalledAfter({}, 2);
  assert.deepEqual(
    frames.map((f) => [f.kind, "streamId" in f ? f.streamId : 0]),
    [["syn_stream", 1], ["data", 1]],
  );
});

Deno.test("PortForwardSession bounds the pod's bytes held for a frame boundary: fail closed ends the connection, fail open goes on unrecorded", async () => {
  for (const enforce of [true, false]) {
    const rec = await startFakeRecorder({ token: TOKEN });
    try {
      const log = memoryLogger();
      const tap = await PortForwardSession.start(
        options([rec.url], {
          recordContent: true,
          enforce,
          maxUnsyncedBytes: 1024,
          logger: log,
        }),
      );
      assert.ok(tap instanceof PortForwardSession);
      const w = wire();
      const p = new SpdyFrameEncoder();
      // One 8 KiB data frame, fed in 256-byte pieces: no boundary until
      // its end.
      const big = p.encode({
        kind: "data",
        streamId: 3,
        fin: true,
        data: new Uint8Array(8192).fill(0x41),
      });
      const pieces: Uint8Array[] = [w.pod[0]!, w.pod[1]!];
      for (let i = 0; i < big.length; i += 256) {
        pieces.push(big.subarray(i, i + 256));
      }
      const got = await drive(tap, w.client, pieces);
      await tap.end("normal").catch(() => {});
      const toClient = total(got.toClient);
      if (enforce) {
        // Ended before the frame completed: never the whole frame.
        assert.ok(toClient < w.pod[0]!.length + w.pod[1]!.length + big.length);
      } else {
        // Every byte forwarded, the recording given up and logged.
        assert.equal(
          toClient,
          w.pod[0]!.length + w.pod[1]!.length + big.length,
        );
      }
      assert.ok(
        log.lines.some((l) =>
          /without a frame boundary the recording can release at \(limit 1024\)/
            .test(String(l.error))
        ),
        JSON.stringify(log.lines),
      );
    } finally {
      await rec.close();
    }
  }
});
