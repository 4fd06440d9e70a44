/**
 * Two recorder replicas over one S3 bucket (s3rver) and one PostgreSQL
 * index: a session uploaded to either is listed, searchable and playable
 * from both; a replica killed mid-upload (SIGKILL, a real process) leaves a
 * recording the survivor recovers as partial, with what was uploaded.
 */
import assert from "node:assert/strict";
import { startS3Process } from "../src/recorder/_test_util.ts";
import { startPostgres } from "../src/testing/postgres_server.ts";
import { parseRecorderConfig } from "../src/recorder/config.ts";
import { serveRecorder } from "../src/recorder/serve.ts";
import { buildSession, uploadRecords } from "../src/recorder/_test_records.ts";
import {
  RECORDS_CONTENT_TYPE,
  RECORDS_UPLOAD_PATH,
} from "../src/protocol/records.ts";
import { SESSION_HEADER } from "../src/recording/wire.ts";
import { spawnRecorderProcess } from "./_recorder.ts";
import { runVerify } from "../src/recorder/integrity/verify_command.ts";

const UP = "uploader-token-0123456789";
const VIEW = "viewer-token-0123456789";
const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "recorder replicas share one S3 bucket and one PostgreSQL index",
  opts,
  async () => {
    const s3 = await startS3Process();
    const pg = await startPostgres();
    const dir = await Deno.makeTempDir();
    const raw = {
      listen: { hostname: "127.0.0.1", port: 0 },
      auth: { uploaderTokens: [UP], viewerTokens: [VIEW] },
      storage: {
        kind: "s3",
        bucket: s3.bucket,
        endpoint: s3.endpoint,
        region: "us-east-1",
        forcePathStyle: true,
        accessKeyId: "S3RVER",
        secretAccessKey: "S3RVER",
        flushIntervalMs: 100,
        staleAfterMs: 1000,
      },
      index: { kind: "postgres", url: pg.url },
      ackIntervalMs: 50,
    };
    // Replica A: a real process, to be killed.
    const file = `${dir}/recorder.json`;
    await Deno.writeTextFile(file, JSON.stringify(raw));
    const { child: a, url: aUrl } = await spawnRecorderProcess(file);
    const b = await serveRecorder(parseRecorderConfig(raw));
    const list = async (url: string, q = "") => {
      const res = await fetch(`${url}/v1/recordings?${q}`, {
        headers: { authorization: `Bearer ${VIEW}` },
      });
      assert.equal(res.status, 200);
      return ((await res.json()).items as {
        id: string;
        sessionId: string;
        status: string;
      }[]);
    };
    try {
      // One session to each replica.
      for (const [url, sid] of [[aUrl, "via-a"], [b.url, "via-b"]]) {
        const built = buildSession({
          sessionId: sid!,
          tty: false,
          steps: [{ at: 5, out: 1, data: `printed ${sid}\r\n` }],
          endAt: 10,
        });
        const r = await uploadRecords(url!, UP, sid!, built.records);
        assert.equal(r.status, 200);
        assert.equal(r.acks.at(-1)?.complete, true);
      }
      await b.recorder.indexer.idle();
      // Both replicas list both, find each by its text, and play both.
      for (const url of [aUrl, b.url]) {
        for (;;) {
          const found = (await list(url, "q=printed%20via-a")).map((m) =>
            m.sessionId
          );
          if (found.length === 1) break; // A derives its text in the background
          await new Promise((r) => setTimeout(r, 20));
        }
        const all = await list(url);
        assert.deepEqual(all.map((m) => `${m.sessionId}:${m.status}`).sort(), [
          "via-a:complete",
          "via-b:complete",
        ]);
        for (const m of all) {
          const cast = await fetch(`${url}/v1/recordings/${m.id}/cast`, {
            headers: { authorization: `Bearer ${VIEW}` },
          });
          assert.equal(cast.status, 200);
          assert.match(await cast.text(), new RegExp(`printed ${m.sessionId}`));
        }
      }
      // A live upload on A, then A is killed.
      const built = buildSession({
        sessionId: "cut",
        tty: false,
        steps: [{ at: 5, out: 1, data: "before the crash\r\n" }],
        endAt: 10,
      });
      let push!: ReadableStreamDefaultController<Uint8Array>;
      const body = new ReadableStream<Uint8Array>({ start: (c) => push = c });
      const res = await fetch(aUrl + RECORDS_UPLOAD_PATH, {
        method: "POST",
        headers: {
          "content-type": RECORDS_CONTENT_TYPE,
          authorization: `Bearer ${UP}`,
          [SESSION_HEADER]: "cut",
        },
        body,
        duplex: "half",
      } as RequestInit);
      push.enqueue(built.beforeEnd);
      // Wait until A acknowledged every byte, and stored them (a segment).
      const acks = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      for (;;) {
        const r = await acks.read();
        if (r.done) break;
        text += r.value;
        const stored = [...text.matchAll(/"stored":(\d+)/g)].map((m) =>
          Number(m[1])
        );
        if (stored.some((n) => n === built.beforeEnd.length)) break;
      }
      assert.deepEqual(
        (await list(b.url)).find((m) => m.sessionId === "cut")?.status,
        "recording",
      );
      a.kill("SIGKILL");
      await a.status;
      acks.cancel().catch(() => {});
      // The survivor sees it stale and recovers it as partial.
      let cut;
      for (;;) {
        cut = (await list(b.url)).find((m) => m.sessionId === "cut");
        if (cut?.status === "partial") break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const man = await (await fetch(`${b.url}/v1/recordings/${cut.id}`, {
        headers: { authorization: `Bearer ${VIEW}` },
      })).json();
      assert.equal(man.status, "partial");
      assert.ok(man.finishedAt, "recovered: finalised by the survivor");
      // Sealed by the survivor's sweep (chain only: no signing key here).
      const v = await runVerify([`s3://${s3.bucket}/${cut.id}`], {
        EXECGATE_RECORDER_S3_ENDPOINT: s3.endpoint,
        EXECGATE_RECORDER_S3_FORCE_PATH_STYLE: "true",
        EXECGATE_RECORDER_S3_REGION: "us-east-1",
        AWS_ACCESS_KEY_ID: "S3RVER",
        AWS_SECRET_ACCESS_KEY: "S3RVER",
      });
      assert.equal(v.exitCode, 0, v.output);
      assert.match(v.output, /WARN partial: .*recovered from its segments/);
      assert.match(v.output, /OK evidence: \d+ bytes match the chain/);
      assert.match(v.output, /WARN not signed/);
      const cast = await (await fetch(`${b.url}/v1/recordings/${cut.id}/cast`, {
        headers: { authorization: `Bearer ${VIEW}` },
      })).text();
      assert.match(cast, /before the crash/);
    } finally {
      try {
        a.kill("SIGKILL");
      } catch { /* gone */ }
      await b.close();
      await pg.close();
      await s3.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
