import assert from "node:assert/strict";
import { memoryLogger } from "../log.ts";
import { DiskEventStore } from "./events_disk_store.ts";
import { MemoryEventStore } from "./events_store.ts";
import { MemoryEventIndex, type StoredEvent } from "./index/events_index.ts";
import { SqliteIndex } from "./index/sqlite_index.ts";
import { applyEventRetention } from "./retention.ts";
import { parseRecordingId } from "./recording_id.ts";
import { createRecorder } from "./app.ts";
import { parseRecorderConfig } from "./config.ts";
import { DiskStorage } from "./disk_storage.ts";

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 20, 12);

function row(id: string, stream: string, timeMs: number): StoredEvent {
  return {
    request: { phase: "request", id, timeMs, verb: "get" },
    stream,
    offset: 0,
  };
}

async function ids(index: { query: MemoryEventIndex["query"] }) {
  return (await index.query({ limit: 100 })).items.map((e) => e.request.id)
    .sort();
}

Deno.test("applyEventRetention deletes old closed streams and old index rows, keeps open and long-lived streams whole (disk, SQLite)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "execgate-ret-" });
  const sqlite = new SqliteIndex(":memory:");
  const store = new DiskEventStore({ dir });
  const log = memoryLogger();
  try {
    const index = sqlite.events();
    const OLD = "2026/11/01/ev-old";
    const LONG = "2026/11/02/ev-long";
    const OPEN = "2026/11/03/ev-open";
    const NEW = "2026/12/19/ev-new";
    for (const s of [OLD, LONG, NEW]) {
      const w = await store.create(parseRecordingId(s)!);
      await w.write(new Uint8Array([1, 2, 3]));
      await w.close();
    }
    const open = await store.create(parseRecordingId(OPEN)!);
    await open.write(new Uint8Array([4]));
    // Last writes: OLD and OPEN 40 days ago, LONG and NEW yesterday.
    const at = (s: string, t: number) =>
      Deno.utime(`${dir}/${s}.records`, new Date(t), new Date(t));
    await at(OLD, NOW - 40 * DAY);
    await at(OPEN, NOW - 40 * DAY);
    await at(LONG, NOW - DAY);
    await at(NEW, NOW - DAY);
    await index.put([
      row("o1", OLD, NOW - 45 * DAY),
      row("o2", OLD, NOW - 40 * DAY),
      row("l1", LONG, NOW - 44 * DAY),
      row("l2", LONG, NOW - DAY),
      row("p1", OPEN, NOW - 40 * DAY),
      row("n1", NEW, NOW - DAY),
    ]);
    // A response still waiting for its request, in the old stream.
    await index.putResponse(OLD, "o3", { status: 200 });

    const n = await applyEventRetention({
      store,
      index,
      days: 30,
      now: () => NOW,
      log,
    });
    assert.equal(n, 1);
    assert.deepEqual((await store.list()).sort(), [LONG, OPEN, NEW].sort());
    assert.deepEqual(await ids(index), ["l2", "n1"]);
    const deleted = log.lines.filter((l) =>
      l.msg === "API events stream deleted by retention"
    );
    assert.deepEqual(deleted.map((l) => [l.stream, l.events]), [[OLD, 2]]);
    const kept = log.lines.filter((l) =>
      String(l.msg).startsWith("API events stream kept by retention")
    ).map((l) => [l.stream, l.open]);
    assert.deepEqual(kept, [[LONG, false], [OPEN, true]]);
    assert.equal(
      log.lines.find((l) =>
        l.msg === "API events deleted from the index by retention"
      )?.events,
      2,
    );
    // The orphan response of the deleted stream went with it: a request of
    // that id arriving again later is not joined to it.
    await index.put([row("o3", NEW, NOW)]);
    assert.equal(
      (await index.query({ limit: 1 })).items[0]?.response,
      undefined,
    );

    // Once closed and old, the open stream goes too; the next run again.
    await open.close();
    assert.equal(
      await applyEventRetention({
        store,
        index,
        days: 30,
        now: () => NOW,
        log,
      }),
      1,
    );
    assert.deepEqual((await store.list()).sort(), [LONG, NEW].sort());
  } finally {
    await sqlite.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("applyEventRetention deletes at most batch streams per run and warns on a failure", async () => {
  let t = NOW - 50 * DAY;
  const store = new MemoryEventStore(() => t);
  const index = new MemoryEventIndex();
  const log = memoryLogger();
  for (const d of ["01", "02", "03"]) {
    const w = await store.create(parseRecordingId(`2026/11/${d}/ev`)!);
    await w.close();
  }
  t = NOW;
  assert.equal(
    await applyEventRetention({
      store,
      index,
      days: 30,
      now: () => NOW,
      log,
      batch: 2,
    }),
    2,
  );
  assert.deepEqual(await store.list(), ["2026/11/03/ev"]);
  const broken = Object.assign(Object.create(store), {
    remove: () => Promise.reject(new Error("disk on fire")),
    list: () => store.list(),
    stat: (id: Parameters<typeof store.stat>[0]) => store.stat(id),
  });
  assert.equal(
    await applyEventRetention({
      store: broken,
      index,
      days: 30,
      now: () => NOW,
      log,
    }),
    0,
  );
  const warn = log.lines.find((l) =>
    l.msg === "retention could not delete an API events stream"
  );
  assert.equal(warn?.stream, "2026/11/03/ev");
  assert.match(String(warn?.error), /disk on fire/);
});

Deno.test("Recorder applyRetention deletes old API events streams too", async () => {
  const dir = await Deno.makeTempDir({ prefix: "execgate-ret-" });
  let t = NOW - 40 * DAY;
  const store = new MemoryEventStore(() => t);
  const index = new MemoryEventIndex();
  const log = memoryLogger();
  const r = createRecorder(
    parseRecorderConfig({
      auth: { uploaderTokens: ["uploader-token-0123456789"] },
      retention: { days: 30 },
    }),
    {
      storage: new DiskStorage({ dir }),
      events: { store, index },
      logger: log,
      now: () => NOW,
    },
  );
  try {
    const w = await store.create(parseRecordingId("2026/11/10/ev-a")!);
    await w.close();
    await index.put([row("a1", "2026/11/10/ev-a", t)]);
    t = NOW;
    assert.equal(await r.applyRetention(), 1);
    assert.deepEqual(await store.list(), []);
    assert.deepEqual(await ids(index), []);
    assert.ok(
      log.lines.some((l) => l.msg === "API events stream deleted by retention"),
    );
  } finally {
    await r.close();
    await Deno.remove(dir, { recursive: true });
  }
});
