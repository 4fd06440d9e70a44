import assert from "node:assert/strict";
import { DiskStorage } from "./disk_storage.ts";
import { makeRecordingId, type RecordingId } from "./recording_id.ts";
import type { RecordingManifest } from "./storage.ts";
import { TextIndexer } from "./text_indexer.ts";
import { buildSession } from "./_test_records.ts";
import { testHeader } from "./_test_util.ts";
import { encodeRecord, RecordType } from "../protocol/records.ts";

const enc = new TextEncoder();

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

Deno.test("TextIndexer: a live recording's text so far is derived on the spot, never stored; a scheduled one is indexed in the background", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const st = new DiskStorage({ dir });
    const indexer = new TextIndexer(st, { maxTextChars: 4 });
    const live = await store(st, "live", "typing", true);
    // Bounded by maxTextChars, and not stored (the .txt is the final one).
    assert.equal(await indexer.text(live), "typi");
    assert.equal(await st.readText(live), undefined);
    const done = await store(st, "later", "abcdefgh");
    indexer.schedule(done);
    indexer.schedule(live); // still live: its text is not stored
    await indexer.idle();
    assert.equal(await st.readText(done), "abcd");
    assert.equal(await st.readText(live), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Resolves once `check` holds, looking every 10 ms (bounded by 30 s). */
async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("TextIndexer.follow hands a live recording's growing text to onText; once it finishes the final text comes last", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const st = new DiskStorage({ dir });
    const told: string[] = [];
    const indexer = new TextIndexer(st, {
      maxTextChars: 1000,
      liveIntervalMs: 10,
      onText: (_id, text) => void told.push(text),
    });
    const id = makeRecordingId("follow", DAY);
    const first = buildSession({
      sessionId: "follow",
      tty: true,
      steps: [{ at: 5, out: 1, data: "first line\r\n" }],
      endAt: false,
    });
    const w = await st.create(id, manifest(id), first.records);
    indexer.follow(id);
    indexer.follow(id); // once is enough
    assert.equal(indexer.following, 1);
    await until("the first text", () => told.at(-1) === "first line\n");
    await w.write(encodeRecord(RecordType.STDOUT, 9000, enc.encode("second")));
    await until("the grown text", () => told.at(-1) === "first line\nsecond");
    await w.write(encodeRecord(RecordType.STDOUT, 9500, enc.encode(" end")));
    await w.finish(manifest(id, { status: "partial", finishedAt: 3 }));
    indexer.schedule(id);
    assert.equal(indexer.following, 0);
    await indexer.idle();
    assert.equal(told.at(-1), "first line\nsecond end");
    assert.equal(await st.readText(id), "first line\nsecond end");
    await indexer.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TextIndexer.follow stops following a recording storage no longer shows live, and does nothing without onText or once closed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const st = new DiskStorage({ dir });
    const indexer = new TextIndexer(st, {
      maxTextChars: 1000,
      liveIntervalMs: 10,
      onText: () => {},
    });
    const id = await store(st, "ended", "bye"); // finished, never scheduled
    indexer.follow(id);
    await until("it is dropped", () => indexer.following === 0);
    await indexer.close();
    indexer.follow(id);
    assert.equal(indexer.following, 0);
    const quiet = new TextIndexer(st, { maxTextChars: 10 });
    quiet.follow(id);
    assert.equal(quiet.following, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TextIndexer: a live kubectl cp download's text is its listing so far, not the archive read as text", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const st = new DiskStorage({ dir });
    // A tar of one text file, as `tar cf -` writes it.
    const src = await Deno.makeTempDir();
    await Deno.writeTextFile(`${src}/notes.txt`, "zz-inside-the-archive\n");
    const tar = (await new Deno.Command("/usr/bin/tar", {
      args: ["-cf", "-", "-C", src, "notes.txt"],
      stdout: "piped",
    }).output()).stdout;
    await Deno.remove(src, { recursive: true });
    const argv = ["tar", "cf", "-", "notes.txt"];
    const header = { ...testHeader("cp-live"), argv };
    const id = makeRecordingId("cp-live", DAY);
    const w = await st.create(
      id,
      manifest(id, { header }),
      encodeRecord(RecordType.HEADER, 0, enc.encode(JSON.stringify(header))),
    );
    await w.write(encodeRecord(RecordType.STDOUT, 1, tar));
    const indexer = new TextIndexer(st, { maxTextChars: 10_000 });
    const text = (await indexer.text(id))!;
    assert.match(text, /^notes\.txt file 22 bytes sha256 [0-9a-f]{64}\n/);
    assert.ok(!text.includes("zz-inside-the-archive"), text);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
