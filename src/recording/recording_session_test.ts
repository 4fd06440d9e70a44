import assert from "node:assert/strict";
import { PROTOCOL_V5 } from "../k8s/constants.ts";
import { exitCodeStatus } from "../k8s/status.ts";
import fc from "fast-check";
import { WsChannelParser } from "../k8s/ws_channel_parser.ts";
import { encodeWsFrame } from "../k8s/ws_frame.ts";
import { memoryLogger } from "../log.ts";
import {
  RecordDecoder,
  RecordType,
  type SessionRecord,
} from "../protocol/records.ts";
import { startFakeRecorder } from "../testing/fake_recorder.ts";
import { FakeUpload } from "../testing/fake_upload.ts";
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

const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** Drives a session's two streams the way the relay does. */
function drive(tap: RecordingSession) {
  const gate = tap.upstreamGate();
  const observer = tap.clientObserver();
  const w = gate.writable.getWriter();
  const cw = observer.writable.getWriter();
  const got: Uint8Array[] = [];
  let received = 0;
  let closed = false;
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const f of [...waiters]) f();
  };
  const reading = (async () => {
    const r = gate.readable.getReader();
    while (true) {
      const { value, done } = await r.read();
      if (done) break;
      got.push(value.slice());
      received += value.length;
      notify();
    }
    closed = true;
    notify();
  })();
  observer.readable.pipeTo(new WritableStream()).catch(() => {});
  return {
    /** Writes upstream bytes; resolves when the gate took them (window). */
    write: (b: Uint8Array) => w.write(b).catch(() => {}),
    /** Ends upstream; resolves once the gate flushed. */
    close: () => w.close().catch(() => {}),
    fromClient: (b: Uint8Array) => cw.write(b),
    get received() {
      return cat(...got);
    },
    get receivedBytes() {
      return received;
    },
    get closed() {
      return closed;
    },
    reading,
    until(cond: () => boolean): Promise<void> {
      if (cond()) return Promise.resolve();
      return new Promise((resolve) => {
        const check = () => {
          if (!cond()) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
      });
    },
  };
}

/** stdout + stderr of the records, in order. */
function outputOf(records: SessionRecord[]): Uint8Array {
  return cat(
    ...records.filter((r) =>
      r.type === RecordType.STDOUT || r.type === RecordType.STDERR
    ).map((r) => r.payload),
  );
}

/** stdout + stderr of a server → client WebSocket byte stream, in order. */
function wsOutput(bytes: Uint8Array): Uint8Array {
  const p = new WsChannelParser({ protocol: PROTOCOL_V5 });
  return cat(
    ...p.push(bytes).filter((m) => m.channel === 1 || m.channel === 2).map((
      m,
    ) => m.data),
  );
}

/** Decodes the abort bytes as kubectl would see them. */
function decodeAbort(bytes: Uint8Array) {
  const p = new WsChannelParser({ assemble: true });
  const messages = p.push(bytes);
  return {
    closed: p.closed,
    stderr: dec(
      messages.find((m) => m.channel === 2)?.data ?? new Uint8Array(),
    ),
    status: JSON.parse(
      dec(messages.find((m) => m.channel === 3)?.data ?? enc("null")),
    ),
  };
}

Deno.test("RecordingSession records a TTY session as v2 records: header, raw resizes, raw output, status, manifest", async () => {
  const rec = await startFakeRecorder();
  try {
    const tap = await RecordingSession.start(options([rec.url]));
    assert.ok(tap instanceof RecordingSession);
    assert.equal(
      rec.uploads[0]!.headers.get("content-type"),
      "application/x-execgate-records",
    );
    tap.upgraded(PROTOCOL_V5);
    const s = drive(tap);
    const euro = enc("€");
    const status = JSON.stringify(exitCodeStatus(3));
    const upstream = cat(
      down(1, "$ "),
      down(1, cat(enc("price: "), euro.subarray(0, 2))),
      down(1, cat(euro.subarray(2), enc(" ok\r\n"))),
      down(2, "warn\r\n"),
      down(1, "frag-", false),
      encodeWsFrame({ opcode: 9, payload: enc("ping") }),
      encodeWsFrame({ opcode: 0, payload: enc("mented\r\n") }),
      down(1, new Uint8Array([0, 0xff, 0x1b, 10])),
      down(3, status),
      encodeWsFrame({ opcode: 8, payload: new Uint8Array([3, 232]) }),
    );
    const client = cat(
      up(4, '{"Width":100,"Height":30}\n'),
      up(0, "SECRET-STDIN\r"),
      up(4, '{"Width":0,"Height":0}'),
      up(4, "{not json"),
    );
    await s.fromClient(client.subarray(0, 5));
    await s.fromClient(client.subarray(5));
    const cuts = [1, 7, 8, 30, 31, 45, 60, 61, 90, upstream.length];
    let prev = 0;
    for (const c of cuts) {
      await s.write(upstream.subarray(prev, c));
      prev = c;
    }
    await s.close();
    await s.reading;
    assert.deepEqual(s.received, upstream);
    await tap.end("upstream-gone");

    const u = await rec.until((u) => u.manifest !== undefined);
    assert.equal(u.complete, true);
    assert.equal(u.formatError, undefined);
    const types = u.records.map((r) => r.type);
    assert.equal(types[0], RecordType.HEADER);
    assert.equal(types.at(-1), RecordType.END);
    const header = JSON.parse(dec(u.records[0]!.payload));
    assert.equal(header.version, 2);
    assert.equal(header.width, 80);
    assert.equal(header.height, 24);
    assert.equal(header.command, "sh -c 'echo hi'");
    assert.deepEqual(header.argv, ["sh", "-c", "echo hi"]);
    assert.equal(header.srcNodeUser, "alice@example.com");
    assert.equal(header.proxy, "execgate-test");
    assert.equal(u.records[0]!.timeUs, 1_764_201_600_250_000);
    assert.deepEqual(
      u.records.filter((r) => r.type === RecordType.RESIZE).map((r) =>
        dec(r.payload)
      ),
      ['{"Width":100,"Height":30}\n', '{"Width":0,"Height":0}', "{not json"],
      "resizes as sent",
    );
    const stdout = cat(
      enc("$ price: € ok\r\nfrag-mented\r\n"),
      new Uint8Array([0, 0xff, 0x1b, 10]),
    );
    assert.deepEqual(u.stdout, stdout, "stdout byte for byte");
    assert.deepEqual(dec(u.stderr), "warn\r\n");
    assert.deepEqual(
      u.records.filter((r) => r.type === RecordType.STATUS).map((r) =>
        dec(r.payload)
      ),
      [status],
    );
    assert.ok(!dec(u.raw).includes("SECRET"), "stdin is never recorded");
    const times = u.records.slice(1).map((r) => r.timeUs);
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
    const m = u.manifest!;
    assert.equal(m.reason, "normal", "closed after the status: normal");
    assert.equal(m.protocol, PROTOCOL_V5);
    assert.equal(m.exitCode, 3);
    assert.deepEqual(m.channels, {
      stdout: {
        bytes: stdout.length,
        sha256: new Sha256().update(stdout).hex(),
      },
      stderr: { bytes: 6, sha256: new Sha256().update(enc("warn\r\n")).hex() },
    });
    assert.equal(m.castBytes, u.records.at(-1)!.offset);
  } finally {
    await rec.close();
  }
});

Deno.test("RecordingSession splits output larger than MAX_RECORD_PAYLOAD into several records", async () => {
  const rec = await startFakeRecorder();
  try {
    const tap = await RecordingSession.start(options([rec.url]));
    assert.ok(tap instanceof RecordingSession);
    tap.upgraded(PROTOCOL_V5);
    const s = drive(tap);
    const big = crypto.getRandomValues(new Uint8Array(65536));
    const data = cat(...Array.from({ length: 40 }, () => big)); // 2.5 MiB
    const frame = down(1, data);
    await s.write(frame);
    await s.close();
    await s.reading;
    assert.equal(s.receivedBytes, frame.length);
    await tap.end("normal");
    const u = await rec.until((u) => u.manifest !== undefined);
    assert.equal(u.complete, true);
    const out = u.records.filter((r) => r.type === RecordType.STDOUT);
    assert.deepEqual(out.map((r) => r.payload.length), [
      1048576,
      1048576,
      data.length - 2 * 1048576,
    ]);
    assert.deepEqual(u.stdout, data);
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
    const s = drive(tap);
    await s.write(down(1, "hello"));
    await s.close();
    await tap.end("normal");
    const u = await rec.until((u) => u.manifest !== undefined);
    assert.equal(dec(u.stdout), "hello");
  } finally {
    await rec.close();
  }
});

Deno.test("RecordingSession.start skips a recorder that refuses the header for the next one", async () => {
  const bad = await startFakeRecorder({ refuseHeader: "record 1: nope" });
  const good = await startFakeRecorder();
  try {
    const tap = await RecordingSession.start(options([bad.url, good.url]));
    assert.ok(tap instanceof RecordingSession);
    assert.equal(tap.recorderUrl, good.url);
    await tap.end("normal");
  } finally {
    await bad.close();
    await good.close();
  }
});

Deno.test("RecordingSession.start resolves only once the recorder acknowledged the whole header", async () => {
  const fake = new FakeUpload();
  fake.autoAckHeader = false;
  let started = false;
  const starting = RecordingSession.start(
    options(["http://fake"], { fetch: fake.fetch }),
  ).then((t) => {
    started = true;
    return t;
  });
  await fake.until(() => fake.records.length === 1);
  fake.ack(fake.records[0]!.end - 1);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(started, false, "not started on a partial ack");
  fake.ack(fake.records[0]!.end);
  const tap = await starting;
  assert.ok(tap instanceof RecordingSession);
  const end = tap.end("normal");
  await fake.until(() => fake.bodyEnded);
  fake.done();
  await end;
});

Deno.test("RecordingSession fail closed: the client receives only bytes whose records were acknowledged (any chunking, any ack schedule)", async () => {
  const frameArb = fc.oneof(
    fc.record({
      kind: fc.constant("out" as const),
      channel: fc.constantFrom(1, 2),
      data: fc.uint8Array({ maxLength: 300 }),
    }),
    fc.record({
      kind: fc.constant("frag" as const),
      parts: fc.array(fc.uint8Array({ maxLength: 80 }), {
        minLength: 2,
        maxLength: 4,
      }),
    }),
    fc.record({ kind: fc.constant("ping" as const) }),
  );
  const sessionArb = fc.record({
    frames: fc.array(frameArb, { maxLength: 25 }),
    cuts: fc.array(fc.nat(), { maxLength: 30 }),
    acks: fc.array(fc.nat(), { maxLength: 60 }),
    window: fc.integer({ min: 1, max: 2048 }),
    enforce: fc.boolean(),
  });
  await fc.assert(
    fc.asyncProperty(
      sessionArb,
      async ({ frames, cuts, acks, window, enforce }) => {
        const wire = cat(
          ...frames.flatMap((f) => {
            if (f.kind === "out") return [down(f.channel, f.data)];
            if (f.kind === "ping") {
              return [encodeWsFrame({ opcode: 9, payload: enc("p") })];
            }
            return f.parts.map((p, i) =>
              encodeWsFrame({
                opcode: i === 0 ? 2 : 0,
                payload: i === 0 ? cat(new Uint8Array([1]), p) : p,
                fin: i === f.parts.length - 1,
              })
            );
          }),
          down(3, JSON.stringify(exitCodeStatus(0))),
        );
        const points = [...new Set(cuts.map((c) => c % (wire.length + 1)))]
          .sort((a, b) => a - b);
        const chunks: Uint8Array[] = [];
        let prev = 0;
        for (const p of [...points, wire.length]) {
          if (p > prev) chunks.push(wire.subarray(prev, p));
          prev = p;
        }
        const fake = new FakeUpload();
        const tap = await RecordingSession.start(
          options(["http://fake"], {
            fetch: fake.fetch,
            enforce,
            limits: { windowBytes: window, ackTimeoutMs: 600_000 },
          }),
        );
        assert.ok(tap instanceof RecordingSession);
        tap.upgraded(PROTOCOL_V5);
        const s = drive(tap);
        const check = () => {
          const got = s.received;
          assert.deepEqual(got, wire.subarray(0, got.length), "a prefix");
          if (!enforce) return;
          const shown = wsOutput(got);
          const acked = outputOf(fake.ackedRecords);
          assert.ok(shown.length <= acked.length, "shown output was acked");
          assert.deepEqual(shown, acked.subarray(0, shown.length));
        };
        const writes = chunks.map((c) => s.write(c));
        if (!enforce) {
          // Fail open never waits for the recorder.
          await Promise.all(writes);
          await s.until(() => s.receivedBytes === wire.length);
          check();
        }
        for (const a of acks) {
          await new Promise((r) => setTimeout(r, 0));
          check();
          fake.ack(fake.acked + (a % 512));
          await new Promise((r) => setTimeout(r, 0));
          check();
        }
        const closing = s.close();
        while (s.receivedBytes < wire.length) {
          await fake.until(() => fake.received > fake.acked);
          check();
          fake.ack(fake.acked + 1 + (fake.received - fake.acked) / 2);
          await new Promise((r) => setTimeout(r, 0));
          check();
        }
        await closing;
        await s.reading;
        assert.deepEqual(s.received, wire);
        const end = tap.end("upstream-gone");
        await fake.until(() => fake.bodyEnded);
        fake.done();
        await end;
        assert.equal(fake.records.at(-1)?.type, RecordType.END);
        // Fail open drops records while the window is full; fail closed never.
        if (enforce) {
          assert.deepEqual(outputOf(fake.records), wsOutput(wire));
        }
      },
    ),
    { seed: 20261202, numRuns: 60 },
  );
});

for (const how of ["killed", "stalled"] as const) {
  Deno.test(`RecordingSession fails closed when the recorder is ${how} midway: the acknowledged prefix, then a stderr message and a failure Status`, async () => {
    const rec = await startFakeRecorder({ ackIntervalMs: 20 });
    try {
      const o = options([rec.url], {
        limits: { ackTimeoutMs: 200 },
        now: Date.now,
      });
      const tap = await RecordingSession.start(o);
      assert.ok(tap instanceof RecordingSession);
      tap.upgraded(PROTOCOL_V5);
      const s = drive(tap);
      const before = down(1, "before\r\n");
      await s.write(before);
      await s.until(() => s.receivedBytes === before.length);
      if (how === "killed") await rec.kill();
      else rec.stall();
      s.write(down(1, "after"));
      await s.until(() => s.closed);
      const got = s.received;
      assert.deepEqual(got.subarray(0, before.length), before);
      const a = decodeAbort(got.subarray(before.length));
      assert.match(
        a.stderr,
        /^\r\nexecgate: session ended: the recording failed \(.+\)\r\n$/,
      );
      assert.match(
        a.stderr,
        how === "killed"
          ? /acknowledgement stream/
          : /(no acknowledgement for 200 ms|stalled at)/,
      );
      assert.equal(a.status.status, "Failure");
      assert.equal(a.closed, true);
      assert.ok(!dec(got).includes("after"), "nothing unacknowledged");
      assert.match(tap.abortedWith!, /^recording failed: /);
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

Deno.test("RecordingSession fail closed: a recorder that stops acknowledging mid-output ends the session after ackTimeoutMs", async () => {
  const fake = new FakeUpload();
  const tap = await RecordingSession.start(
    options(["http://fake"], {
      fetch: fake.fetch,
      now: Date.now,
      limits: { ackTimeoutMs: 100, windowBytes: 64 * 1024 },
    }),
  );
  assert.ok(tap instanceof RecordingSession);
  tap.upgraded(PROTOCOL_V5);
  const s = drive(tap);
  // The recorder reads everything and acknowledges nothing (but keeps the
  // stream alive with idle lines, as a stuck recorder would).
  const idle = setInterval(() => fake.ack(fake.acked), 10);
  try {
    for (let i = 0; i < 4; i++) s.write(down(1, "x".repeat(30 * 1024)));
    await s.until(() => s.closed);
    assert.ok(!dec(s.received).includes("xxx"), "no unacknowledged output");
    const a = decodeAbort(s.received);
    assert.match(
      a.stderr,
      /the recording failed \(.*(stalled|no acknowledgement)/,
    );
    await tap.end("recording-failed");
  } finally {
    clearInterval(idle);
  }
});

Deno.test("RecordingSession fail closed: a throttled recorder slows the session and the recording completes", async () => {
  const rec = await startFakeRecorder({
    ackIntervalMs: 5,
    ackStepBytes: 32 * 1024,
  });
  try {
    const tap = await RecordingSession.start(
      options([rec.url], {
        now: Date.now,
        limits: { windowBytes: 64 * 1024, ackTimeoutMs: 2000 },
      }),
    );
    assert.ok(tap instanceof RecordingSession);
    tap.upgraded(PROTOCOL_V5);
    const s = drive(tap);
    const data = crypto.getRandomValues(new Uint8Array(16 * 1024));
    let maxAhead = 0;
    const total = 64;
    for (let i = 0; i < total; i++) {
      await s.write(down(1, data));
      const u = rec.uploads[0]!;
      maxAhead = Math.max(maxAhead, u.raw.length - u.acked);
    }
    await s.close();
    await s.reading;
    assert.equal(wsOutput(s.received).length, total * data.length);
    assert.ok(maxAhead <= 64 * 1024 + 32 * 1024, `in flight: ${maxAhead}`);
    await tap.end("upstream-gone");
    const u = await rec.until((u) => u.manifest !== undefined);
    assert.equal(u.complete, true);
    assert.equal(u.stdout.length, total * data.length);
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
    tap.upgraded(PROTOCOL_V5);
    const s = drive(tap);
    const half = down(1, "held until whole");
    await s.write(half.subarray(0, 4));
    await rec.kill();
    assert.match(await tap.broken, /acknowledgement stream/);
    assert.equal(tap.recording, false);
    await s.write(half.subarray(4));
    const more = down(1, "more");
    await s.write(more);
    await s.close();
    await s.reading;
    assert.deepEqual(s.received, cat(half, more));
    assert.equal(tap.abortedWith, undefined);
    await tap.end("normal");
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
    tap.upgraded(PROTOCOL_V5);
    const s = drive(tap);
    const ok = down(1, "fine");
    await s.write(ok);
    await s.until(() => s.receivedBytes === ok.length);
    s.write(down(7, "bad"));
    await s.until(() => s.closed);
    assert.match(tap.abortedWith!, /channel 7 is unknown at byte 7/);
    const a = decodeAbort(s.received.subarray(ok.length));
    assert.equal(a.closed, true);
    const u = await rec.until((u) => u.error !== undefined);
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
    await tap.end("upstream-gone", "the upstream connection broke");
    const u = await rec.until((u) => u.manifest !== undefined);
    assert.equal(u.complete, true);
    assert.equal(u.manifest!.detail, "the upstream connection broke");
    assert.equal(JSON.parse(dec(u.records[0]!.payload)).tty, false);
  } finally {
    await rec.close();
  }
});

Deno.test("RecordingSession ends a refused attempt with a manifest saying refused and what the upstream answered", async () => {
  const rec = await startFakeRecorder();
  try {
    const tap = await RecordingSession.start(options([rec.url]));
    await tap.end("refused", "the upstream answered 404", {
      status: 404,
      message: 'pods "nope" not found',
    });
    const u = await rec.until((u) => u.manifest !== undefined);
    assert.equal(u.manifest!.reason, "refused");
    assert.deepEqual(u.manifest!.upstream, {
      status: 404,
      message: 'pods "nope" not found',
    });
    assert.equal(u.manifest!.protocol, undefined);
  } finally {
    await rec.close();
  }
});

for (const enforce of [true, false]) {
  Deno.test(
    `RecordingSession whose recorder gives up midway ${
      enforce
        ? "ends the session with a stderr message and a failure Status"
        : "continues unrecorded with a warning"
    }`,
    async () => {
      const rec = await startFakeRecorder();
      try {
        const o = options([rec.url], { enforce });
        const tap = await RecordingSession.start(o);
        assert.ok(tap instanceof RecordingSession);
        tap.upgraded(PROTOCOL_V5);
        const s = drive(tap);
        const before = down(1, "before");
        await s.write(before);
        await s.until(() => s.receivedBytes === before.length);
        rec.giveUp("record 3: payload exceeds the limit");
        assert.match(await tap.broken, /record 3: payload exceeds the limit/);
        const after = down(1, "after");
        if (enforce) {
          s.write(after);
          await s.until(() => s.closed);
          const a = decodeAbort(s.received.subarray(before.length));
          assert.match(a.stderr, /the recording failed \(.*record 3: payload/);
          assert.equal(a.status.status, "Failure");
          assert.equal(a.closed, true);
        } else {
          await s.write(after);
          await s.close();
          await s.reading;
          assert.deepEqual(s.received, cat(before, after));
          assert.ok(
            o.logger.lines.some((l) =>
              l.level === "warn" && /continues unrecorded/.test(String(l.msg))
            ),
          );
        }
        await tap.end("normal");
      } finally {
        await rec.close();
      }
    },
  );
}

Deno.test("RecordingSession fails over mid-session: the next recorder gets the rest from the oldest unacknowledged record, the client sees every byte once", async () => {
  const a = await startFakeRecorder();
  const b = await startFakeRecorder();
  try {
    const o = options([a.url, b.url], {
      now: Date.now,
      limits: { ackTimeoutMs: 2000, windowBytes: 64 * 1024 },
    });
    const tap = await RecordingSession.start(o);
    assert.ok(tap instanceof RecordingSession);
    tap.upgraded(PROTOCOL_V5);
    const s = drive(tap);
    const first = down(1, "first part\n");
    await s.write(first);
    await s.until(() => s.receivedBytes >= first.length);
    await a.kill();
    const second = down(1, "second part\n");
    await s.write(second);
    await s.until(() => s.receivedBytes >= first.length + second.length);
    await s.close();
    await s.reading;
    assert.deepEqual(s.received, cat(first, second));
    assert.equal(tap.recorderUrl, b.url);
    await tap.end("upstream-gone");
    const part2 = await b.until((u) => u.manifest !== undefined);
    const head = JSON.parse(dec(part2.records[0]!.payload));
    assert.equal(head.continues.part, 2);
    assert.equal(head.continues.recorder, a.url);
    assert.equal(head.continues.recording, "fake/sess-42");
    // Part 1 up to the offset, then part 2 after its header: one stream.
    const whole = cat(
      a.uploads[0]!.raw.subarray(0, head.continues.offset),
      part2.raw.subarray(part2.records[1]?.offset ?? part2.raw.length),
    );
    const records = new RecordDecoder().push(whole);
    assert.equal(dec(outputOf(records)), "first part\nsecond part\n");
    const end = JSON.parse(dec(records.at(-1)!.payload));
    assert.equal(end.castBytes, records.at(-1)!.offset);
    assert.equal(part2.headers.get("x-execgate-part"), "2");
    assert.ok(o.logger.lines.some((l) => /failed over/.test(String(l.msg))));
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("RecordingSession fail closed: when no recorder takes the rest, the session ends saying failover found none", async () => {
  const a = await startFakeRecorder();
  try {
    const o = options([a.url, deadUrl()], {
      now: Date.now,
      limits: { ackTimeoutMs: 1000, connectTimeoutMs: 500 },
    });
    const tap = await RecordingSession.start(o);
    assert.ok(tap instanceof RecordingSession);
    tap.upgraded(PROTOCOL_V5);
    const s = drive(tap);
    await a.kill();
    await s.write(down(1, "never shown"));
    await s.until(() => s.closed);
    assert.ok(!dec(s.received).includes("never shown"));
    const abort = decodeAbort(s.received);
    assert.match(
      abort.stderr,
      /failover found no recorder to take the rest \(tried: http:\/\/127\.0\.0\.1:\d+ \(connection refused\)\)/,
    );
    await tap.end("recording-failed");
  } finally {
    await a.close();
  }
});
