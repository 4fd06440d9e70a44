import assert from "node:assert/strict";
import {
  genSha256,
  recordingsFromLog,
  verifyRecordings,
} from "./recordings.ts";
import type { RecordingManifest } from "../../src/recorder/mod.ts";

Deno.test("recordingsFromLog reads finished ids and failures from the proxy's JSON lines", () => {
  const text = [
    '{"level":"info","msg":"proxy listening"}',
    '{"level":"info","msg":"recording finished","id":"2026/11/27/a","complete":true}',
    "not json",
    '{"level":"error","msg":"recording did not finish cleanly","error":"no final acknowledgement within 10000 ms"}',
    '{"level":"info","msg":"recording finished","id":"2026/11/27/b","complete":false}',
  ].join("\n");
  assert.deepEqual(recordingsFromLog(text), {
    ids: ["2026/11/27/a", "2026/11/27/b"],
    failures: [
      "recording did not finish cleanly: no final acknowledgement within 10000 ms",
    ],
  });
});

Deno.test("verifyRecordings accepts only complete recordings with the generator's digest", async () => {
  const sha = await genSha256(3);
  assert.equal(
    sha,
    // printf xxx | sha256sum
    "cd2eb0837c9b4c962c22d2ff8b5441b7b45805887f051d39bf133b583baf6860",
  );
  const m = (status: string, bytes: number, sha256: string) =>
    ({
      id: `id-${status}-${bytes}`,
      status,
      end: { channels: { stdout: { bytes, sha256 } } },
    }) as unknown as RecordingManifest;
  const r = await verifyRecordings([
    m("complete", 3, sha),
    m("partial", 3, sha),
    m("complete", 2, sha),
    m("complete", 3, "0".repeat(64)),
  ], 3);
  assert.equal(r.found, 4);
  assert.equal(r.verified, 1);
  assert.equal(r.problems.length, 3);
});
