/**
 * S3 under load: 200 fail-closed sessions at once, recorded through the
 * product's upload (RecordingSession, raw HTTP/1.1, shared window budget)
 * into a real recorder on s3rver (a child process). Every session must end
 * with its output released and every recording complete with the digest of
 * what the client received.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { encodeWsFrame } from "../k8s/ws_frame.ts";
import { RecordingSession } from "../recording/recording_session.ts";
import { WindowBudget } from "../recording/window_budget.ts";
import { http1Fetch } from "../adapter/deno/http1_fetch.ts";
import { parseRecorderConfig } from "./config.ts";
import { nodeSha256, serveRecorder } from "./serve.ts";
import { parseRecordingId } from "./recording_id.ts";
import { startS3Process } from "./_test_util.ts";

const TOKEN = "u".repeat(24);
const SESSIONS = 200;
const BYTES = 64 * 1024;

function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

Deno.test("S3: 200 concurrent fail-closed sessions all complete, every recording verified", async () => {
  const s3 = await startS3Process();
  const served = await serveRecorder(parseRecorderConfig({
    listen: { hostname: "127.0.0.1", port: 0 },
    auth: { uploaderTokens: [TOKEN], viewerTokens: ["v".repeat(24)] },
    storage: {
      kind: "s3",
      bucket: s3.bucket,
      endpoint: s3.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      accessKeyId: "S3RVER",
      secretAccessKey: "S3RVER",
    },
  }));
  try {
    const upload = http1Fetch();
    const budget = new WindowBudget(16 * 1024 * 1024);
    const results = await Promise.all(
      Array.from({ length: SESSIONS }, async (_, i) => {
        const out = crypto.getRandomValues(new Uint8Array(BYTES));
        const tap = await RecordingSession.start({
          sessionId: `s3load-${i}`,
          identity: { hostname: "h", nodeId: "n", userId: "u", groups: [] },
          kubernetes: {
            podName: "p",
            namespace: "n",
            container: "c",
            sessionType: "exec",
          },
          argv: ["cat"],
          tty: false,
          proxyHostname: "test",
          recorderUrls: [served.url],
          enforce: true,
          uploaderToken: TOKEN,
          digest: nodeSha256,
          fetch: upload,
          limits: { budget },
          logger: { info() {}, warn() {}, error() {}, debug() {} } as never,
        }) as RecordingSession;
        tap.upgraded("v5.channel.k8s.io");
        const gate = tap.upstreamGate();
        const received: Uint8Array[] = [];
        const draining = (async () => {
          for await (const c of gate.readable) received.push(c);
        })();
        const w = gate.writable.getWriter();
        for (let off = 0; off < BYTES; off += 16 * 1024) {
          const payload = new Uint8Array(1 + 16 * 1024);
          payload[0] = 1; // stdout
          payload.set(out.subarray(off, off + 16 * 1024), 1);
          await w.write(encodeWsFrame({ opcode: 2, payload }));
        }
        await w.close();
        await draining;
        await tap.end("normal");
        return {
          aborted: tap.abortedWith,
          got: received.reduce((n, c) => n + c.length, 0),
          sha: sha256(out),
          sessionId: `s3load-${i}`,
        };
      }),
    );
    const frameBytes = encodeWsFrame({
      opcode: 2,
      payload: new Uint8Array(1 + 16 * 1024),
    }).length * (BYTES / (16 * 1024));
    for (const r of results) {
      assert.equal(r.aborted, undefined, `${r.sessionId}: ${r.aborted}`);
      assert.equal(r.got, frameBytes, `${r.sessionId} got ${r.got}`);
    }
    // Every recording: complete, stdout digest = what the client was sent.
    const storage = served.recorder.storage;
    const byId = new Map(
      (await storage.list()).map((m) => [m.sessionId, m]),
    );
    let verified = 0;
    for (const r of results) {
      const m = byId.get(r.sessionId);
      assert.ok(m, `${r.sessionId}: no recording`);
      assert.equal(m.status, "complete", `${r.sessionId}: ${m.partialReason}`);
      assert.equal(m.end?.channels.stdout.bytes, BYTES);
      assert.equal(m.end?.channels.stdout.sha256, r.sha);
      const stored = await storage.openStored(parseRecordingId(m.id)!);
      const bytes = new Uint8Array(await new Response(stored).arrayBuffer());
      assert.equal(bytes.length, m.castBytes);
      verified++;
    }
    assert.equal(verified, SESSIONS);
    assert.equal(served.recorder.ingestor.liveUploads, 0);
  } finally {
    await served.close();
    await s3.close();
  }
});
