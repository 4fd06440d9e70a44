/**
 * The recording index in PostgreSQL (npm `postgres`), shared by every
 * recorder replica of a deployment.
 *
 * Schema (version 1, in table `execgate_schema`):
 *
 * - `recordings`: one row per recording, one column per filter (`start` is
 *   `startTime(m)` as `double precision`, used for order and `from`/`to`;
 *   `id` sorts `COLLATE "C"`, as JavaScript compares ASCII), the manifest
 *   JSON as text, and the text `q` searches; an index per exact filter
 *   ending in `(start, id)`, and a `pg_trgm` GIN index on the text when the
 *   extension can be created (`CREATE EXTENSION IF NOT EXISTS pg_trgm`;
 *   without it `q` still works, by scanning). A text that arrives before
 *   its manifest waits in a row whose `manifest` is NULL, which no query
 *   lists. One row, so a manifest and its text never race.
 * - `recording_tags` `(tag, start, id)`.
 *
 * A search (`q`) looks at growing windows of start time, newest first (an
 * hour, a day, a week, 30 days, then everything older), each one a single
 * `ORDER BY start DESC LIMIT` that PostgreSQL answers from the trigram
 * index and the start index together, and stops once the page is full: a
 * common word is found in the first hour instead of by reading every text
 * that contains it.
 *
 * Matching equals `runQuery`: `command` and the text are stored lowered by
 * JavaScript's `toLowerCase` and compared with the needle lowered the same
 * way, by `LIKE` with `\`, `%` and `_` escaped (which the trigram index
 * serves for three characters or more) or `strpos` for one or two, so
 * PostgreSQL's own case rules never apply. Two differences, both in bytes
 * PostgreSQL cannot store: NUL (U+0000) in a text or command is stored and
 * searched as U+FFFD (in any field: a manifest with one is still stored),
 * and lone UTF-16 surrogates become U+FFFD.
 *
 * Safe for several recorders on one database: migrations run in one
 * transaction under an advisory lock, `put` and `putText` are upserts of
 * one row, and a manifest's tags change in the transaction that changes
 * the manifest.
 *
 * @module
 */

import postgres from "postgres";
import type { RecordingPage, RecordingQuery } from "../query.ts";
import type { RecordingManifest } from "../storage.ts";
import type { IndexEntry, RecordingIndex } from "./recording_index.ts";
import { decodeCursor, encodeCursor } from "./_cursor.ts";
import { type IndexRow, indexRow } from "./_row.ts";
import { eventsMigration, PostgresEventIndex } from "./events_postgres.ts";

type Sql = postgres.Sql;
type Tx = postgres.TransactionSql;
type Param = string | number | null;

/** Migration steps: step `i` takes the schema from version `i` to `i + 1`. */
const MIGRATIONS: readonly ((tx: Tx) => Promise<void>)[] = [
  async (tx) => {
    await tx.unsafe(`
      CREATE TABLE recordings (
        id text COLLATE "C" PRIMARY KEY,
        start double precision,
        "user" text,
        host text,
        namespace text,
        pod text,
        container text,
        command text,
        exit_code double precision,
        status text,
        session_type text,
        manifest text,
        text text
      );
      CREATE INDEX recordings_start ON recordings (start, id);
      CREATE INDEX recordings_user ON recordings ("user", start, id);
      CREATE INDEX recordings_host ON recordings (host, start, id);
      CREATE INDEX recordings_namespace ON recordings (namespace, start, id);
      CREATE INDEX recordings_pod ON recordings (pod, start, id);
      CREATE INDEX recordings_container ON recordings (container, start, id);
      CREATE INDEX recordings_status ON recordings (status, start, id);
      CREATE INDEX recordings_exit ON recordings (exit_code, start, id);
      CREATE TABLE recording_tags (
        tag text COLLATE "C" NOT NULL,
        start double precision NOT NULL,
        id text COLLATE "C" NOT NULL,
        PRIMARY KEY (tag, start, id)
      );
      CREATE INDEX recording_tags_id ON recording_tags (id);
    `);
    const trgm = await tx.savepoint(async (sp) => {
      await sp.unsafe("CREATE EXTENSION IF NOT EXISTS pg_trgm");
      return true;
    }).catch(() => false);
    if (trgm) {
      await tx.unsafe(
        `CREATE INDEX recordings_text_trgm ON recordings
           USING gin (text gin_trgm_ops);
         CREATE INDEX recordings_command_trgm ON recordings
           USING gin (command gin_trgm_ops)`,
      );
    }
    // A search rechecks many texts: lz4 unpacks them far faster than the
    // default pglz (absent from builds without lz4: then the default).
    await tx.savepoint((sp) =>
      sp.unsafe(
        `ALTER TABLE recordings ALTER COLUMN text SET COMPRESSION lz4,
           ALTER COLUMN manifest SET COMPRESSION lz4`,
      )
    ).catch(() => {});
  },
  // API events (issue 12), `events_postgres.ts`.
  eventsMigration,
];

/**
 * Widths of the start-time windows a search reads, newest first, in
 * seconds back from the newest recording (or the cursor); the last is
 * everything.
 */
const WINDOWS = [3600, 86_400, 7 * 86_400, 30 * 86_400, Infinity];

/** `put`'s upsert of a manifest's row (its text stays). */
const UPSERT_MANIFEST = `INSERT INTO recordings (id, start, "user", host,
    namespace, pod, container, command, exit_code, status, session_type,
    manifest)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
  ON CONFLICT (id) DO UPDATE SET start = excluded.start,
    "user" = excluded."user", host = excluded.host,
    namespace = excluded.namespace, pod = excluded.pod,
    container = excluded.container, command = excluded.command,
    exit_code = excluded.exit_code, status = excluded.status,
    session_type = excluded.session_type, manifest = excluded.manifest`;
const DELETE_TAGS = "DELETE FROM recording_tags WHERE id = $1";
const INSERT_TAG = `INSERT INTO recording_tags (tag, start, id)
  VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`;
/** `putText`'s upsert (a row without manifest waits for its `put`). */
const UPSERT_TEXT = `INSERT INTO recordings (id, text) VALUES ($1, $2)
  ON CONFLICT (id) DO UPDATE SET text = excluded.text`;

/** The parameters of {@linkcode UPSERT_MANIFEST}. */
function manifestParams(r: IndexRow): Param[] {
  return [
    r.id,
    r.start,
    noNul(r.user),
    noNul(r.host),
    noNul(r.namespace),
    noNul(r.pod),
    noNul(r.container),
    noNul(r.command),
    r.exitCode,
    noNul(r.status),
    noNul(r.sessionType),
    r.json,
  ];
}

/** Options of {@linkcode PostgresIndex.open}. */
export interface PostgresIndexOptions {
  /** Most connections of the pool. @default {4} */
  max?: number;
  /** Seconds to wait for a connection. @default {10} */
  connectTimeoutSeconds?: number;
  /**
   * Below this many rows passing the other filters, `q` checks their texts
   * one by one instead of asking the trigram index. @default {2000}
   */
  scanBelowRows?: number;
}

/**
 * A {@linkcode RecordingIndex} in a PostgreSQL database.
 *
 * @example
 * ```ts ignore
 * import { PostgresIndex } from "./postgres_index.ts";
 * const index = await PostgresIndex.open("postgres://recorder@db/execgate");
 * console.log(await index.count());
 * await index.close();
 * ```
 */
export class PostgresIndex implements RecordingIndex {
  readonly describe: string;
  /** Whether the extension `pg_trgm` serves `q` (else `q` scans). */
  readonly trigrams: boolean;
  #sql: Sql;
  #scanBelow: number;

  private constructor(
    sql: Sql,
    describe: string,
    trigrams: boolean,
    scanBelow: number,
  ) {
    this.#sql = sql;
    this.#scanBelow = scanBelow;
    this.describe = describe;
    this.trigrams = trigrams;
  }

  /**
   * The API events kept in the same database (`events_postgres.ts`).
   * @returns The events index over this pool.
   */
  events(): PostgresEventIndex {
    return new PostgresEventIndex(this.#sql, this.describe);
  }

  /**
   * Connects and applies missing migrations (under an advisory lock, so
   * recorders starting together migrate once).
   * @param url Connection URL, `postgres://user:password@host:port/db`.
   * @param options Pool size and connect timeout.
   * @returns The index.
   * @throws {Error} When the database cannot be reached, or its schema
   * version is newer than this recorder knows (naming the database).
   */
  static async open(
    url: string,
    options: PostgresIndexOptions = {},
  ): Promise<PostgresIndex> {
    const where = safeName(url);
    const sql = postgres(url, {
      max: options.max ?? 4,
      connect_timeout: options.connectTimeoutSeconds ?? 10,
      onnotice: () => {},
    });
    try {
      await sql.begin(async (tx) => {
        await tx`SELECT pg_advisory_xact_lock(hashtext('execgate_schema'))`;
        await tx`CREATE TABLE IF NOT EXISTS execgate_schema (
          one boolean PRIMARY KEY DEFAULT true CHECK (one),
          version integer NOT NULL)`;
        const rows = await tx`SELECT version FROM execgate_schema`;
        const from = rows.length ? Number(rows[0]!.version) : 0;
        if (from > MIGRATIONS.length) {
          throw new Error(
            `Cannot use the recording index in ${where}: its schema version ${from} is newer than this recorder knows (${MIGRATIONS.length})`,
          );
        }
        for (let v = from; v < MIGRATIONS.length; v++) await MIGRATIONS[v]!(tx);
        await tx`INSERT INTO execgate_schema (version)
          VALUES (${MIGRATIONS.length})
          ON CONFLICT (one) DO UPDATE SET version = excluded.version`;
      });
      const trgm = await sql`SELECT 1 FROM pg_indexes
        WHERE indexname = 'recordings_text_trgm'
          AND schemaname = current_schema()`;
      return new PostgresIndex(
        sql,
        `postgres ${where}`,
        trgm.length > 0,
        options.scanBelowRows ?? 2000,
      );
    } catch (e) {
      await sql.end({ timeout: 5 });
      if ((e as Error).message.startsWith("Cannot use")) throw e;
      throw new Error(
        `Cannot open the recording index in ${where}: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }

  /**
   * Adds or replaces a manifest (an upsert; its text stays).
   * @param manifest The manifest.
   */
  async put(manifest: RecordingManifest): Promise<void> {
    const r = indexRow(manifest);
    await this.#sql.begin(async (tx) => {
      await tx.unsafe(UPSERT_MANIFEST, manifestParams(r), { prepare: true });
      await tx.unsafe(DELETE_TAGS, [r.id], { prepare: true });
      for (const tag of new Set(r.tags.map(noNul))) {
        await tx.unsafe(INSERT_TAG, [tag, r.start, r.id], { prepare: true });
      }
    });
  }

  /**
   * Adds or replaces a recording's text (stored lowered).
   * @param id The recording id.
   * @param text The text.
   */
  async putText(id: string, text: string): Promise<void> {
    await this.#sql.unsafe(UPSERT_TEXT, [id, noNul(text.toLowerCase())], {
      prepare: true,
    });
  }

  /**
   * Puts many manifests and their texts in one transaction (all or none):
   * the statements of `put` and `putText` for each entry, in order,
   * pipelined on one connection instead of a round trip and a commit each.
   * @param entries The recordings.
   */
  async putMany(entries: readonly IndexEntry[]): Promise<void> {
    const rows = entries.map((e) => ({
      r: indexRow(e.manifest),
      text: e.text === undefined ? undefined : noNul(e.text.toLowerCase()),
    }));
    if (rows.length === 0) return;
    await this.#sql.begin(async (tx) => {
      const sent: Promise<unknown>[] = [];
      const send = (query: string, params: Param[]) =>
        sent.push(tx.unsafe(query, params, { prepare: true }).execute());
      for (const { r, text } of rows) {
        send(UPSERT_MANIFEST, manifestParams(r));
        send(DELETE_TAGS, [r.id]);
        for (const tag of new Set(r.tags.map(noNul))) {
          send(INSERT_TAG, [tag, r.start, r.id]);
        }
        if (text !== undefined) send(UPSERT_TEXT, [r.id, text]);
      }
      // After a failure the rest fail too ("transaction is aborted"):
      // every rejection is awaited here, the first one is thrown.
      await Promise.all(sent);
    });
  }

  /**
   * Removes a recording, its tags and its text.
   * @param id The recording id.
   */
  async remove(id: string): Promise<void> {
    await this.#sql.begin(async (tx) => {
      for (const t of ["recordings", "recording_tags"]) {
        await tx.unsafe(`DELETE FROM ${t} WHERE id = $1`, [id], {
          prepare: true,
        });
      }
    });
  }

  /**
   * One page, as `runQuery` pages: newest start first, then id descending;
   * a cursor when a recording passing the filters (other than `q`) follows.
   * @param q The query.
   * @returns The page.
   * @throws {RangeError} On a cursor this recorder did not issue.
   */
  async query(q: RecordingQuery): Promise<RecordingPage> {
    const cursor = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    const params: Param[] = [];
    const p = (v: Param) => {
      params.push(v);
      return `$${params.length}`;
    };
    const base = buildWhere(q, p);
    const k = base.key;
    const where = [...base.where];
    if (cursor !== undefined) {
      where.push(`(${k}.start, ${k}.id) < (${p(cursor.t)}, ${p(cursor.id)})`);
    }
    const sql = (cols: string, w: string[], limit: string) =>
      `SELECT ${cols} FROM ${base.from} WHERE ${w.join(" AND ")}
       ORDER BY ${k}.start DESC, ${k}.id DESC LIMIT ${limit}`;
    const cols = `r.manifest AS m, ${k}.start AS s, ${k}.id AS i`;
    type Row = { m: string; s: number; i: string };
    if (q.q === undefined) {
      const rows = await this.#sql.unsafe(
        sql(cols, where, p(q.limit + 1)),
        params,
        { prepare: true },
      ) as unknown as Row[];
      const page = rows.slice(0, q.limit);
      const last = page[page.length - 1];
      const items = page.map((r) => JSON.parse(r.m) as RecordingManifest);
      return rows.length > q.limit && last !== undefined
        ? { items, nextCursor: encodeCursor({ t: last.s, id: last.i }) }
        : { items };
    }
    const needle = noNul(q.q.toLowerCase());
    const filtered = params.length;
    const pn = [...needle].length >= 3 ? p(likeAnywhere(needle)) : p(needle);
    const textCond = (col: string) =>
      [...needle].length >= 3
        ? `${col} LIKE ${pn}`
        : `strpos(${col}, ${pn}) > 0`;
    const windowed = [
      ...where,
      textCond("r.text"),
      `${k}.start >= $${params.length + 1}`,
      `${k}.start < $${params.length + 2}`,
    ];
    const search = sql(cols, windowed, `$${params.length + 3}`);
    // A page of a few filtered rows is cheapest by checking each one's text
    // (PostgreSQL cannot tell how common a LIKE needle is, and would rather
    // read every text the trigram index offers).
    const few = where.length > 1 && (await this.#sql.unsafe(
          `SELECT count(*)::float8 AS n FROM (SELECT 1 FROM ${base.from}
         WHERE ${where.join(" AND ")} LIMIT ${this.#scanBelow}) f`,
          params.slice(0, filtered),
          { prepare: true },
        ))[0]!.n < this.#scanBelow;
    const top = few ? undefined : cursor?.t ?? await this.#newest();
    const rows: Row[] = [];
    if (few) {
      rows.push(
        ...await this.#sql.unsafe(
          `SELECT f.m, f.s, f.i FROM (
             SELECT ${cols}, r.text AS t FROM ${base.from}
             WHERE ${where.join(" AND ")}
             ORDER BY ${k}.start DESC, ${k}.id DESC LIMIT ${this.#scanBelow}) f
           WHERE ${textCond("f.t")}
           ORDER BY f.s DESC, f.i DESC LIMIT $${params.length + 1}`,
          [...params, q.limit],
          { prepare: true },
        ) as unknown as Row[],
      );
    }
    let hi = few ? -Infinity : Infinity;
    for (const width of WINDOWS) {
      const lo = top === undefined ? -Infinity : top - width;
      if (lo < hi) {
        rows.push(
          ...await this.#sql.unsafe(search, [
            ...params,
            lo,
            hi,
            q.limit - rows.length,
          ], { prepare: true }) as unknown as Row[],
        );
      }
      if (rows.length === q.limit) break;
      hi = Math.min(hi, lo);
    }
    const items = rows.map((r) => JSON.parse(r.m) as RecordingManifest);
    const last = rows[rows.length - 1];
    if (last === undefined || rows.length < q.limit) return { items };
    // runQuery issues a cursor when any recording passing the filters (not
    // q) follows the last item, even if no later one matches q.
    const after = params.slice(0, filtered);
    const a = (v: Param) => {
      after.push(v);
      return `$${after.length}`;
    };
    const w = [
      ...where,
      `(${k}.start, ${k}.id) < (${a(last.s)}, ${a(last.i)})`,
    ];
    const more = (await this.#sql.unsafe(sql("1 AS one", w, a(1)), after, {
      prepare: true,
    })).length > 0;
    return more
      ? { items, nextCursor: encodeCursor({ t: last.s, id: last.i }) }
      : { items };
  }

  /** The newest start time indexed, or `undefined` when there is none. */
  async #newest(): Promise<number | undefined> {
    const rows = await this.#sql`SELECT max(start) AS t FROM recordings`;
    const t = rows[0]?.t;
    return typeof t === "number" ? t : undefined;
  }

  /**
   * Ids that started before a time and are not live, oldest first (ties by
   * id ascending).
   * @param beforeSeconds Unix seconds.
   * @param limit Most ids returned.
   * @returns The ids.
   */
  async expired(beforeSeconds: number, limit: number): Promise<string[]> {
    const rows = await this.#sql.unsafe(
      `SELECT id FROM recordings WHERE start < $1 AND status <> 'recording'
         AND manifest IS NOT NULL
       ORDER BY start, id LIMIT $2`,
      [beforeSeconds, limit],
      { prepare: true },
    );
    return rows.map((r) => r.id as string);
  }

  /** @returns How many recordings the index holds. */
  async count(): Promise<number> {
    const rows = await this.#sql`SELECT count(*)::float8 AS n FROM recordings
      WHERE manifest IS NOT NULL`;
    return Number(rows[0]!.n);
  }

  /** Empties every table. */
  async clear(): Promise<void> {
    await this.#sql`TRUNCATE recordings, recording_tags`;
  }

  /** Closes the pool (waiting at most 5 s for queries in flight). */
  async close(): Promise<void> {
    await this.#sql.end({ timeout: 5 });
  }
}

/** The `FROM`, the filters (not `q`, not the cursor) and the order key. */
function buildWhere(
  q: RecordingQuery,
  p: (v: Param) => string,
): { from: string; key: "r" | "g"; where: string[] } {
  const where: string[] = ["r.manifest IS NOT NULL"];
  const key = q.tag !== undefined ? "g" : "r";
  if (q.tag !== undefined) where.push(`g.tag = ${p(noNul(q.tag))}`);
  const exact = [
    [`"user"`, q.user],
    ["host", q.host],
    ["namespace", q.namespace],
    ["pod", q.pod],
    ["container", q.container],
    ["status", q.status],
  ] as const;
  for (const [col, v] of exact) {
    if (v !== undefined) where.push(`r.${col} = ${p(noNul(v))}`);
  }
  if (q.exit !== undefined) where.push(`r.exit_code = ${p(q.exit)}`);
  if (q.command !== undefined) {
    // LIKE lets the trigram index answer three characters or more.
    const needle = noNul(q.command.toLowerCase());
    where.push(
      [...needle].length >= 3
        ? `r.command LIKE ${p(likeAnywhere(needle))}`
        : `strpos(r.command, ${p(needle)}) > 0`,
    );
  }
  if (q.from !== undefined) where.push(`${key}.start >= ${p(q.from)}`);
  if (q.to !== undefined) where.push(`${key}.start < ${p(q.to)}`);
  return {
    from: key === "g"
      ? "recording_tags g JOIN recordings r ON r.id = g.id"
      : "recordings r",
    key,
    where,
  };
}

/** A LIKE pattern matching `s` anywhere (`\\`, `%`, `_` escaped). */
function likeAnywhere(s: string): string {
  return `%${s.replace(/[\\%_]/g, "\\$&")}%`;
}

/** PostgreSQL text cannot hold NUL: U+FFFD instead, in values and needles. */
function noNul<T extends string | null>(s: T): T {
  return s !== null && s.includes("\0") ? s.replaceAll("\0", "\uFFFD") as T : s;
}

/** `host:port/database` of a URL, never its credentials. */
function safeName(url: string): string {
  try {
    const u = new URL(url);
    return JSON.stringify(`${u.hostname}:${u.port || "5432"}${u.pathname}`);
  } catch {
    return "the configured database";
  }
}
