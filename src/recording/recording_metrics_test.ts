/**
 * What a RecordingSession reports to its `metrics`: acknowledged bytes,
 * acknowledgement latency, and each failure under its reason.
 */
import assert from "node:assert/strict";
import { PROTOCOL_V5 } from "../k8s/constants.ts";
import { encodeWsFrame } from "../k8s/ws_frame.ts";
import { memoryLogger } from "../log.ts";
import { createProxyMetrics } from "../metrics/proxy_metrics.ts";
import { startFakeRecorder } from "../testing/fake_recorder.ts";
import { FakeUpload } from "../testing/fake_upload.ts";
import {
  RecordingSession,
  type RecordingSessionOptions,
  UnrecordedTap,
} from "./recording_session.ts";

const enc = (s: string) => new TextEncoder().encode(s);

/** A server → client channel message. */
const down = (channel: number, data: string) =>
  encodeWsFrame({
    opcode: 2,
    payload: new Uint8Array([channel, ...enc(data)]),
    fin: true,
  });

function options(
  urls: string[],
  over: Partial<RecordingSessionOptions>,
): RecordingSessionOptions {
  return {
    sessionId: "sess-m",
    identity: {
      hostname: "h",
      nodeId: "n",
      userId: "u",
      loginName: "alice@example.com",
      groups: [],
    },
    kubernetes: {
      podName: "p",
      namespace: "ns",
      container: "c",
      sessionType: "exec",
    },
    argv: ["sh"],
    tty: false,
    proxyHostname: "execgate-test",
    recorderUrls: urls,
    enforce: true,
    uploaderToken: "test-token",
    logger: memoryLogger(),
    ...over,
  };
}

/** Feeds upstream bytes through the gate; resolves with what the client got once it closes. */
async function run(tap: RecordingSession, chunks: Uint8Array[]) {
  const gate = tap.upstreamGate();
  tap.clientObserver().readable.pipeTo(new WritableStream()).catch(() => {});
  const w = gate.writable.getWriter();
  const got = (async () => {
    let n = 0;
    for await (const c of gate.readable) n += c.length;
    return n;
  })();
  for (const c of chunks) await w.write(c).catch(() => {});
  await w.close().catch(() => {});
  return await got;
}

function deadUrl(): string {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return `http://127.0.0.1:${port}`;
}

Deno.test("RecordingSession counts acknowledged bytes and samples ack latency", async () => {
  const m = createProxyMetrics();
  const rec = await startFakeRecorder();
  try {
    const tap = await RecordingSession.start(
      options([rec.url], { metrics: m.recording }),
    );
    assert.ok(tap instanceof RecordingSession);
    tap.upgraded(PROTOCOL_V5);
    const chunks = Array.from({ length: 20 }, () => down(1, "y".repeat(1000)));
    const got = await run(tap, chunks);
    assert.equal(got, chunks.reduce((n, c) => n + c.length, 0));
    await tap.end("normal");
    const f = m.recording.failures;
    // 20,000 output bytes in records, plus the end record.
    assert.ok(m.recording.recordedBytes.value > 20_000);
    assert.ok(m.recording.ackLatency.count >= 1);
    assert.ok(m.recording.ackLatency.sum >= 0);
    assert.deepEqual(
      [
        f.unavailable.value,
        f.recorder.value,
        f.protocol.value,
        f.unfinished.value,
      ],
      [0, 0, 0, 0],
    );
  } finally {
    await rec.close();
  }
});

Deno.test("RecordingSession counts a malformed upstream frame as a protocol failure", async () => {
  const m = createProxyMetrics();
  const rec = await startFakeRecorder();
  try {
    const tap = await RecordingSession.start(
      options([rec.url], { metrics: m.recording }),
    );
    assert.ok(tap instanceof RecordingSession);
    tap.upgraded(PROTOCOL_V5);
    await run(tap, [down(1, "fine"), down(7, "bad")]);
    await tap.end("protocol-error");
    assert.equal(m.recording.failures.protocol.value, 1);
    assert.equal(m.recording.failures.recorder.value, 0);
  } finally {
    await rec.close();
  }
});

Deno.test("RecordingSession counts a recorder that stops acknowledging as a recorder failure", async () => {
  const m = createProxyMetrics();
  const fake = new FakeUpload();
  const tap = await RecordingSession.start(
    options(["http://fake"], {
      fetch: fake.fetch,
      metrics: m.recording,
      limits: { ackTimeoutMs: 100, windowBytes: 16 * 1024 },
    }),
  );
  assert.ok(tap instanceof RecordingSession);
  tap.upgraded(PROTOCOL_V5);
  const idle = setInterval(() => fake.ack(fake.acked), 10);
  try {
    await run(tap, Array.from({ length: 4 }, () => down(1, "x".repeat(8192))));
    await tap.end("recording-failed");
    assert.equal(m.recording.failures.recorder.value, 1);
    assert.equal(m.recording.failures.protocol.value, 0);
  } finally {
    clearInterval(idle);
  }
});

Deno.test("RecordingSession.start counts no recorder accepting as unavailable, fail open and closed", async () => {
  const m = createProxyMetrics();
  const open = await RecordingSession.start(
    options([deadUrl()], { enforce: false, metrics: m.recording }),
  );
  assert.ok(open instanceof UnrecordedTap);
  await assert.rejects(
    RecordingSession.start(options([deadUrl()], { metrics: m.recording })),
  );
  assert.equal(m.recording.failures.unavailable.value, 2);
  assert.equal(m.recording.recordedBytes.value, 0);
});

Deno.test("RecordingSession.endReason is normal once the final Status was seen, else the relay's reason", async () => {
  const rec = await startFakeRecorder();
  try {
    for (
      const [frames, relay, want] of [
        [
          [down(1, "hi"), down(3, '{"status":"Success"}')],
          "upstream-gone",
          "normal",
        ],
        [
          [down(1, "hi"), down(3, '{"status":"Success"}')],
          "client-gone",
          "normal",
        ],
        [[down(1, "hi")], "upstream-gone", "upstream-gone"],
        [[down(1, "hi")], "client-gone", "client-gone"],
      ] as const
    ) {
      const tap = await RecordingSession.start(options([rec.url], {}));
      assert.ok(tap instanceof RecordingSession);
      tap.upgraded(PROTOCOL_V5);
      await run(tap, [...frames]);
      assert.equal(tap.endReason, undefined);
      await tap.end(relay);
      assert.equal(tap.endReason, want);
    }
  } finally {
    await rec.close();
  }
});
