import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  openSqliteIndex,
  SqliteIndex,
  SqliteIndexCorruptError,
} from "./sqlite_index.ts";
import { CASES } from "./_test_cases.ts";

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
    assert.match(a.problem ?? "", /schema version 99 is newer .*\(1\)/);

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

Deno.test("SqliteIndex keeps its recordings and texts across reopening the file (WAL, schema version 1)", async () => {
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
    assert.equal(pragma("user_version"), 1);
    assert.equal(pragma("journal_mode"), "wal");
    db.close();
  });
});
