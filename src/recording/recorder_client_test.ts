import assert from "node:assert/strict";
import {
  encodeRecord,
  encodeRecordHeader,
  RecordType,
} from "../protocol/records.ts";
import { startFakeRecorder } from "../testing/fake_recorder.ts";
import {
  openRecorderUpload,
  RecorderProgress,
  RecorderUnavailableError,
  RecordingFailedError,
} from "./recorder_client.ts";

const enc = (s: string) => new TextEncoder().encode(s);

/** A port on 127.0.0.1 where nothing listens. */
function deadUrl(): string {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return `http://127.0.0.1:${port}`;
}

Deno.test("openRecorderUpload streams the body and returns the final ack", async () => {
  const rec = await startFakeRecorder();
  try {
    const up = await openRecorderUpload({
      urls: [rec.url],
      sessionId: "s-1",
      token: "test-token",
    });
    const fake = await rec.upload();
    assert.equal(fake.headers.get("authorization"), "Bearer test-token");
    assert.equal(
      fake.headers.get("content-type"),
      "application/x-execgate-records",
    );
    const header = encodeRecord(RecordType.HEADER, 1, enc('{"version":2}'));
    up.push([header]);
    up.push([encodeRecordHeader(RecordType.STDOUT, 5, 2), enc("hi")]);
    const total = header.length + 15;
    // Acks arrive while the upload is open.
    await rec.until((u) => u.acked === total);
    const ack = await up.finish();
    assert.equal(ack.done, true);
    assert.equal(ack.ack, total);
    assert.equal(ack.id, "fake/s-1");
    await fake.ended;
    assert.equal(fake.formatError, undefined);
    assert.deepEqual(fake.records.map((r) => r.type), [1, 2]);
    assert.equal(new TextDecoder().decode(fake.stdout), "hi");
    assert.equal(up.writtenBytes, total);
  } finally {
    await rec.close();
  }
});

Deno.test("openRecorderUpload says which recorders it tried and why", async () => {
  const dead = deadUrl();
  const wrongToken = await startFakeRecorder({ token: "other" });
  try {
    const err = await openRecorderUpload({
      urls: [dead, wrongToken.url],
      sessionId: "s-2",
      token: "test-token",
    }).then(() => undefined, (e) => e);
    assert.ok(err instanceof RecorderUnavailableError);
    assert.deepEqual(err.tried, [
      { url: dead, reason: "connection refused" },
      { url: wrongToken.url, reason: "401" },
    ]);
    assert.equal(
      err.message,
      `No recorder accepted the upload (tried: ${dead} (connection refused), ${wrongToken.url} (401))`,
    );
    const none = await openRecorderUpload({ urls: [], sessionId: "s" }).then(
      () => undefined,
      (e) => e,
    );
    assert.match(none.message, /tried: no recorder configured/);
  } finally {
    await wrongToken.close();
  }
});

Deno.test("openRecorderUpload uses the second recorder when the first is down", async () => {
  const rec = await startFakeRecorder();
  try {
    const up = await openRecorderUpload({
      urls: [deadUrl(), rec.url],
      sessionId: "s-3",
      token: "test-token",
    });
    assert.equal(up.url, rec.url);
    await up.write(enc("x\n"));
    await up.finish();
    assert.equal(rec.uploads.length, 1);
  } finally {
    await rec.close();
  }
});

Deno.test("openRecorderUpload gives up on a recorder that does not answer in time", async () => {
  // Accepts TCP connections but never answers.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of silent) conns.push(c);
  })();
  const url = `http://127.0.0.1:${(silent.addr as Deno.NetAddr).port}`;
  try {
    const err = await openRecorderUpload({
      urls: [url],
      sessionId: "s-4",
      connectTimeoutMs: 100,
    }).then(() => undefined, (e) => e);
    assert.ok(err instanceof RecorderUnavailableError);
    assert.equal(err.tried[0]?.reason, "no answer within 100 ms");
  } finally {
    silent.close();
    for (const c of conns) c.close();
    await accepting.catch(() => {});
  }
});

Deno.test("openRecorderUpload refuses an invalid session id", async () => {
  await assert.rejects(
    openRecorderUpload({ urls: ["http://x"], sessionId: "a/b" }),
    /session id "a\/b" does not match/,
  );
});

Deno.test("RecorderUpload fails when the recorder stops acknowledging", async () => {
  const rec = await startFakeRecorder({ ackIntervalMs: 20 });
  try {
    const up = await openRecorderUpload({
      urls: [rec.url],
      sessionId: "s-5",
      token: "test-token",
      ackTimeoutMs: 150,
    });
    await rec.upload();
    rec.stall();
    const err = await up.failure;
    assert.match(err.message, /no acknowledgement for 150 ms/);
    await assert.rejects(up.write(enc("x")), RecordingFailedError);
    await assert.rejects(up.finish(), RecordingFailedError);
  } finally {
    await rec.close();
  }
});

Deno.test("RecorderUpload fails when the recorder dies", async () => {
  const rec = await startFakeRecorder();
  try {
    const up = await openRecorderUpload({
      urls: [rec.url],
      sessionId: "s-6",
      token: "test-token",
    });
    await up.write(enc("abc\n"));
    await rec.until((u) => u.raw.length === 4);
    await rec.kill();
    const err = await up.failure;
    assert.match(
      err.message,
      /Recording to http:\/\/127\.0\.0\.1:\d+ failed: the (acknowledgement stream broke|recorder closed the acknowledgement stream early)/,
    );
  } finally {
    await rec.close();
  }
});

Deno.test("RecorderUpload bounds its queue and fails when acked bytes stop progressing", async () => {
  const rec = await startFakeRecorder({ ackIntervalMs: 20 });
  try {
    const max = 64 * 1024;
    const up = await openRecorderUpload({
      urls: [rec.url],
      sessionId: "s-7",
      token: "test-token",
      ackTimeoutMs: 300,
      maxQueueBytes: max,
    });
    await rec.upload();
    rec.stallReading();
    const chunk = new Uint8Array(16 * 1024);
    let peak = 0;
    let error: unknown;
    // Write until a write fails: writes wait while unacknowledged bytes are
    // over the bound, so they never grow past one chunk over it (fetch
    // itself would buffer without limit).
    while (error === undefined) {
      await up.write(chunk).catch((e) => error = e);
      peak = Math.max(peak, up.queuedBytes);
    }
    assert.ok(peak <= max + chunk.length, `queue peaked at ${peak}`);
    assert.ok(error instanceof RecordingFailedError);
    assert.match(
      error.message,
      /acknowledged bytes stalled at \d+ of \d+ for 300 ms/,
    );
  } finally {
    await rec.close();
  }
});

Deno.test("RecorderUpload.cancel drops the upload and the recorder sees a broken body", async () => {
  const rec = await startFakeRecorder();
  try {
    const up = await openRecorderUpload({
      urls: [rec.url],
      sessionId: "s-8",
      token: "test-token",
    });
    await up.write(enc("abc\n"));
    const fake = await rec.until((u) => u.raw.length === 4);
    up.cancel("test");
    await fake.ended;
    assert.equal(fake.complete, false);
    assert.ok(fake.error !== undefined);
    assert.match((await up.failure).message, /cancelled: test/);
  } finally {
    await rec.close();
  }
});

/** Runs `step` every 30 ms until the upload fails; its error. */
async function advanceUntilFailed(
  up: { failure: Promise<RecordingFailedError> },
  step: () => void,
): Promise<RecordingFailedError> {
  let err: RecordingFailedError | undefined;
  up.failure.then((e) => err = e);
  while (err === undefined) {
    step();
    await new Promise((r) => setTimeout(r, 30));
  }
  return err;
}

Deno.test("RecorderUpload: one silent upload is slow, not failed, while its recorder serves others, up to ackTimeoutMs × stallFactor", async () => {
  const rec = await startFakeRecorder({ ackIntervalMs: 20 });
  let t = 1_000_000;
  const progress = new RecorderProgress();
  try {
    const up = await openRecorderUpload({
      urls: [rec.url],
      sessionId: "s-slow",
      token: "test-token",
      ackTimeoutMs: 100,
      stallFactor: 2,
      now: () => t,
      progress,
    });
    await rec.upload();
    rec.stall();
    let failed: RecordingFailedError | undefined;
    up.failure.then((e) => failed = e);
    // Silent 150 ms (over ackTimeoutMs), but the recorder acknowledged
    // another session 5 ms ago: the watchdog (every 25 ms) lets it be.
    t += 150;
    progress.advance(rec.url, t - 5);
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(failed, undefined);
    // Silent past 2 × 100 ms (time moves on until the watchdog sees it: an
    // ack in flight when the fake stalled may still arrive): failed, saying
    // the recorder served others.
    const err = await advanceUntilFailed(up, () => {
      t += 1000;
      progress.advance(rec.url, t - 5);
    });
    assert.match(
      err.message,
      /no acknowledgement for 200 ms while the recorder served other sessions/,
    );
  } finally {
    await rec.close();
  }
});

Deno.test("RecorderUpload: a recorder silent to every upload fails them after ackTimeoutMs", async () => {
  const rec = await startFakeRecorder({ ackIntervalMs: 20 });
  let t = 1_000_000;
  const progress = new RecorderProgress();
  try {
    const up = await openRecorderUpload({
      urls: [rec.url],
      sessionId: "s-dead",
      token: "test-token",
      ackTimeoutMs: 100,
      now: () => t,
      progress,
    });
    await rec.upload();
    rec.stall();
    // The recorder's last line to anyone was this upload's own.
    const err = await advanceUntilFailed(up, () => t += 1000);
    assert.match(err.message, /no acknowledgement for 100 ms$/);
  } finally {
    await rec.close();
  }
});

Deno.test("openRecorderUpload waits longer for a header while the recorder answers other uploads, up to connectTimeoutMs × stallFactor", async () => {
  const rec = await startFakeRecorder({ ackIntervalMs: 20 });
  rec.stall(); // this upload's header is never acknowledged
  let t = 1_000_000;
  const progress = new RecorderProgress();
  // Other uploads of the same recorder: a line every 10 ms of fake time.
  const others = setInterval(() => {
    t += 10;
    progress.line(rec.url, t);
  }, 5);
  try {
    const err = await openRecorderUpload({
      urls: [rec.url],
      sessionId: "s-busy",
      token: "test-token",
      header: [encodeRecord(RecordType.HEADER, 1, enc('{"version":2}'))],
      connectTimeoutMs: 50,
      stallFactor: 3,
      now: () => t,
      progress,
    }).then(() => undefined, (e) => e);
    assert.ok(err instanceof RecorderUnavailableError);
    // Not given up at 50 ms: waited until the 150 ms cap.
    const waited = Number(
      /the header was not acknowledged within (\d+) ms/.exec(err.message)
        ?.[1],
    );
    assert.ok(waited >= 150, err.message);
  } finally {
    clearInterval(others);
    await rec.close();
  }
});
