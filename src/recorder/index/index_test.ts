import assert from "node:assert/strict";
import postgres from "postgres";
import { runQuery } from "../query.ts";
import type { RecordingManifest } from "../storage.ts";
import { startPostgres } from "../../testing/postgres_server.ts";
import type { RecordingIndex } from "./recording_index.ts";
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
