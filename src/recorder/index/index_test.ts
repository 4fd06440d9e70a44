import assert from "node:assert/strict";
import postgres from "postgres";
import { runQuery } from "../query.ts";
import type { RecordingManifest } from "../storage.ts";
import { startPostgres } from "../../testing/postgres_server.ts";
import type { IndexEntry, RecordingIndex } from "./recording_index.ts";
import { ScanIndex } from "./scan_index.ts";
import { SqliteIndex } from "./sqlite_index.ts";
import { PostgresIndex } from "./postgres_index.ts";
import {
  assertSamePages,
  CASES,
  type IndexCase,
  LIMITS,
  QUERIES,
  T0,
} from "./_test_cases.ts";

async function load(index: RecordingIndex, cases: readonly IndexCase[]) {
  for (const c of cases) {
    await index.put(c.manifest);
    if (c.text !== undefined) await index.putText(c.manifest.id, c.text);
  }
}

async function compareEverything(
  oracle: RecordingIndex,
  others: Record<string, RecordingIndex>,
) {
  let pages = 0;
  for (const q of QUERIES) {
    for (const limit of LIMITS) {
      pages += await assertSamePages(oracle, others, q, limit);
    }
  }
  for (
    const [before, limit] of [[T0, 100], [T0 + 45.25, 3], [T0 + 1e6, 100], [
      0,
      10,
    ], [T0 + 20, 1]] as const
  ) {
    const want = await oracle.expired(before, limit);
    for (const [name, index] of Object.entries(others)) {
      assert.deepEqual(
        await index.expired(before, limit),
        want,
        `${name}.expired(${before}, ${limit})`,
      );
    }
  }
  const n = await oracle.count();
  for (const [name, index] of Object.entries(others)) {
    assert.equal(await index.count(), n, `${name}.count()`);
  }
  return pages;
}

function byId(id: string): RecordingManifest {
  const c = CASES.find((c) => c.manifest.id === id);
  assert.ok(c, `no case ${id}`);
  return structuredClone(c.manifest);
}

Deno.test("RecordingIndex: SqliteIndex (memory, file) and PostgresIndex page every query of the table like ScanIndex, before and after remove, re-put and re-text", async () => {
  const dir = await Deno.makeTempDir({ prefix: "execgate-index-" });
  const pg = await startPostgres();
  const oracle = new ScanIndex();
  const others: Record<string, RecordingIndex> = {};
  try {
    others["sqlite :memory:"] = new SqliteIndex(":memory:");
    others["sqlite file"] = new SqliteIndex(`${dir}/index.sqlite`);
    others["postgres"] = await PostgresIndex.open(pg.url);
    // The same with every search through the full-text index, never by
    // checking the filtered rows' texts one by one.
    others["sqlite (text index always)"] = new SqliteIndex(":memory:", {
      scanBelowRows: 0,
    });
    // Three rows' texts checked one by one, the older ones by the index.
    others["sqlite (3 texts, then the text index)"] = new SqliteIndex(
      ":memory:",
      { scanBelowRows: 3 },
    );
    const admin = postgres(pg.url, { max: 1, onnotice: () => {} });
    await admin`CREATE DATABASE always`;
    await admin.end();
    const always = new URL(pg.url);
    always.pathname = "/always";
    others["postgres (text index always)"] = await PostgresIndex.open(
      always.href,
      { scanBelowRows: 0 },
    );
    for (const index of [oracle, ...Object.values(others)]) {
      await load(index, CASES);
    }
    const pages = await compareEverything(oracle, others);
    assert.ok(pages > QUERIES.length * LIMITS.length, `only ${pages} pages`);

    // Spot checks that the oracle itself says what the table means.
    const ids = async (q: Parameters<RecordingIndex["query"]>[0]) =>
      (await oracle.query(q)).items.map((m) => m.id.slice(11));
    assert.deepEqual(await ids({ command: "50%", limit: 10 }), ["a06"]);
    assert.deepEqual(await ids({ command: "0%_", limit: 10 }), ["a08"]);
    assert.deepEqual(await ids({ q: "ab", limit: 10 }), ["a03"]);
    assert.deepEqual(await ids({ q: "ſ", limit: 10 }), ["a11"]);
    assert.deepEqual(await ids({ q: "ist", limit: 10 }), []);
    assert.deepEqual(await ids({ from: T0 + 40, to: T0 + 40, limit: 10 }), []);
    assert.deepEqual(await ids({ user: "alice", limit: 3 }), [
      "a31",
      "a18",
      "a17",
    ]);

    // Mutations: the live a05 finishes (exit 0, new tag), a28 finishes
    // without an exit code; a03 and an unknown id are removed; a01's text
    // changes; a text arrives for an id without a manifest.
    const a05 = byId("2026/11/27/a05");
    a05.status = "complete";
    a05.end = { exitCode: 0 } as RecordingManifest["end"];
    a05.header.srcNodeTags = ["tag:late"];
    const a28 = byId("2026/11/27/a28");
    a28.status = "partial";
    a28.partialReason = "disconnect";
    const a08 = byId("2026/11/27/a08");
    a08.header.srcNodeTags = ["tag:prod"]; // no longer tag:ops
    a08.header.timestamp = T0 + 5; // moves down the list
    for (const index of [oracle, ...Object.values(others)]) {
      await index.put(a05);
      await index.put(a28);
      await index.put(a08);
      await index.remove("2026/11/27/a03");
      await index.remove("2026/11/27/none");
      await index.putText("2026/11/27/a01", "GOODBYE world");
      await index.putText("2026/11/27/ghost", "hello ghost");
    }
    // A text that arrives before its manifest is searchable once it does.
    const early = { ...byId("2026/11/27/a02"), id: "2026/11/27/early" };
    early.sessionId = "early";
    for (const index of [oracle, ...Object.values(others)]) {
      await index.putText(early.id, "Arrived EARLY");
      await index.put(early);
    }
    assert.deepEqual(await ids({ q: "early", limit: 10 }), ["early"]);
    assert.deepEqual(await ids({ tag: "tag:late", limit: 10 }), ["a05"]);
    assert.deepEqual(await ids({ tag: "tag:ops", limit: 10 }), ["a07"]);
    assert.deepEqual(await ids({ q: "ghost", limit: 10 }), []);
    assert.deepEqual(await ids({ q: "hello world", limit: 10 }), ["a30"]);
    await compareEverything(oracle, others);
    for (
      const q of [{ tag: "tag:late" }, { status: "recording" }, {
        q: "goodbye",
      }, { exit: 0, tag: "tag:late" }]
    ) {
      await assertSamePages(oracle, others, q, 1);
    }

    // A bad cursor is refused the same way everywhere.
    for (const index of [oracle, ...Object.values(others)]) {
      await assert.rejects(
        () => index.query({ limit: 5, cursor: "bm9wZQ" }),
        RangeError,
      );
    }

    for (const index of [oracle, ...Object.values(others)]) {
      await index.clear();
      assert.equal(await index.count(), 0);
      assert.deepEqual(await index.query({ limit: 5, q: "hello" }), {
        items: [],
      });
    }
  } finally {
    for (const index of Object.values(others)) await index.close();
    await pg.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RecordingIndex: a cursor issued by runQuery over the manifests pages the SqliteIndex identically", async () => {
  const index = new SqliteIndex(":memory:");
  try {
    await load(index, CASES);
    const all = CASES.map((c) => c.manifest);
    const texts = new Map(CASES.map((c) => [c.manifest.id, c.text]));
    const readText = (m: RecordingManifest) => Promise.resolve(texts.get(m.id));
    for (const q of [{}, { user: "alice" }, { q: "o" }, { tag: "tag:ops" }]) {
      let cursor: string | undefined;
      let pages = 0;
      do {
        const query = { ...q, limit: 2, ...(cursor ? { cursor } : {}) };
        const want = await runQuery(all, query, readText);
        const got = await index.query(query);
        assert.deepStrictEqual(got, want, JSON.stringify(query));
        cursor = want.nextCursor;
        pages++;
      } while (cursor !== undefined);
      assert.ok(pages >= 1);
    }
  } finally {
    await index.close();
  }
});

/** The table, then changes inside one batch: repeats, moves, new texts. */
function bulkEntries(): IndexEntry[] {
  const a05 = byId("2026/11/27/a05");
  a05.status = "complete";
  a05.end = { exitCode: 0 } as RecordingManifest["end"];
  a05.header.srcNodeTags = ["tag:late"];
  const a08 = byId("2026/11/27/a08");
  a08.header.timestamp = T0 + 5; // another second: its text moves along
  const a02 = byId("2026/11/27/a02");
  a02.header.timestamp = T0 + 6; // another second and a new text at once
  const a28 = byId("2026/11/27/a28");
  a28.status = "partial";
  return [
    ...CASES.map((c) => ({
      manifest: c.manifest,
      ...(c.text !== undefined ? { text: c.text } : {}),
    })),
    { manifest: a05, text: "finished LATE" },
    { manifest: a08 },
    { manifest: a02, text: "moved and retold" },
    { manifest: a28 }, // no text given: "partial live text" stays
    { manifest: byId("2026/11/27/a30"), text: "first telling" },
    { manifest: byId("2026/11/27/a01"), text: "GOODBYE world" },
    { manifest: byId("2026/11/27/a30"), text: "HELLO WORLD, again" },
  ];
}

Deno.test("RecordingIndex.putMany: SqliteIndex, PostgresIndex and ScanIndex loaded in batches page every query like puts and putTexts, an id repeated or moved inside a batch included", async () => {
  const pg = await startPostgres();
  const oracle = new ScanIndex();
  const others: Record<string, RecordingIndex> = {};
  const batches: Record<string, number> = {
    "sqlite, one batch": Infinity,
    "sqlite, batches of 7": 7,
    "sqlite (text index always), batches of 1": 1,
    "postgres, one batch": Infinity,
    "postgres, batches of 7": 7,
    "scan, batches of 7": 7,
  };
  try {
    others["sqlite, one batch"] = new SqliteIndex(":memory:");
    others["sqlite, batches of 7"] = new SqliteIndex(":memory:");
    others["sqlite (text index always), batches of 1"] = new SqliteIndex(
      ":memory:",
      { scanBelowRows: 0 },
    );
    others["postgres, one batch"] = await PostgresIndex.open(pg.url);
    const admin = postgres(pg.url, { max: 1, onnotice: () => {} });
    await admin`CREATE DATABASE sevens`;
    await admin.end();
    const sevens = new URL(pg.url);
    sevens.pathname = "/sevens";
    others["postgres, batches of 7"] = await PostgresIndex.open(sevens.href);
    others["scan, batches of 7"] = new ScanIndex();

    // A text that arrived before its manifest is kept for a batch too.
    const early = { ...byId("2026/11/27/a02"), id: "2026/11/27/early" };
    early.sessionId = "early";
    for (const index of [oracle, ...Object.values(others)]) {
      await index.putText(early.id, "Arrived EARLY");
    }
    const entries = [...bulkEntries(), { manifest: early }];
    for (const e of entries) {
      await oracle.put(e.manifest);
      if (e.text !== undefined) await oracle.putText(e.manifest.id, e.text);
    }
    for (const [name, index] of Object.entries(others)) {
      const size = Math.min(batches[name]!, entries.length);
      for (let i = 0; i < entries.length; i += size) {
        await index.putMany(entries.slice(i, i + size));
      }
      await index.putMany([]);
    }
    const ids = async (q: Parameters<RecordingIndex["query"]>[0]) =>
      (await oracle.query(q)).items.map((m) => m.id.slice(11));
    assert.deepEqual(await ids({ q: "late", limit: 10 }), ["a05"]);
    assert.deepEqual(await ids({ q: "retold", limit: 10 }), ["a02"]);
    assert.deepEqual(await ids({ q: "telling", limit: 10 }), []);
    assert.deepEqual(await ids({ q: "again", limit: 10 }), ["a30"]);
    assert.deepEqual(await ids({ q: "live text", limit: 10 }), ["a28"]);
    assert.deepEqual(await ids({ q: "köln", limit: 10 }), ["a08"]);
    assert.deepEqual(await ids({ q: "early", limit: 10 }), ["early"]);
    await compareEverything(oracle, others);
  } finally {
    for (const index of Object.values(others)) await index.close();
    await pg.close();
  }
});

Deno.test("RecordingIndex.putMany: SqliteIndex and PostgresIndex apply a batch with a failing entry not at all", async () => {
  const pg = await startPostgres();
  const sqlite = new SqliteIndex(":memory:");
  const pgIndex = await PostgresIndex.open(pg.url);
  try {
    const good = CASES.slice(0, 3).map((c) => ({
      manifest: c.manifest,
      text: "kept out",
    }));
    // SQLite: no start time at all (NOT NULL); PostgreSQL: a tag too long
    // for a B-tree entry.
    const noStart = { ...byId("2026/11/27/a21"), startedAt: NaN };
    const longTag = byId("2026/11/27/a07");
    longTag.header.srcNodeTags = [
      Array.from({ length: 9000 }, (_, i) => String.fromCharCode(0x4e00 + i))
        .join(""),
    ];
    const cases = [
      ["sqlite", sqlite, noStart, /NOT NULL constraint failed/],
      ["postgres", pgIndex, longTag, /index row/],
    ] as const;
    for (const [name, index, bad, error] of cases) {
      await index.put(CASES[5]!.manifest);
      await assert.rejects(
        () => index.putMany([...good, { manifest: bad }]),
        error,
        `${name} accepted the batch`,
      );
      assert.equal(await index.count(), 1, name);
      assert.deepEqual(
        (await index.query({ limit: 10, q: "kept out" })).items,
        [],
        name,
      );
      await index.putMany(good);
      assert.equal(await index.count(), 4, `${name} after a good batch`);
    }
  } finally {
    await sqlite.close();
    await pgIndex.close();
    await pg.close();
  }
});
