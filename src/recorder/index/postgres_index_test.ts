import assert from "node:assert/strict";
import postgres from "postgres";
import { startPostgres } from "../../testing/postgres_server.ts";
import { PostgresIndex } from "./postgres_index.ts";
import { ScanIndex } from "./scan_index.ts";
import { assertSamePages, CASES, QUERIES } from "./_test_cases.ts";

function urlFor(base: string, user: string, db: string) {
  const u = new URL(base);
  u.username = user;
  u.pathname = `/${db}`;
  return u.href;
}

Deno.test("PostgresIndex: recorders opening one database together migrate it once and share what they put", async () => {
  const pg = await startPostgres();
  try {
    const [a, b] = await Promise.all([
      PostgresIndex.open(pg.url),
      PostgresIndex.open(pg.url),
    ]);
    try {
      assert.equal(a.trigrams, true);
      assert.equal(a.describe, `postgres "127.0.0.1:${pg.port}/postgres"`);
      const admin = postgres(pg.url, { max: 1, onnotice: () => {} });
      try {
        assert.deepEqual(
          [...await admin`SELECT version FROM execgate_schema`],
          [{ version: 2 }], // 2: the API events tables
        );
        assert.deepEqual(
          [
            ...await admin`SELECT indexname FROM pg_indexes
            WHERE indexname LIKE '%trgm' ORDER BY indexname`,
          ],
          [
            { indexname: "recordings_command_trgm" },
            { indexname: "recordings_text_trgm" },
          ],
        );
        assert.deepEqual(
          [
            ...await admin`SELECT attname, attcompression::text AS c
            FROM pg_attribute WHERE attrelid = 'recordings'::regclass
              AND attname IN ('text', 'manifest') ORDER BY attname`,
          ],
          [{ attname: "manifest", c: "l" }, { attname: "text", c: "l" }],
        );
      } finally {
        await admin.end();
      }
      const c = CASES[0]!;
      await Promise.all([a.put(c.manifest), b.put(c.manifest)]);
      await a.putText(c.manifest.id, "Shared TEXT");
      const page = await b.query({ q: "shared text", limit: 5 });
      assert.deepEqual(page.items, [c.manifest]);
      assert.equal(await b.count(), 1);
    } finally {
      await a.close();
      await b.close();
    }
  } finally {
    await pg.close();
  }
});

Deno.test("PostgresIndex: without pg_trgm (a role that may not create it) q still answers like ScanIndex", async () => {
  const pg = await startPostgres();
  try {
    const admin = postgres(pg.url, { max: 1, onnotice: () => {} });
    try {
      await admin`CREATE ROLE plain LOGIN`;
      await admin`CREATE DATABASE notrgm`;
    } finally {
      await admin.end();
    }
    const owner = postgres(urlFor(pg.url, "postgres", "notrgm"), {
      max: 1,
      onnotice: () => {},
    });
    try {
      await owner`GRANT CREATE ON SCHEMA public TO plain`;
    } finally {
      await owner.end();
    }
    const index = await PostgresIndex.open(urlFor(pg.url, "plain", "notrgm"));
    const oracle = new ScanIndex();
    try {
      assert.equal(index.trigrams, false);
      for (const x of [oracle, index]) {
        for (const c of CASES) {
          await x.put(c.manifest);
          if (c.text !== undefined) await x.putText(c.manifest.id, c.text);
        }
      }
      for (const q of QUERIES.filter((q) => q.q !== undefined)) {
        await assertSamePages(oracle, { postgres: index }, q, 1000);
      }
    } finally {
      await index.close();
    }
  } finally {
    await pg.close();
  }
});

Deno.test("PostgresIndex.open refuses a schema newer than it knows, naming the database and not the password", async () => {
  const pg = await startPostgres();
  try {
    const admin = postgres(pg.url, { max: 1, onnotice: () => {} });
    try {
      await admin`CREATE TABLE execgate_schema (one boolean PRIMARY KEY DEFAULT true, version integer NOT NULL)`;
      await admin`INSERT INTO execgate_schema (version) VALUES (7)`;
    } finally {
      await admin.end();
    }
    const url = new URL(pg.url);
    url.password = "hunter2";
    await assert.rejects(
      () => PostgresIndex.open(url.href),
      (e: Error) => {
        assert.match(
          e.message,
          /^Cannot use the recording index in "127\.0\.0\.1:\d+\/postgres": its schema version 7 is newer than this recorder knows \(2\)$/,
        );
        assert.doesNotMatch(e.message, /hunter2/);
        return true;
      },
    );
  } finally {
    await pg.close();
  }
});

Deno.test("PostgresIndex.open names the database it cannot reach", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  await assert.rejects(
    () =>
      PostgresIndex.open(`postgres://x:secret@127.0.0.1:${port}/db`, {
        connectTimeoutSeconds: 2,
      }),
    (e: Error) => {
      assert.match(
        e.message,
        new RegExp(
          `^Cannot open the recording index in "127\\.0\\.0\\.1:${port}/db": `,
        ),
      );
      assert.doesNotMatch(e.message, /secret/);
      return true;
    },
  );
});
