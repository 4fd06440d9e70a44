import assert from "node:assert/strict";
import { reindexRecorder } from "./serve.ts";
import { parseRecorderConfig } from "./config.ts";
import { DiskEventStore } from "./events_disk_store.ts";
import { parseRecordingId } from "./recording_id.ts";
import { encodeRecord, RecordType } from "../protocol/records.ts";

const enc = new TextEncoder();

Deno.test("reindexRecorder (execgate recorder reindex) also puts the stored API event streams into the index", async () => {
  const dir = await Deno.makeTempDir({ prefix: "execgate-reindex-" });
  try {
    const store = new DiskEventStore({ dir: `${dir}/events` });
    const w = await store.create(parseRecordingId("2026/12/02/proxy-a")!);
    await w.write(encodeRecord(RecordType.HEADER, 0, enc.encode("{}")));
    for (const id of ["e1", "e2"]) {
      await w.write(encodeRecord(
        RecordType.EVENT,
        1,
        enc.encode(JSON.stringify({
          phase: "request",
          id,
          timeMs: 1_790_000_000_000,
          caller: {
            srcNode: "n",
            srcNodeID: "i",
            srcNodeUser: "bob@example.com",
          },
          verb: "get",
          resource: "pods",
          namespace: "default",
        })),
      ));
    }
    await w.close();
    const config = parseRecorderConfig({
      storage: { kind: "disk", dir },
      auth: { viewerTokens: ["v".repeat(16)] },
    });
    const out = await reindexRecorder(config);
    assert.match(out, /"events":2/, out);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
