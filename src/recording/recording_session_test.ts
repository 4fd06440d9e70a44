import assert from "node:assert/strict";
import { PROTOCOL_V5 } from "../k8s/constants.ts";
import { exitCodeStatus } from "../k8s/status.ts";
import { WsChannelParser } from "../k8s/ws_channel_parser.ts";
import { encodeWsFrame, WsFrameParser } from "../k8s/ws_frame.ts";
import { memoryLogger } from "../log.ts";
import { startFakeRecorder } from "../testing/fake_recorder.ts";
import { RecordingRequiredError } from "./failure_policy.ts";
import {
  RecordingSession,
  type RecordingSessionOptions,
  UnrecordedTap,
} from "./recording_session.ts";
import { Sha256 } from "./sha256.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const MASK = new Uint8Array([0xa1, 0xb2, 0xc3, 0xd4]);

function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** A server → client channel message (unmasked). */
const down = (channel: number, data: Uint8Array | string, fin = true) =>
  encodeWsFrame({
    opcode: 2,
    payload: cat(
      new Uint8Array([channel]),
      typeof data === "string" ? enc(data) : data,
    ),
    fin,
  });
/** A client → server channel message (masked). */
const up = (channel: number, data: string) =>
  encodeWsFrame({
    opcode: 2,
    payload: cat(new Uint8Array([channel]), enc(data)),
    mask: MASK,
  });

function deadUrl(): string {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return `http://127.0.0.1:${port}`;
}

function options(
  urls: string[],
  over: Partial<RecordingSessionOptions> = {},
): RecordingSessionOptions & { logger: ReturnType<typeof memoryLogger> } {
  let t = 1_764_201_600_000;
  return {
    sessionId: "sess-42",
    identity: {
      hostname: "alice-laptop",
      nodeId: "n1",
      userId: "u1",
      loginName: "alice@example.com",
      groups: [],
    },
    kubernetes: {
      podName: "web-0",
      namespace: "prod",
      container: "app",
      sessionType: "exec",
    },
    argv: ["sh", "-c", "echo hi"],
    tty: true,
    proxyHostname: "execgate-test",
    recorderUrls: urls,
    enforce: true,
    uploaderToken: "test-token",
    now: () => (t += 250), // each reading is 250 ms after the previous
    ...over,
    logger: memoryLogger(),
  };
}

/** Records the relay's view: what it may forward and whether it was aborted. */
function relay(tap: RecordingSession) {
  const state = {
    released: [] as Uint8Array[],
    aborted: undefined as { toClient: Uint8Array; detail: string } | undefined,
    abortedSignal: Promise.withResolvers<void>(),
  };
  tap.abort = (toClient, detail) => {
    state.aborted = { toClient, detail };
    state.abortedSignal.resolve();
  };
  return state;
}

Deno.test("RecordingSession records a TTY session as asciicast and releases only whole frames", async () => {
  const rec = await startFakeRecorder();
  try {
    const tap = await RecordingSession.start(options([rec.url]));
    assert.ok(tap instanceof RecordingSession);
    const r = relay(tap);
    tap.upgraded(PROTOCOL_V5);

    const euro = enc("€");
    const upstream = cat(
      down(1, "$ "),
      down(1, cat(enc("price: "), euro.subarray(0, 2))),
      down(1, cat(euro.subarray(2), enc(" ok\r\n"))),
      down(2, "warn\r\n"),
      down(1, "frag-", false),
      encodeWsFrame({ opcode: 9, payload: enc("ping") }),
      encodeWsFrame({ opcode: 0, payload: enc("mented\r\n") }),
      down(3, JSON.stringify(exitCodeStatus(3))),
      encodeWsFrame({ opcode: 8, payload: new Uint8Array([3, 232]) }),
    );
    const firstResize = up(4, '{"Width":100,"Height":30}\n');
    const client = cat(
      firstResize,
      up(0, "SECRET-STDIN\r"),
      up(4, '{"Width":120,"Height":40}\n'),
      up(255, "\0"),
    );
    // The first resize comes before any output, split anywhere.
    tap.fromClient(client.subarray(0, 5));
    tap.fromClient(client.subarray(5, firstResize.length + 3));
    // Upstream bytes in awkward pieces; every release must end on a frame edge.
    const cuts = [1, 7, 8, 30, 31, 45, 60, 61, 90, upstream.length];
    let prev = 0;
    for (const cut of cuts) {
      const released = await tap.fromUpstream(upstream.subarray(prev, cut));
      if (released.length > 0) {
        const frames = new WsFrameParser();
        frames.push(released);
        assert.equal(
          frames.pending,
          0,
          `release after ${cut} ends inside a frame`,
        );
      }
      r.released.push(released);
      prev = cut;
      if (cut === 45) tap.fromClient(client.subarray(firstResize.length + 3));
    }
    assert.deepEqual(cat(...r.released), upstream);
    await tap.end("normal");
    assert.equal(r.aborted, undefined);

    const u = await rec.until((u) => u.cast !== undefined);
    assert.equal(u.complete, true);
    assert.equal(u.sessionId, "sess-42");
    const lines = u.cast!.trimEnd().split("\n").map((l) => JSON.parse(l));
    const header = lines[0];
    assert.equal(header.version, 2);
    assert.equal(header.width, 100);
    assert.equal(header.height, 30);
    assert.equal(header.tty, true);
    assert.equal(header.command, "sh -c 'echo hi'");
    assert.deepEqual(header.argv, ["sh", "-c", "echo hi"]);
    assert.equal(header.srcNode, "alice-laptop");
    assert.equal(header.srcNodeUser, "alice@example.com");
    assert.deepEqual(header.kubernetes, {
      podName: "web-0",
      namespace: "prod",
      container: "app",
      sessionType: "exec",
    });
    assert.equal(header.proxy, "execgate-test");
    assert.equal(header.protocol, PROTOCOL_V5);
    const events = lines.slice(1);
    for (const e of events) assert.equal(e.length, 3);
    const times = events.map((e) => e[0] as number);
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
    assert.deepEqual(
      events.filter((e) => e[1] === "o").map((e) => e[2]).join(""),
      "$ price: € ok\r\nwarn\r\nfrag-mented\r\n",
    );
    assert.deepEqual(events.filter((e) => e[1] === "r").map((e) => e[2]), [
      "120x40",
    ]);
    assert.ok(!u.cast!.includes("SECRET"), "stdin must never be recorded");

    const m = u.manifest!;
    assert.equal(m.reason, "normal");
    assert.equal(m.exitCode, 3);
    const stdout = enc("$ price: € ok\r\nfrag-mented\r\n");
    const stderr = enc("warn\r\n");
    assert.deepEqual(m.channels, {
      stdout: {
        bytes: stdout.length,
        sha256: new Sha256().update(stdout).hex(),
      },
      stderr: {
        bytes: stderr.length,
        sha256: new Sha256().update(stderr).hex(),
      },
    });
    assert.equal(m.castBytes, enc(u.cast!).length);
  } finally {
    await rec.close();
  }
});

Deno.test("RecordingSession.start fails closed when no recorder is listening", async () => {
  const dead = deadUrl();
  const o = options([dead]);
  const err = await RecordingSession.start(o).then(() => undefined, (e) => e);
  assert.ok(err instanceof RecordingRequiredError);
  assert.equal(err.code, 403);
  assert.equal(
    err.message,
    `forbidden: this session must be recorded, but no recorder is reachable (tried: ${dead} (connection refused))`,
  );
  assert.equal(o.logger.lines[0]?.level, "warn");
});

Deno.test("RecordingSession.start fails open with an unrecorded tap and a warning", async () => {
  const o = options([deadUrl()], { enforce: false });
  const tap = await RecordingSession.start(o);
  assert.ok(tap instanceof UnrecordedTap);
  const chunk = down(1, "x").subarray(0, 2);
  assert.equal(tap.fromUpstream(chunk), chunk);
  assert.deepEqual(o.logger.lines.map((l) => [l.level, l.sessionId]), [[
    "warn",
    "sess-42",
  ]]);
  assert.match(String(o.logger.lines[0]!.reason), /connection refused/);
});

Deno.test("RecordingSession uses the second recorder when the first is down", async () => {
  const rec = await startFakeRecorder();
  try {
    const tap = await RecordingSession.start(options([deadUrl(), rec.url]));
    assert.ok(tap instanceof RecordingSession);
    assert.equal(tap.recorderUrl, rec.url);
    tap.upgraded(PROTOCOL_V5);
    await tap.fromUpstream(down(1, "hello"));
    await tap.end("normal");
    const u = await rec.until((u) => u.manifest !== undefined);
    assert.ok(u.cast!.includes('"o","hello"'));
  } finally {
    await rec.close();
  }
});

/** Decodes the abort bytes as kubectl would see them. */
function decodeAbort(bytes: Uint8Array) {
  const p = new WsChannelParser({ assemble: true });
  const messages = p.push(bytes);
  return {
    closed: p.closed,
    stderr: new TextDecoder().decode(
      messages.find((m) => m.channel === 2)?.data,
    ),
    status: JSON.parse(
      new TextDecoder().decode(messages.find((m) => m.channel === 3)?.data),
    ),
  };
}

for (const how of ["killed", "stalled"] as const) {
  Deno.test(`RecordingSession fails closed when the recorder is ${how} midway`, async () => {
    const rec = await startFakeRecorder({ ackIntervalMs: 20 });
    try {
      const o = options([rec.url], {
        limits: { ackTimeoutMs: 200 },
        now: Date.now,
      });
      const tap = await RecordingSession.start(o);
      assert.ok(tap instanceof RecordingSession);
      const r = relay(tap);
      tap.upgraded(PROTOCOL_V5);
      const before = down(1, "before\r\n");
      assert.deepEqual(await tap.fromUpstream(before), before);
      await rec.until((u) => u.raw.length > 0);
      if (how === "killed") await rec.kill();
      else rec.stall();
      await r.abortedSignal.promise;
      const a = decodeAbort(r.aborted!.toClient);
      assert.match(
        a.stderr,
        /^\r\nexecgate: session ended: the recording failed \(.+\)\r\n$/,
      );
      assert.equal(a.status.status, "Failure");
      assert.match(a.status.message, /recording failed/);
      assert.equal(a.closed, true);
      assert.match(
        r.aborted!.detail,
        how === "killed"
          ? /acknowledgement stream/
          : /no acknowledgement for 200 ms/,
      );
      // No output after the failure reaches the client.
      assert.equal((await tap.fromUpstream(down(1, "after"))).length, 0);
      assert.equal(tap.recording, false);
      await tap.end("recording-failed");
      assert.ok(
        o.logger.lines.some((l) =>
          l.level === "error" && l.sessionId === "sess-42"
        ),
      );
    } finally {
      await rec.close();
    }
  });
}

Deno.test("RecordingSession holds upstream while the recorder does not keep up, then fails closed", async () => {
  const rec = await startFakeRecorder({ ackIntervalMs: 20 });
  try {
    const tap = await RecordingSession.start(
      options([rec.url], {
        limits: { ackTimeoutMs: 300, maxQueueBytes: 32 * 1024 },
        now: Date.now,
      }),
    );
    assert.ok(tap instanceof RecordingSession);
    const r = relay(tap);
    tap.upgraded(PROTOCOL_V5);
    await rec.upload();
    rec.stallReading();
    const frame = down(1, "x".repeat(8 * 1024));
    let releasedAfterAbort = 0;
    // Each call waits while the upload is full; the stall ends it.
    while (r.aborted === undefined) {
      const out = await tap.fromUpstream(frame);
      if (r.aborted !== undefined) releasedAfterAbort += out.length;
    }
    assert.equal(releasedAfterAbort, 0);
    assert.match(r.aborted!.detail, /acknowledged bytes stalled/);
    await tap.end("recording-failed");
  } finally {
    await rec.close();
  }
});

Deno.test("RecordingSession fails open midway: no abort, output keeps flowing, a warning", async () => {
  const rec = await startFakeRecorder();
  try {
    const o = options([rec.url], { enforce: false });
    const tap = await RecordingSession.start(o);
    assert.ok(tap instanceof RecordingSession);
    const r = relay(tap);
    tap.upgraded(PROTOCOL_V5);
    const half = down(1, "held until whole");
    assert.equal((await tap.fromUpstream(half.subarray(0, 4))).length, 0);
    await rec.kill();
    assert.match(await tap.broken, /acknowledgement stream/);
    assert.equal(tap.recording, false);
    // The held partial frame is released with the next bytes.
    assert.deepEqual(await tap.fromUpstream(half.subarray(4)), half);
    const more = down(1, "more");
    assert.deepEqual(await tap.fromUpstream(more), more);
    await tap.end("normal");
    assert.equal(r.aborted, undefined);
    const warn = o.logger.lines.find((l) => l.level === "warn");
    assert.equal(warn?.sessionId, "sess-42");
    assert.match(String(warn?.msg), /continues unrecorded/);
  } finally {
    await rec.close();
  }
});

Deno.test("RecordingSession fails closed on malformed upstream frames", async () => {
  const rec = await startFakeRecorder();
  try {
    const tap = await RecordingSession.start(options([rec.url]));
    assert.ok(tap instanceof RecordingSession);
    const r = relay(tap);
    tap.upgraded(PROTOCOL_V5);
    const ok = down(1, "fine");
    assert.deepEqual(await tap.fromUpstream(ok), ok);
    assert.equal((await tap.fromUpstream(down(7, "bad"))).length, 0);
    assert.match(r.aborted!.detail, /channel 7 is unknown at byte 7/);
    const u = await rec.until((u) =>
      u.cast !== undefined || u.error !== undefined
    );
    assert.equal(u.complete, false);
    await tap.end("protocol-error");
  } finally {
    await rec.close();
  }
});

Deno.test("RecordingSession writes header and manifest for a session that never upgraded", async () => {
  const rec = await startFakeRecorder();
  try {
    const tap = await RecordingSession.start(
      options([rec.url], { tty: false }),
    );
    await tap.end("upstream-gone", "exec refused with 404");
    const u = await rec.until((u) => u.manifest !== undefined);
    assert.equal(u.complete, true);
    assert.equal(u.manifest!.detail, "exec refused with 404");
    assert.equal(JSON.parse(u.cast!.split("\n")[0]!).tty, false);
  } finally {
    await rec.close();
  }
});
