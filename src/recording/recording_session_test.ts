import assert from "node:assert/strict";
import { PROTOCOL_V5 } from "../k8s/constants.ts";
import { exitCodeStatus } from "../k8s/status.ts";
import { WsChannelParser } from "../k8s/ws_channel_parser.ts";
import { encodeWsFrame, WsFrameParser } from "../k8s/ws_frame.ts";
import { memoryLogger } from "../log.ts";
import { startFakeRecorder } from "../testing/fake_recorder.ts";
import { RecordingRequiredError } from "./failure_policy.ts";
import { END_KEY, MAX_EVENT_LINE_BYTES } from "./wire.ts";
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
    assert.equal(header.width, 80);
    assert.equal(header.height, 24);
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
    assert.equal(header.protocol, undefined);
    const events = lines.slice(1);
    for (const e of events) assert.equal(e.length, 3);
    const times = events.map((e) => e[0] as number);
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
    assert.deepEqual(
      events.filter((e) => e[1] === "o").map((e) => e[2]).join(""),
      "$ price: € ok\r\nwarn\r\nfrag-mented\r\n",
    );
    assert.deepEqual(events.filter((e) => e[1] === "r").map((e) => e[2]), [
      "100x30",
      "120x40",
    ]);
    assert.ok(!u.cast!.includes("SECRET"), "stdin must never be recorded");

    const m = u.manifest!;
    assert.equal(m.reason, "normal");
    assert.equal(m.protocol, PROTOCOL_V5);
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
    await tap.end("upstream-gone", "the upstream connection broke");
    const u = await rec.until((u) => u.manifest !== undefined);
    assert.equal(u.complete, true);
    assert.equal(u.manifest!.detail, "the upstream connection broke");
    assert.equal(JSON.parse(u.cast!.split("\n")[0]!).tty, false);
  } finally {
    await rec.close();
  }
});

Deno.test("RecordingSession.start resolves only once the recorder acknowledged the whole header", async () => {
  const rec = await startFakeRecorder();
  try {
    const argv = [
      "sh",
      "-c",
      `echo '"quoted"' \u0001\u001b[31m ${"x".repeat(15 * 1024)}`,
    ];
    const tap = await RecordingSession.start(options([rec.url], { argv }));
    assert.ok(tap instanceof RecordingSession);
    // Nothing was sent upstream yet; the recorder has the header already.
    const u = rec.uploads[0]!;
    const text = new TextDecoder().decode(u.raw);
    assert.ok(text.endsWith("\n"), "the header line is complete");
    const header = JSON.parse(text);
    assert.deepEqual(header.argv, argv);
    assert.equal(header.tty, true);
    assert.equal(header.width, 80);
    assert.equal(header.height, 24);
    assert.deepEqual(header.kubernetes, {
      podName: "web-0",
      namespace: "prod",
      container: "app",
      sessionType: "exec",
    });
    await tap.end("normal");
  } finally {
    await rec.close();
  }
});

for (const enforce of [true, false]) {
  Deno.test(
    `RecordingSession.start with a recorder that refuses the header ${
      enforce ? "fails closed" : "fails open"
    }`,
    async () => {
      const refusal =
        "line 1: header width is 0, expected an integer from 1 to 10000";
      const rec = await startFakeRecorder({ refuseHeader: refusal });
      try {
        const o = options([rec.url], { enforce });
        const result = await RecordingSession.start(o).then(
          (tap) => tap,
          (e: Error) => e,
        );
        if (enforce) {
          assert.ok(result instanceof RecordingRequiredError);
          assert.ok(result.message.includes(refusal), result.message);
          assert.equal(result.tried[0]!.url, rec.url);
        } else {
          assert.ok(result instanceof UnrecordedTap);
          assert.match(
            String(o.logger.lines.at(-1)!.reason),
            /header width is 0/,
          );
        }
        const u = await rec.upload();
        await u.ended;
        // Nothing but the header was ever sent.
        assert.equal(new TextDecoder().decode(u.raw).split("\n")[1], "");
        assert.equal(rec.uploads.length, 1);
      } finally {
        await rec.close();
      }
    },
  );
}

Deno.test("RecordingSession.start skips a recorder that refuses the header for the next one", async () => {
  const bad = await startFakeRecorder({ refuseHeader: "line 1: nope" });
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

for (
  const [first, expected] of [
    ['{"Width":0,"Height":0}\n', ["r", "0x0"]],
    ['{"Width":20000,"Height":5}', ["r", "20000x5"]],
    ['{"Width":65535,"Height":65535}', ["r", "65535x65535"]],
    ['{"Width":70000,"Height":3}', ["r", "70000x3"]],
    ['{"width":3,"height":4}', ["r", "3x4"]],
    ["{not json", [
      "m",
      /^resize message is not a terminal size \(not JSON\): "\{not json"$/,
    ]],
    ['{"Width":-1,"Height":2}', ["m", /not both non-negative integers/]],
    ['{"Width":1.5,"Height":2}', ["m", /not both non-negative integers/]],
    ["[1,2]", ["m", /not a JSON object/]],
    ["\u0000\u001b", ["m", /not JSON/]],
    [`{"Width":1,"Height":1,"x":"${"y".repeat(5000)}"}`, [
      "m",
      /^resize message is not a terminal size \(5\d+ bytes, the first 4096 shown\): "\{/,
    ]],
  ] as const
) {
  Deno.test(
    `RecordingSession records a first resize ${
      JSON.stringify(first.slice(0, 40))
    } as sent and keeps recording`,
    async () => {
      const rec = await startFakeRecorder();
      try {
        const tap = await RecordingSession.start(options([rec.url]));
        assert.ok(tap instanceof RecordingSession);
        const r = relay(tap);
        tap.upgraded(PROTOCOL_V5);
        tap.fromClient(up(4, first));
        const out = down(1, "after");
        assert.deepEqual(await tap.fromUpstream(out), out);
        tap.fromClient(up(4, '{"Width":100,"Height":30}'));
        await tap.end("normal");
        assert.equal(r.aborted, undefined);
        assert.equal(tap.recording, false);
        const u = await rec.until((u) => u.manifest !== undefined);
        assert.equal(u.complete, true);
        const events = u.cast!.trimEnd().split("\n").slice(1).map((l) =>
          JSON.parse(l)
        );
        assert.equal(events[0][1], expected[0]);
        if (typeof expected[1] === "string") {
          assert.equal(events[0][2], expected[1]);
        } else assert.match(events[0][2], expected[1]);
        assert.deepEqual(events.slice(1).map((e) => [e[1], e[2]]), [
          ["o", "after"],
          ["r", "100x30"],
        ]);
      } finally {
        await rec.close();
      }
    },
  );
}

/** Fixed-seed random bytes (mulberry32). */
function randomBytes(n: number, seed: number): Uint8Array {
  let a = seed;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out[i] = ((t ^ (t >>> 14)) >>> 0) & 255;
  }
  return out;
}

for (
  const [name, payload] of [
    [
      "a 300,000-byte frame of control characters",
      new Uint8Array(300_000).map((_, i) => i % 32),
    ],
    ["5 MiB of random bytes", randomBytes(5 * 1024 * 1024, 42)],
  ] as const
) {
  Deno.test(`RecordingSession records ${name} in lines under the limit that decode to the output`, async () => {
    const rec = await startFakeRecorder();
    try {
      const tap = await RecordingSession.start(options([rec.url]));
      assert.ok(tap instanceof RecordingSession);
      tap.upgraded(PROTOCOL_V5);
      const frame = down(1, payload);
      assert.equal((await tap.fromUpstream(frame)).length, frame.length);
      await tap.end("normal");
      const u = await rec.until((u) => u.manifest !== undefined);
      assert.equal(u.complete, true);
      let text = "";
      let start = 0;
      while (start < u.raw.length) {
        const nl = u.raw.indexOf(10, start);
        assert.ok(nl - start + 1 <= MAX_EVENT_LINE_BYTES, `line at ${start}`);
        const v = JSON.parse(
          new TextDecoder().decode(u.raw.subarray(start, nl)),
        );
        if (Array.isArray(v) && v[1] === "o") text += v[2];
        start = nl + 1;
      }
      assert.equal(text, new TextDecoder().decode(payload));
      assert.equal(u.manifest!.channels.stdout.bytes, payload.length);
    } finally {
      await rec.close();
    }
  });
}

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
    assert.ok(!u.cast!.includes(END_KEY));
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
        const r = relay(tap);
        tap.upgraded(PROTOCOL_V5);
        const before = down(1, "before");
        assert.deepEqual(await tap.fromUpstream(before), before);
        rec.giveUp("line 3: line is longer than the limit of 1048576 bytes");
        assert.match(await tap.broken, /line 3: line is longer than the limit/);
        const after = down(1, "after");
        if (enforce) {
          await r.abortedSignal.promise;
          const a = decodeAbort(r.aborted!.toClient);
          assert.match(
            a.stderr,
            /the recording failed \(.*line 3: line is longer/,
          );
          assert.equal(a.status.status, "Failure");
          assert.equal(a.closed, true);
          assert.equal((await tap.fromUpstream(after)).length, 0);
        } else {
          assert.equal(r.aborted, undefined);
          assert.deepEqual(await tap.fromUpstream(after), after);
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
