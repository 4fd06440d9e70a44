import assert from "node:assert/strict";
import { memoryLogger } from "../../log.ts";
import { DiskStorage } from "../disk_storage.ts";
import { makeRecordingId, parseRecordingId } from "../recording_id.ts";
import type { RecordingManifest } from "../storage.ts";
import { reindex } from "./reindex.ts";
import { ScanIndex } from "./scan_index.ts";
import { SqliteIndex } from "./sqlite_index.ts";
import { assertSamePages, CASES, QUERIES } from "./_test_cases.ts";

const enc = new TextEncoder();

Deno.test("reindex rebuilds a SqliteIndex from a DiskStorage (manifests and texts) that answers like ScanIndex", async () => {
  const dir = await Deno.makeTempDir({ prefix: "execgate-reindex-" });
  const storage = new DiskStorage({ dir });
  const index = new SqliteIndex(":memory:");
  try {
    // Eight recordings of the table: finished ones with their text, a live
    // one (still recording) and a finished one whose text is not derived yet.
    const picked = CASES.filter((_, i) => i % 4 === 0);
    const writers = [];
    for (const c of picked) {
      const m = c.manifest;
      const day = new Date(Date.UTC(2026, 10, Number(m.id.slice(8, 10)), 12));
      const id = makeRecordingId(m.sessionId, day);
      assert.equal(id.id, m.id);
      const live: RecordingManifest = { ...m, status: "recording" };
      delete live.end;
      const w = await storage.create(
        id,
        live,
        enc.encode(JSON.stringify(m.header) + "\n"),
      );
      if (m.status === "recording") {
        writers.push(w);
        continue;
      }
      await w.finish(m);
      if (c.text !== undefined) await storage.writeText(id, c.text);
    }
    // A stale entry the rebuild must drop.
    await index.put({ ...CASES[1]!.manifest, id: "2026/11/27/stale" });

    const log = memoryLogger();
    const result = await reindex(
      storage,
      index,
      (id) => storage.readText(parseRecordingId(id)!),
      { log, progressEvery: 3, batch: 3 },
    );
    const stored = await storage.list();
    assert.equal(stored.length, picked.length);
    assert.equal(result.recordings, picked.length);
    assert.equal(
      result.texts,
      picked.filter((c) =>
        c.text !== undefined && c.manifest.status !== "recording"
      ).length,
    );
    assert.equal(result.textErrors, 0);
    assert.equal(await index.count(), picked.length);
    assert.deepEqual(
      log.lines.map((l) => l.msg),
      [
        "reindex started",
        ...Array(Math.floor(picked.length / 3)).fill("reindex progress"),
        "reindex finished",
      ],
    );

    const oracle = new ScanIndex();
    for (const m of stored) {
      await oracle.put(m);
      const t = await storage.readText(parseRecordingId(m.id)!);
      if (t !== undefined) await oracle.putText(m.id, t);
    }
    for (const q of QUERIES) {
      await assertSamePages(oracle, { sqlite: index }, q, 2);
    }
    const all = await index.query({ limit: 100 });
    assert.deepEqual(
      all.items.map((m) => m.id).sort(),
      picked.map((c) => c.manifest.id).sort(),
    );
    for (const w of writers) await w.abort();
  } finally {
    await index.close();
    await storage.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("reindex indexes a recording whose text cannot be read, without text, and logs it", async () => {
  const index = new ScanIndex();
  const m = CASES[0]!.manifest;
  const storage = {
    list: () => Promise.resolve([m]),
  } as unknown as DiskStorage;
  const log = memoryLogger();
  const result = await reindex(
    storage,
    index,
    () => Promise.reject(new Error("disk on fire")),
    { log },
  );
  assert.deepEqual([result.recordings, result.texts, result.textErrors], [
    1,
    0,
    1,
  ]);
  assert.deepEqual((await index.query({ limit: 5 })).items, [m]);
  assert.deepEqual((await index.query({ limit: 5, q: "h" })).items, []);
  assert.deepEqual(log.lines[1], {
    level: "warn",
    msg: "reindex could not read a text",
    id: m.id,
    error: "disk on fire",
  });
});

Deno.test("reindex puts in batches of at most batch recordings and batchChars of text, each through putMany", async () => {
  const index = new ScanIndex();
  const sizes: number[] = [];
  const putMany = index.putMany.bind(index);
  index.putMany = (entries) => {
    sizes.push(entries.length);
    return putMany(entries);
  };
  index.put = () => Promise.reject(new Error("put called"));
  index.putText = () => Promise.reject(new Error("putText called"));
  const all = CASES.map((c) => c.manifest);
  const texts = new Map(CASES.map((c) => [c.manifest.id, c.text]));
  const storage = {
    list: () => Promise.resolve(all),
  } as unknown as DiskStorage;
  const textOf = (id: string) => Promise.resolve(texts.get(id));
  const result = await reindex(storage, index, textOf, { batch: 10 });
  assert.equal(result.recordings, all.length);
  assert.deepEqual(sizes, [10, 10, 10, all.length - 30]);
  assert.equal(await index.count(), all.length);
  const oracle = new ScanIndex();
  for (const c of CASES) {
    await oracle.put(c.manifest);
    if (c.text !== undefined) await oracle.putText(c.manifest.id, c.text);
  }
  for (const q of QUERIES) {
    await assertSamePages(oracle, { reindexed: index }, q, 5);
  }
  // a04's text alone is over 10,000 characters: it ends its batch.
  sizes.length = 0;
  await reindex(storage, index, textOf, { batch: 1000, batchChars: 10_000 });
  const a04 = all.findIndex((m) => m.id.endsWith("/a04"));
  assert.deepEqual(sizes, [a04 + 1, all.length - a04 - 1]);
});
