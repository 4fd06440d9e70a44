import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  openSqliteIndex,
  SqliteIndex,
  SqliteIndexCorruptError,
} from "./sqlite_index.ts";
import { ScanIndex } from "./scan_index.ts";
import { assertSamePages, CASES, QUERIES } from "./_test_cases.ts";

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "execgate-sqlite-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("openSqliteIndex moves a file that is not a database aside and creates a working index", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/index.sqlite`;
    const garbage = "this is not a database\n".repeat(100);
    await Deno.writeTextFile(path, garbage);
    assert.throws(() => new SqliteIndex(path), (e: unknown) => {
      assert.ok(e instanceof SqliteIndexCorruptError);
      assert.match(e.message, /index\.sqlite.*not a database/);
      return true;
    });
    const opened = await openSqliteIndex(path, { now: () => 1234 });
    try {
      assert.equal(opened.rebuilt, true);
      assert.equal(opened.fresh, true);
      assert.match(opened.problem ?? "", /not a database/);
      assert.equal(opened.movedTo, `${path}.corrupt-1234`);
      assert.equal(await Deno.readTextFile(`${path}.corrupt-1234`), garbage);
      const c = CASES[0]!;
      await opened.index.put(c.manifest);
      await opened.index.putText(c.manifest.id, "Hello there");
      const page = await opened.index.query({ q: "HELLO", limit: 5 });
      assert.deepEqual(page.items.map((m) => m.id), [c.manifest.id]);
    } finally {
      await opened.index.close();
    }
  });
});

Deno.test("openSqliteIndex rebuilds an index of a newer schema version, or of another schema", async () => {
  await withDir(async (dir) => {
    const newer = `${dir}/newer.sqlite`;
    const db = new DatabaseSync(newer);
    db.exec("PRAGMA user_version = 99");
    db.close();
    const a = await openSqliteIndex(newer, { now: () => 1 });
    await a.index.close();
    assert.equal(a.rebuilt, true);
    assert.match(a.problem ?? "", /schema version 99 is newer .*\(3\)/);

    const other = `${dir}/other.sqlite`;
    const db2 = new DatabaseSync(other);
    db2.exec("CREATE TABLE users (name TEXT)");
    db2.close();
    const b = await openSqliteIndex(other, { now: () => 2 });
    await b.index.close();
    assert.equal(b.rebuilt, true);
    assert.match(b.problem ?? "", /tables of another schema \("users"\)/);
    assert.equal(
      await b.index.count().catch((e) => String(e)),
      'Error: Cannot use the recording index "' + other + '": it is closed',
    );
  });
});

Deno.test("SqliteIndex keeps its recordings and texts across reopening the file (WAL, schema version 2)", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/index.sqlite`;
    const first = await openSqliteIndex(path);
    assert.deepEqual([first.rebuilt, first.fresh], [false, true]);
    for (const c of CASES) {
      await first.index.put(c.manifest);
      if (c.text !== undefined) {
        await first.index.putText(c.manifest.id, c.text);
      }
    }
    await first.index.close();
    await first.index.close(); // idempotent
    const again = await openSqliteIndex(path);
    try {
      assert.deepEqual([again.rebuilt, again.fresh], [false, false]);
      assert.equal(await again.index.count(), CASES.length);
      const page = await again.index.query({ q: "köln", limit: 5 });
      assert.deepEqual(page.items.map((m) => m.sessionId), ["a08"]);
    } finally {
      await again.index.close();
    }
    const db = new DatabaseSync(path);
    const pragma = (name: string) =>
      Object.values(db.prepare(`PRAGMA ${name}`).get()!)[0];
    assert.equal(pragma("user_version"), 3); // 3: the API events table
    assert.equal(pragma("journal_mode"), "wal");
    db.close();
  });
});

Deno.test("SqliteIndex migrates a version 1 file to version 2 (the command index) and keeps what it holds", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/index.sqlite`;
    const first = new SqliteIndex(path);
    for (const c of CASES) await first.put(c.manifest);
    await first.close();
    const db = new DatabaseSync(path);
    db.exec("DROP INDEX recordings_command; PRAGMA user_version = 1");
    db.close();
    const again = new SqliteIndex(path);
    try {
      assert.equal(again.created, false);
      assert.equal(await again.count(), CASES.length);
      const page = await again.query({ command: "psql", limit: 5 });
      assert.deepEqual(page.items.map((m) => m.sessionId), ["a18", "a17"]);
    } finally {
      await again.close();
    }
    const check = new DatabaseSync(path);
    const version = check.prepare("PRAGMA user_version").get();
    const index = check.prepare(
      "SELECT name FROM sqlite_master WHERE name = 'recordings_command'",
    ).get();
    check.close();
    assert.deepEqual(Object.values(version!), [3]); // and on to the events
    assert.ok(index, "no recordings_command");
  });
});

Deno.test("SqliteIndex answers a command filter like ScanIndex when a needle matches more commands than it merges (64) and with more distinct commands than it reads (1,000)", async () => {
  for (const distinct of [500, 1100]) await commandsLike(distinct);
});

async function commandsLike(distinct: number) {
  const index = new SqliteIndex(":memory:");
  const oracle = new ScanIndex();
  try {
    const base = CASES[0]!.manifest;
    for (let i = 0; i < distinct; i++) {
      const m = structuredClone(base);
      m.id = `2026/11/27/c${i}`;
      m.sessionId = `c${i}`;
      m.header.timestamp = 1_790_000_000 + (i % 300);
      m.header.command = `job-${i} --run`;
      if (i % 7 === 0) m.status = "partial";
      await index.put(m);
      await oracle.put(m);
    }
    const queries = [
      { command: "job-1" },
      { command: "JOB-10" },
      { command: "--run", status: "partial" as const },
      { command: `job-${distinct - 1}` },
      { command: "nowhere" },
      ...QUERIES.filter((q) => q.command !== undefined),
    ];
    for (const q of queries) {
      await assertSamePages(oracle, { [`sqlite, ${distinct}`]: index }, q, 7);
    }
  } finally {
    await index.close();
  }
}

Deno.test("SqliteIndex pages a full-text search through many recordings of one second like ScanIndex (the rest of a second is read by doc key)", async () => {
  const index = new SqliteIndex(":memory:");
  const oracle = new ScanIndex();
  try {
    const base = CASES[0]!.manifest;
    for (let i = 0; i < 40; i++) {
      const m = structuredClone(base);
      m.id = `2026/11/27/s${String(i).padStart(2, "0")}`;
      m.sessionId = `s${i}`;
      // Four seconds, ten recordings each; every third one lacks the word.
      m.header.timestamp = 1_790_000_000 + Math.floor(i / 10) + (i % 10) / 20;
      m.header.srcNodeUser = i % 2 ? "alice" : "bob";
      const text = i % 3 === 0 ? `nothing here ${i}` : `found the needle ${i}`;
      for (const x of [index, oracle]) {
        await x.put(m);
        await x.putText(m.id, text);
      }
    }
    for (const q of [{ q: "needle" }, { q: "needle", user: "alice" }]) {
      for (const limit of [1, 2, 3, 7]) {
        await assertSamePages(oracle, { sqlite: index }, q, limit);
      }
    }
  } finally {
    await index.close();
  }
});
