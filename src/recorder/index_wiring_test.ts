/**
 * The recorder with its default index (a SQLite file beside disk storage):
 * live uploads are listed as they start, finished ones updated, their text
 * searchable once derived; a damaged index file is rebuilt from storage
 * with a log line; retention deletes old recordings from both.
 */
import assert from "node:assert/strict";
import { memoryLogger } from "../log.ts";
import { parseRecorderConfig } from "./config.ts";
import { serveRecorder } from "./serve.ts";
import { buildSession, START_MS, uploadRecords } from "./_test_records.ts";
import {
  RECORDS_CONTENT_TYPE,
  RECORDS_UPLOAD_PATH,
} from "../protocol/records.ts";
import { SESSION_HEADER } from "../recording/wire.ts";
import { filesUnder } from "./_test_util.ts";

const UP = "uploader-token-0123456789";
const VIEW = "viewer-token-0123456789";

function config(dir: string, over: Record<string, unknown> = {}) {
  return parseRecorderConfig({
    listen: { hostname: "127.0.0.1", port: 0 },
    auth: { uploaderTokens: [UP], viewerTokens: [VIEW] },
    storage: { kind: "disk", dir },
    ...over,
  });
}

async function list(url: string, query: string) {
  const res = await fetch(`${url}/v1/recordings?${query}`, {
    headers: { authorization: `Bearer ${VIEW}` },
  });
  assert.equal(res.status, 200);
  const page = await res.json() as {
    items: { sessionId: string; status: string }[];
  };
  return page.items.map((m) => `${m.sessionId}:${m.status}`);
}

Deno.test("Recorder with its SQLite index lists a live upload at once, then the finished one, and finds its text", async () => {
  const dir = await Deno.makeTempDir();
  const served = await serveRecorder(config(dir));
  try {
    assert.equal(served.recorder.index?.describe.startsWith("sqlite"), true);
    const built = buildSession({
      sessionId: "live-1",
      tty: false,
      steps: [{ at: 5, out: 1, data: "needle in the output\r\n" }],
      endAt: 10,
    });
    // Live: the header only, the body kept open.
    let push!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({ start: (c) => push = c });
    const res = fetch(served.url + RECORDS_UPLOAD_PATH, {
      method: "POST",
      headers: {
        "content-type": RECORDS_CONTENT_TYPE,
        authorization: `Bearer ${UP}`,
        [SESSION_HEADER]: "live-1",
      },
      body,
      duplex: "half",
    } as RequestInit);
    push.enqueue(built.beforeEnd);
    // Listed as recording as soon as its header is stored.
    for (;;) {
      const got = await list(served.url, "");
      if (got.length > 0) {
        assert.deepEqual(got, ["live-1:recording"]);
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    push.enqueue(built.endRecord);
    push.close();
    await (await res).text();
    await served.recorder.indexer.idle();
    // Finished: complete, and its text is searchable.
    for (;;) {
      const got = await list(served.url, "q=NEEDLE");
      if (got[0] === "live-1:complete") break;
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(await list(served.url, "status=recording"), []);
    assert.deepEqual(await list(served.url, "q=haystack"), []);
  } finally {
    await served.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Recorder rebuilds a damaged index file from storage, saying so in its log", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let served = await serveRecorder(config(dir));
    for (const sid of ["a-1", "b-2"]) {
      const built = buildSession({
        sessionId: sid,
        tty: false,
        steps: [{ at: 5, out: 1, data: `output of ${sid}\r\n` }],
        endAt: 10,
      });
      assert.equal(
        (await uploadRecords(served.url, UP, sid, built.records)).status,
        200,
      );
    }
    await served.recorder.indexer.idle();
    await served.close();
    await Deno.writeTextFile(`${dir}/index.sqlite`, "garbage ".repeat(100));
    await Deno.remove(`${dir}/index.sqlite-wal`).catch(() => {});
    await Deno.remove(`${dir}/index.sqlite-shm`).catch(() => {});
    const log = memoryLogger();
    served = await serveRecorder(config(dir), { logger: log });
    try {
      assert.ok(
        log.lines.some((l) =>
          l.msg ===
            "index file was damaged: moved aside and rebuilt from storage"
        ),
        JSON.stringify(log.lines),
      );
      assert.deepEqual((await list(served.url, "")).sort(), [
        "a-1:complete",
        "b-2:complete",
      ]);
      assert.deepEqual(await list(served.url, "q=output%20of%20b"), [
        "b-2:complete",
      ]);
    } finally {
      await served.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Recorder retention deletes recordings older than retention.days from storage and index, logging each", async () => {
  const dir = await Deno.makeTempDir();
  // Sessions start at START_MS; the clock is 40 days later.
  const now = () => START_MS + 40 * 86_400_000;
  const log = memoryLogger();
  const served = await serveRecorder(
    config(dir, { retention: { days: 30 } }),
    { logger: log, now },
  );
  try {
    const built = buildSession({
      sessionId: "old-1",
      tty: false,
      steps: [{ at: 5, out: 1, data: "old\r\n" }],
      endAt: 10,
    });
    assert.equal(
      (await uploadRecords(served.url, UP, "old-1", built.records)).status,
      200,
    );
    assert.deepEqual(await list(served.url, ""), ["old-1:complete"]);
    assert.equal(await served.recorder.applyRetention(), 1);
    assert.deepEqual(await list(served.url, ""), []);
    const deleted = log.lines.filter((l) =>
      l.msg === "recording deleted by retention"
    );
    assert.equal(deleted.length, 1);
    assert.match(String(deleted[0]!.recordingId), /\/old-1$/);
    // Nothing of it is left on disk (only the index file).
    assert.deepEqual(await filesUnder(dir), []);
  } finally {
    await served.close();
    await Deno.remove(dir, { recursive: true });
  }
});
