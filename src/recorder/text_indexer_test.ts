import assert from "node:assert/strict";
import { DiskStorage } from "./disk_storage.ts";
import { makeRecordingId, type RecordingId } from "./recording_id.ts";
import type { RecordingManifest } from "./storage.ts";
import { TextIndexer } from "./text_indexer.ts";
import { buildSession } from "./_test_records.ts";
import { testHeader } from "./_test_util.ts";

const DAY = new Date(Date.UTC(2026, 11, 2));

function manifest(
  id: RecordingId,
  over: Partial<RecordingManifest> = {},
): RecordingManifest {
  return {
    id: id.id,
    sessionId: id.sessionId,
    status: "recording",
    format: "records",
    header: testHeader(id.sessionId),
    castBytes: 0,
    startedAt: 1,
    updatedAt: 1,
    ...over,
  };
}

/** Stores a records recording printing `text`; finished unless `live`. */
async function store(
  st: DiskStorage,
  sessionId: string,
  text: string,
  live = false,
): Promise<RecordingId> {
  const id = makeRecordingId(sessionId, DAY);
  const built = buildSession({
    sessionId,
    tty: false,
    steps: [{ at: 5, out: 1, data: text }],
    endAt: 10,
  });
  const w = await st.create(id, manifest(id), built.records);
  if (!live) {
    await w.finish(manifest(id, { status: "complete", finishedAt: 2 }));
  }
  return id;
}

Deno.test("TextIndexer derives a finished recording's text from its evidence once, and stores it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const st = new DiskStorage({ dir });
    let writes = 0;
    const counting = new Proxy(st, {
      get(target, prop) {
        if (prop === "writeText") {
          return (id: RecordingId, text: string) => {
            writes++;
            return target.writeText(id, text);
          };
        }
        const v = Reflect.get(target, prop);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const indexer = new TextIndexer(counting, { maxTextChars: 1000 });
    const id = await store(st, "done", "hello \x1b[31mred\x1b[0m\r\n");
    assert.equal(await st.readText(id), undefined);
    // Two searches at once: one derivation, the same answer.
    const [a, b] = await Promise.all([indexer.text(id), indexer.text(id)]);
    assert.equal(a, "hello red\n");
    assert.equal(b, a);
    assert.equal(writes, 1);
    assert.equal(await st.readText(id), "hello red\n");
    // Later: read from storage, not derived again.
    assert.equal(await indexer.text(id), "hello red\n");
    assert.equal(writes, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TextIndexer: a live recording has no text yet; a scheduled one is indexed in the background", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const st = new DiskStorage({ dir });
    const indexer = new TextIndexer(st, { maxTextChars: 4 });
    const live = await store(st, "live", "typing", true);
    assert.equal(await indexer.text(live), undefined);
    assert.equal(await st.readText(live), undefined);
    const done = await store(st, "later", "abcdefgh");
    indexer.schedule(done);
    indexer.schedule(live); // still live: skipped
    await indexer.idle();
    // Bounded by maxTextChars.
    assert.equal(await st.readText(done), "abcd");
    assert.equal(await st.readText(live), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
