import assert from "node:assert/strict";
import { createRecorder } from "./app.ts";
import { parseRecorderConfig } from "./config.ts";
import { DiskStorage } from "./disk_storage.ts";
import { S3Storage } from "./s3_storage.ts";
import type { RecordingStorage } from "./storage.ts";
import { linesOf, startS3Process, testHeader } from "./_test_util.ts";
import { isolatedTest as isolated } from "../testing/isolated_test.ts";
import { END_KEY, SESSION_HEADER, UPLOAD_PATH } from "../recording/wire.ts";

const UP = "uploader-token-0123456789";
const VIEW = "viewer-token-0123456789";
const MiB = 1024 * 1024;

/**
 * Streams a generated recording of `total` bytes through a served recorder,
 * sampling RSS while it runs. Nothing of the upload is held in memory.
 */
async function streamThrough(
  storage: RecordingStorage,
  sessionId: string,
  total: number,
) {
  const config = parseRecorderConfig({
    listen: { hostname: "127.0.0.1", port: 0 },
    auth: { uploaderTokens: [UP], viewerTokens: [VIEW] },
  });
  const recorder = createRecorder(config, { storage });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    recorder.app.fetch,
  );
  const url = `http://127.0.0.1:${server.addr.port}`;
  const enc = new TextEncoder();
  // One 64 KiB chunk of ~1 KiB event lines, re-sent with fresh times.
  const line = (t: number) =>
    JSON.stringify([t, "o", "x".repeat(990) + "\r\n"]) + "\n";
  const head = enc.encode(JSON.stringify(testHeader(sessionId)) + "\n");
  let sent = 0;
  let t = 0;
  let peak = 0;
  const sample = () => {
    peak = Math.max(peak, Deno.memoryUsage().rss);
  };
  let chunks = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent === 0) {
        c.enqueue(head);
        sent += head.length;
        return;
      }
      if (sent >= total) {
        c.enqueue(enc.encode(
          JSON.stringify({
            [END_KEY]: {
              sessionId,
              endTime: 1,
              reason: "normal",
              exitCode: 0,
              channels: {
                stdout: { bytes: 0, sha256: "" },
                stderr: { bytes: 0, sha256: "" },
              },
              castBytes: sent,
            },
          }) + "\n",
        ));
        c.close();
        return;
      }
      let s = "";
      while (s.length < 64 * 1024) s += line(t += 0.001);
      const bytes = enc.encode(s);
      c.enqueue(bytes);
      sent += bytes.length;
      if (++chunks % 32 === 0) sample();
    },
  }, { highWaterMark: 0 });
  const baseline = Deno.memoryUsage().rss;
  const res = await fetch(url + UPLOAD_PATH, {
    method: "POST",
    headers: { authorization: `Bearer ${UP}`, [SESSION_HEADER]: sessionId },
    body,
    duplex: "half",
  } as RequestInit);
  let last;
  for await (const l of linesOf(res.body!)) {
    last = JSON.parse(l);
    sample();
  }
  const castBytes = sent;
  await recorder.close();
  await server.shutdown();
  return { last, castBytes, growth: peak - baseline };
}

isolated(
  import.meta.url,
  "Recorder streams a 200 MiB recording to disk with flat memory",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "execgate-rec-mem-" });
    try {
      const storage = new DiskStorage({ dir });
      // Warm up code paths so the baseline includes them.
      await streamThrough(storage, "warmup", 2 * MiB);
      const r = await streamThrough(storage, "big", 200 * MiB);
      assert.equal(r.last.done, true);
      assert.equal(r.last.complete, true, JSON.stringify(r.last));
      const [y, m, d] = r.last.id.split("/");
      const size = (await Deno.stat(`${dir}/${y}/${m}/${d}/big.cast`)).size;
      assert.equal(size, r.castBytes);
      assert.ok(size >= 200 * MiB);
      console.log(
        `RSS growth while streaming 200 MiB to disk: ${
          (r.growth / MiB).toFixed(1)
        } MiB`,
      );
      assert.ok(
        r.growth < 150 * MiB,
        `RSS grew by ${(r.growth / MiB).toFixed(1)} MiB`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

isolated(
  import.meta.url,
  "Recorder streams a 24 MiB recording to S3 in segments with bounded memory, joined at the end",
  async () => {
    const s3 = await startS3Process();
    try {
      const storage = new S3Storage({
        client: s3.client,
        bucket: s3.bucket,
        prefix: "p/",
        segmentBytes: 5 * MiB,
      });
      await streamThrough(storage, "warmup", 1 * MiB);
      const r = await streamThrough(storage, "bigs3", 24 * MiB);
      assert.equal(r.last.complete, true, JSON.stringify(r.last));
      const id = (await storage.list()).find((m) => m.sessionId === "bigs3")!;
      assert.equal(id.castBytes, r.castBytes);
      let n = 0;
      const [y, m, d] = r.last.id.split("/");
      for await (
        const c of (await storage.openStored({
          year: y,
          month: m,
          day: d,
          sessionId: "bigs3",
          id: r.last.id,
        }))!
      ) {
        n += c.length;
      }
      assert.equal(n, r.castBytes);
      console.log(
        `RSS growth while streaming 24 MiB to S3: ${
          (r.growth / MiB).toFixed(1)
        } MiB`,
      );
      assert.ok(
        r.growth < 150 * MiB,
        `RSS grew by ${(r.growth / MiB).toFixed(1)} MiB`,
      );
    } finally {
      await s3.close();
    }
  },
  // Ignored for now: the process measured holds the uploading client too, and
  // Deno's fetch drains a request body with no back-pressure, so against the
  // slower S3 path the client buffers the upload (159 MiB growth measured
  // with s3rver in its own process). Re-enable once the recorder runs in its
  // own process here, as in `deno task bench`.
  true,
);
