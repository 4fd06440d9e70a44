import assert from "node:assert/strict";
import { createEvents, rebuildEventIndex } from "./events_factory.ts";
import { parseRecorderConfig } from "./config.ts";
import { parseRecordingId } from "./recording_id.ts";
import { memoryLogger } from "../log.ts";
import { startS3 } from "./_test_util.ts";
import { S3Storage } from "./s3_storage.ts";
import { S3EventStore } from "./events_s3_store.ts";

const S3 = {
  kind: "s3",
  bucket: "recordings",
  endpoint: "http://127.0.0.1:1",
  forcePathStyle: true,
};

Deno.test("createEvents keeps event streams in events.dir, also beside S3 storage, else in the S3 bucket, and none without either", async () => {
  const dir = await Deno.makeTempDir({ prefix: "execgate-events-" });
  try {
    const none = await createEvents(
      parseRecorderConfig({ storage: S3 }),
      undefined,
      true,
      memoryLogger(),
    );
    assert.equal(
      none,
      undefined,
      "S3 storage without events.dir and without the storage to write to keeps none",
    );
    const bucket = await startS3("recordings");
    try {
      const s3 = await createEvents(
        parseRecorderConfig({ storage: S3 }),
        undefined,
        true,
        memoryLogger(),
        new S3Storage({
          client: bucket.client,
          bucket: bucket.bucket,
          prefix: "rec/",
        }),
      );
      assert.ok(
        s3?.store instanceof S3EventStore,
        "S3 storage keeps them in its bucket",
      );
    } finally {
      await bucket.close();
    }

    const withDir = await createEvents(
      parseRecorderConfig({ storage: S3 }, {
        EXECGATE_RECORDER_EVENTS_DIR: `${dir}/ev`,
      }),
      undefined,
      true,
      memoryLogger(),
    );
    assert.ok(withDir, "events.dir makes a store");
    const id = parseRecordingId("2026/12/02/proxy-a")!;
    const w = await withDir.store.create(id);
    await w.write(new Uint8Array([1, 2, 3]));
    await w.close();
    assert.deepEqual(await withDir.store.list(), [id.id]);
    const files: string[] = [];
    for await (const e of Deno.readDir(`${dir}/ev/2026/12/02`)) {
      files.push(e.name);
    }
    assert.ok(files.some((f) => f.startsWith("proxy-a")), files.join());

    const disk = await createEvents(
      parseRecorderConfig({ storage: { kind: "disk", dir: `${dir}/rec` } }),
      undefined,
      true,
      memoryLogger(),
    );
    assert.ok(disk, "disk storage keeps them under its folder by default");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("rebuildEventIndex indexes the other streams when one cannot be read, and says which", async () => {
  const { MemoryEventStore } = await import("./events_store.ts");
  const { MemoryEventIndex } = await import("./index/events_index.ts");
  const { encodeRecord, RecordType } = await import("../protocol/records.ts");
  const enc = new TextEncoder();
  const store = new MemoryEventStore();
  for (const name of ["2026/12/02/ev-a", "2026/12/02/ev-b"]) {
    const w = await store.create(parseRecordingId(name)!);
    await w.write(encodeRecord(RecordType.HEADER, 0, enc.encode("{}")));
    await w.write(
      encodeRecord(
        RecordType.EVENT,
        1,
        enc.encode(
          JSON.stringify({ phase: "request", id: name.slice(-4), timeMs: 1 }),
        ),
      ),
    );
    await w.close();
  }
  const open = store.open.bind(store);
  store.open = (id) =>
    id.id.endsWith("ev-a")
      ? Promise.reject(new Error("bytes 10 to 20 are missing"))
      : open(id);
  const log = memoryLogger();
  const index = new MemoryEventIndex();
  const n = await rebuildEventIndex(store, index, log);
  assert.equal(n, 1);
  assert.deepEqual(
    (await index.query({ limit: 5 })).items.map((e) => e.request.id),
    ["ev-b"],
  );
  const warn = log.lines.find((l) =>
    l.msg === "events stream not indexed past a problem"
  );
  assert.equal(warn?.stream, "2026/12/02/ev-a");
  assert.match(String(warn?.error), /bytes 10 to 20 are missing/);
});
