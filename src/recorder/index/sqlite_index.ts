/**
 * The recording index in one SQLite file (`node:sqlite`), for a recorder
 * with local disk.
 *
 * Schema (version 2, `PRAGMA user_version`, WAL journal):
 *
 * - `recordings`: one row per recording, one column per filter (`start` is
 *   `startTime(m)` in Unix seconds as REAL, used for order and `from`/`to`),
 *   and the manifest JSON; an index per exact filter, each ending in
 *   `(start, id)` so a filtered page is read in order and stops at `limit`.
 *   Its rowid `doc` sorts like `start` (`_doc_key.ts`). Version 2 added
 *   `(command, start, id)`: a `command` filter first reads the distinct
 *   commands from it (when there are at most 1,000) and answers a command
 *   that contains the needle nowhere at once instead of scanning every row;
 *   a list whose commands are at most 64 reads each one's newest rows from
 *   it and merges them.
 * - `recording_tags` `(tag, start, id)`: `tag` pages in order as well.
 * - `recording_text`: an FTS5 table (`trigram case_sensitive 0`) whose
 *   rowid is the recording's `doc`; `recording_pending_texts` holds a text
 *   that arrived before its manifest.
 *
 * `q` of three or more characters is one quoted FTS5 phrase (quotes
 * doubled, so `*`, `OR`, `NEAR`, `:` … are literal), read newest `doc`
 * first and rechecked with `instr`, so a page stops once it is full. With
 * other filters, the texts of the newest `scanBelowRows` rows passing them
 * are checked in order with `instr` first, and the full-text index only
 * answers for the older rows if the page is not full by then; for one or
 * two characters (which trigrams cannot answer) every filtered row's text
 * is checked in order.
 *
 * Case-insensitive matching (`command`, `q`) equals `runQuery`'s
 * `String.prototype.toLowerCase` exactly, also for non-ASCII text: the
 * command and the text are stored already lowered by JavaScript, the needle
 * is lowered the same way, and the final test is `instr` on those (the
 * tokenizer's own folding only widens the candidates: it would match `"s"`
 * in `"ſ"`, which `toLowerCase` does not, and the recheck drops it). The
 * only difference left: SQLite stores UTF-8, so a lone UTF-16 surrogate in
 * a text or needle becomes U+FFFD.
 *
 * Calls are synchronous underneath (`DatabaseSync`): each one blocks the
 * event loop for its duration (a few milliseconds for a put with its
 * text, see `scripts/index_bench.ts`).
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { EVENTS_MIGRATION, SqliteEventIndex } from "./events_sqlite.ts";
import type { RecordingPage, RecordingQuery } from "../query.ts";
import type { RecordingManifest } from "../storage.ts";
import type { IndexEntry, RecordingIndex } from "./recording_index.ts";
import { decodeCursor, encodeCursor } from "./_cursor.ts";
import { type IndexRow, indexRow } from "./_row.ts";
import { DOCS_PER_SECOND, docSecond, trigramMatch } from "./_doc_key.ts";

/**
 * The schema, one step per version: step `i` takes the file from version
 * `i` to `i + 1`. Append, never edit a step that shipped.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE recordings (
     doc INTEGER PRIMARY KEY,
     id TEXT NOT NULL UNIQUE,
     start REAL NOT NULL,
     user TEXT,
     host TEXT,
     namespace TEXT,
     pod TEXT,
     container TEXT,
     command TEXT NOT NULL,
     exit_code INTEGER,
     status TEXT NOT NULL,
     session_type TEXT,
     manifest TEXT NOT NULL
   );
   CREATE INDEX recordings_start ON recordings (start, id, command);
   CREATE INDEX recordings_user ON recordings (user, start, id);
   CREATE INDEX recordings_host ON recordings (host, start, id);
   CREATE INDEX recordings_namespace ON recordings (namespace, start, id);
   CREATE INDEX recordings_pod ON recordings (pod, start, id);
   CREATE INDEX recordings_container ON recordings (container, start, id);
   CREATE INDEX recordings_status ON recordings (status, start, id);
   CREATE INDEX recordings_exit ON recordings (exit_code, start, id);
   CREATE TABLE recording_tags (
     tag TEXT NOT NULL,
     start REAL NOT NULL,
     id TEXT NOT NULL,
     PRIMARY KEY (tag, start, id)
   ) WITHOUT ROWID;
   CREATE INDEX recording_tags_id ON recording_tags (id);
   CREATE TABLE recording_pending_texts (
     id TEXT PRIMARY KEY NOT NULL,
     text TEXT NOT NULL
   );
   CREATE VIRTUAL TABLE recording_text USING fts5 (
     text,
     tokenize = 'trigram case_sensitive 0'
   );`,
  // The distinct commands, for a command filter (see #commandsContaining).
  `CREATE INDEX recordings_command ON recordings (command, start, id);`,
  // API events (issue 12), `events_sqlite.ts`.
  EVENTS_MIGRATION,
];

/** Most distinct commands read to answer a command filter from them. */
const COMMAND_SCAN = 1000;
/** Most commands a list merges from their own rows (one branch each). */
const COMMAND_BRANCHES = 64;

/** Tables every known version has. */
const TABLES = [
  "recordings",
  "recording_tags",
  "recording_pending_texts",
  "recording_text",
  "api_events",
];

/** SQLite result codes that mean "this file is not a usable database". */
const CORRUPT_CODES = new Set([11, 26]); // SQLITE_CORRUPT, SQLITE_NOTADB

/**
 * Thrown when the index file cannot be used as it is: not a database,
 * damaged, or a schema this recorder does not know. The caller may move it
 * aside and rebuild ({@linkcode openSqliteIndex} does).
 */
export class SqliteIndexCorruptError extends Error {
  /** The index file. */
  readonly path: string;
  /** What is wrong with it. */
  readonly problem: string;
  /**
   * @param path The index file.
   * @param problem What is wrong with it.
   * @param options The underlying error, if any.
   */
  constructor(path: string, problem: string, options?: ErrorOptions) {
    super(
      `Cannot open the recording index ${JSON.stringify(path)}: ${problem}`,
      options,
    );
    this.name = "SqliteIndexCorruptError";
    this.path = path;
    this.problem = problem;
  }
}

/** Options of {@linkcode SqliteIndex}. */
export interface SqliteIndexOptions {
  /** Page cache, KiB. @default {8192} */
  cacheKiB?: number;
  /**
   * `PRAGMA soft_heap_limit` in MiB: SQLite frees cache to stay under it.
   * It applies to the whole process (every SQLite connection in it); 0
   * leaves the limit as it is. @default {48}
   */
  softHeapLimitMiB?: number;
  /**
   * How many of the newest rows passing the other filters `q` checks text
   * by text before it reads the full-text index for the older ones (0:
   * the full-text index alone). @default {2000}
   */
  scanBelowRows?: number;
}

type Param = string | number | null;

/**
 * A {@linkcode RecordingIndex} in a SQLite file.
 *
 * @example
 * ```ts
 * import { SqliteIndex } from "./sqlite_index.ts";
 * import type { RecordingManifest } from "../storage.ts";
 *
 * const index = new SqliteIndex(":memory:");
 * await index.put({
 *   id: "2026/11/27/a",
 *   sessionId: "a",
 *   status: "complete",
 *   header: { timestamp: 1_790_000_000, command: "SH -c id" },
 *   castBytes: 0,
 *   startedAt: 0,
 *   updatedAt: 0,
 * } as RecordingManifest);
 * await index.putText("2026/11/27/a", "uid=0(root)");
 * const page = await index.query({ command: "sh", q: "(ROOT", limit: 10 });
 * if (page.items.length !== 1) throw new Error("not found");
 * await index.close();
 * ```
 */
export class SqliteIndex implements RecordingIndex {
  readonly describe: string;
  /** Whether this open created the schema (the index is empty: reindex). */
  readonly created: boolean;
  #path: string;
  #db: DatabaseSync | undefined;
  #statements = new Map<string, StatementSync>();
  #scanBelow: number;

  /**
   * Opens (creating or migrating) the index file.
   * @param path The file, or `":memory:"`.
   * @param options Tuning.
   * @throws {SqliteIndexCorruptError} When the file is not a database, is
   * damaged, or holds a schema this recorder does not know.
   */
  constructor(path: string, options: SqliteIndexOptions = {}) {
    this.#path = path;
    this.describe = `sqlite ${path}`;
    this.#scanBelow = options.scanBelowRows ?? 2000;
    const db = new DatabaseSync(path);
    try {
      this.created = migrate(db, path, options.cacheKiB ?? 8192);
      const limit = options.softHeapLimitMiB ?? 48;
      if (limit > 0) {
        db.exec(`PRAGMA soft_heap_limit = ${Math.floor(limit * 1048576)}`);
      }
    } catch (e) {
      db.close();
      const code = (e as { errcode?: number }).errcode;
      if (code !== undefined && CORRUPT_CODES.has(code)) {
        throw new SqliteIndexCorruptError(path, (e as Error).message, {
          cause: e,
        });
      }
      throw e;
    }
    this.#db = db;
  }

  /**
   * The API events kept in the same file (`events_sqlite.ts`).
   * @returns The events index over this connection.
   */
  events(): SqliteEventIndex {
    return new SqliteEventIndex(() => this.#open(), this.describe);
  }

  #open(): DatabaseSync {
    if (this.#db === undefined) {
      throw new Error(
        `Cannot use the recording index ${
          JSON.stringify(this.#path)
        }: it is closed`,
      );
    }
    return this.#db;
  }

  #stmt(sql: string): StatementSync {
    let s = this.#statements.get(sql);
    if (s === undefined) {
      s = this.#open().prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }

  /** Runs `fn` in a write transaction; its errors become a rejection. */
  #tx<T>(fn: () => T): Promise<T> {
    return settle(() => {
      const db = this.#open();
      db.exec("BEGIN IMMEDIATE");
      try {
        const v = fn();
        db.exec("COMMIT");
        return v;
      } catch (e) {
        db.exec("ROLLBACK");
        throw e;
      }
    });
  }

  /**
   * Adds or replaces a manifest (its text stays; a start time in another
   * second moves the row and its text to a new `doc`).
   * @param manifest The manifest.
   */
  put(manifest: RecordingManifest): Promise<void> {
    const r = indexRow(manifest);
    return this.#tx(() => this.#putRow(r));
  }

  /**
   * Puts many manifests and their texts in one transaction (all or none):
   * what `put` and then `putText` do for each, in order, where a text
   * goes straight into the row's `doc`.
   * @param entries The recordings.
   */
  putMany(entries: readonly IndexEntry[]): Promise<void> {
    let rows: { r: IndexRow; text: string | undefined }[];
    try {
      rows = entries.map((e) => ({
        r: indexRow(e.manifest),
        text: e.text?.toLowerCase(),
      }));
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#tx(() => {
      for (const { r, text } of rows) this.#putRow(r, text);
    });
  }

  /**
   * A put inside a transaction; `text` (lowered), when given, replaces the
   * recording's text as `putText` would.
   */
  #putRow(r: IndexRow, text?: string): void {
    const old = this.#stmt("SELECT doc, start FROM recordings WHERE id = ?")
      .get(r.id) as { doc: number; start: number } | undefined;
    const values = [
      r.id,
      r.start,
      r.user,
      r.host,
      r.namespace,
      r.pod,
      r.container,
      r.command,
      r.exitCode,
      r.status,
      r.sessionType,
      r.json,
    ];
    if (old !== undefined && docSecond(old.start) === docSecond(r.start)) {
      this.#stmt(
        `UPDATE recordings SET id = ?, start = ?, user = ?, host = ?,
           namespace = ?, pod = ?, container = ?, command = ?,
           exit_code = ?, status = ?, session_type = ?, manifest = ?
         WHERE doc = ?`,
      ).run(...values, old.doc);
      if (text !== undefined) this.#setText(old.doc, text);
    } else {
      let kept: string | undefined;
      if (old !== undefined) {
        kept = text === undefined ? this.#textOf(old.doc) : undefined;
        this.#stmt("DELETE FROM recording_text WHERE rowid = ?").run(old.doc);
        this.#stmt("DELETE FROM recordings WHERE doc = ?").run(old.doc);
      } else {
        kept = (this.#stmt(
          "DELETE FROM recording_pending_texts WHERE id = ? RETURNING text",
        ).get(r.id) as { text: string } | undefined)?.text;
      }
      const doc = this.#nextDoc(r.start);
      this.#stmt(
        `INSERT INTO recordings (doc, id, start, user, host, namespace, pod,
           container, command, exit_code, status, session_type, manifest)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(doc, ...values);
      const t = text ?? kept;
      if (t !== undefined) {
        this.#stmt("INSERT INTO recording_text (rowid, text) VALUES (?, ?)")
          .run(doc, t);
      }
    }
    this.#stmt("DELETE FROM recording_tags WHERE id = ?").run(r.id);
    const tag = this.#stmt(
      "INSERT INTO recording_tags (tag, start, id) VALUES (?, ?, ?)",
    );
    for (const t of r.tags) tag.run(t, r.start, r.id);
  }

  /** Replaces the (lowered) text of an existing doc. */
  #setText(doc: number, lowered: string): void {
    this.#stmt("DELETE FROM recording_text WHERE rowid = ?").run(doc);
    this.#stmt("INSERT INTO recording_text (rowid, text) VALUES (?, ?)")
      .run(doc, lowered);
  }

  /** The stored (lowered) text of a doc. */
  #textOf(doc: number): string | undefined {
    return (this.#stmt("SELECT text FROM recording_text WHERE rowid = ?")
      .get(doc) as { text: string } | undefined)?.text;
  }

  /** A free doc number in the second of `start`. */
  #nextDoc(start: number): number {
    const base = docSecond(start) * DOCS_PER_SECOND;
    const row = this.#stmt(
      "SELECT max(doc) AS m FROM recordings WHERE doc >= ? AND doc < ?",
    ).get(base, base + DOCS_PER_SECOND) as { m: number | null };
    const doc = row.m === null ? base : row.m + 1;
    if (doc >= base + DOCS_PER_SECOND) {
      throw new RangeError(
        `Cannot index a recording starting at ${start}: more than ${DOCS_PER_SECOND} recordings start in second ${
          docSecond(start)
        }`,
      );
    }
    return doc;
  }

  /**
   * Adds or replaces a recording's text (stored lowered; kept aside until
   * the manifest arrives when it comes first).
   * @param id The recording id.
   * @param text The text.
   */
  putText(id: string, text: string): Promise<void> {
    const lowered = text.toLowerCase();
    return this.#tx(() => {
      const row = this.#stmt("SELECT doc FROM recordings WHERE id = ?")
        .get(id) as { doc: number } | undefined;
      if (row === undefined) {
        this.#stmt(
          "INSERT OR REPLACE INTO recording_pending_texts (id, text) VALUES (?, ?)",
        ).run(id, lowered);
        return;
      }
      this.#setText(row.doc, lowered);
    });
  }

  /**
   * Removes a recording, its tags and its text.
   * @param id The recording id.
   */
  remove(id: string): Promise<void> {
    return this.#tx(() => {
      const row = this.#stmt(
        "DELETE FROM recordings WHERE id = ? RETURNING doc",
      )
        .get(id) as { doc: number } | undefined;
      if (row !== undefined) {
        this.#stmt("DELETE FROM recording_text WHERE rowid = ?").run(row.doc);
      }
      this.#stmt("DELETE FROM recording_tags WHERE id = ?").run(id);
      this.#stmt("DELETE FROM recording_pending_texts WHERE id = ?").run(id);
    });
  }

  /**
   * One page, as `runQuery` pages: newest start first, then id descending;
   * a cursor when a recording passing the filters (other than `q`) follows.
   * @param q The query.
   * @returns The page.
   * @throws {RangeError} On a cursor this recorder did not issue.
   */
  query(q: RecordingQuery): Promise<RecordingPage> {
    return settle(() => this.#query(q));
  }

  #query(q: RecordingQuery): RecordingPage {
    const cursor = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    const base = buildWhere(q);
    const k = base.key;
    if (base.command !== undefined) {
      const commands = this.#commandsContaining(base.command.needle);
      // No recording passes the filters: no page, no cursor.
      if (commands?.length === 0) return { items: [] };
      if (
        commands !== undefined && commands.length <= COMMAND_BRANCHES &&
        q.q === undefined && !base.driven
      ) {
        return this.#listByCommands(q, base, commands, cursor);
      }
    }
    const where = [...base.where];
    const params = [...base.params];
    if (cursor !== undefined) {
      where.push(`(${k}.start, ${k}.id) < (?, ?)`);
      params.push(cursor.t, cursor.id);
    }
    const sql = (cols: string, w: string[], order: string) =>
      `SELECT ${cols} FROM ${base.from}${
        w.length ? ` WHERE ${w.join(" AND ")}` : ""
      } ORDER BY ${order} LIMIT ?`;
    const byStart = `${k}.start DESC, ${k}.id DESC`;
    const cols = `r.manifest AS m, ${k}.start AS s, ${k}.id AS i`;
    type Row = { m: string; s: number; i: string };
    let rows: Row[];
    if (q.q === undefined) {
      rows = this.#stmt(sql(cols, where, byStart)).all(
        ...params,
        q.limit + 1,
      ) as Row[];
      const page = rows.slice(0, q.limit);
      const last = page[page.length - 1];
      const items = page.map((r) => JSON.parse(r.m) as RecordingManifest);
      return rows.length > q.limit && last !== undefined
        ? { items, nextCursor: encodeCursor({ t: last.s, id: last.i }) }
        : { items };
    }
    const needle = q.q.toLowerCase();
    const match = trigramMatch(needle);
    if (match === undefined) {
      // One or two characters: trigrams cannot help, every text is checked.
      rows = this.#stmt(sql(
        cols,
        [
          ...where,
          `EXISTS (SELECT 1 FROM recording_text x
             WHERE x.rowid = r.doc AND instr(x.text, ?) > 0)`,
        ],
        byStart,
      )).all(...params, needle, q.limit) as Row[];
    } else if (where.length > 0 && this.#scanBelow > 0) {
      // With filters, the newest rows passing them are checked text by text
      // first (up to scanBelowRows): a common word fills the page there,
      // where the full-text index would read every newer recording holding
      // it. Only what that did not settle, the rows older than the last one
      // checked, goes to the full-text index.
      const checked = this.#checkTexts(base.from, k, where, params, needle, q);
      rows = checked.rows;
      if (rows.length < q.limit && checked.last !== undefined) {
        const older = `(${k}.start, ${k}.id) < (?, ?)`;
        rows.push(...this.#search(
          k,
          [...where, older],
          [...params, checked.last.s, checked.last.i],
          checked.last.s,
          match,
          needle,
          q.limit - rows.length,
        ));
      }
    } else {
      rows = this.#search(k, where, params, cursor?.t, match, needle, q.limit);
    }
    const items = rows.map((r) => JSON.parse(r.m) as RecordingManifest);
    const last = rows[rows.length - 1];
    if (last === undefined || rows.length < q.limit) return { items };
    // runQuery issues a cursor when any recording passing the filters (not
    // q) follows the last item, even if no later one matches q.
    const more = this.#stmt(
      sql("1 AS one", [...where, `(${k}.start, ${k}.id) < (?, ?)`], byStart),
    ).all(...params, last.s, last.i, 1).length > 0;
    return more
      ? { items, nextCursor: encodeCursor({ t: last.s, id: last.i }) }
      : { items };
  }

  /**
   * Checks the texts of the newest rows passing `where`, in order, until
   * `q.limit` contain `needle` or `scanBelowRows` were checked.
   * @returns The rows found, and the last row checked when the check
   * stopped at `scanBelowRows` without filling the page (older rows are
   * not settled yet).
   */
  #checkTexts(
    from: string,
    k: "r" | "g",
    where: string[],
    params: Param[],
    needle: string,
    q: RecordingQuery,
  ): {
    rows: { m: string; s: number; i: string }[];
    last?: { s: number; i: string };
  } {
    const statement = this.#stmt(
      `SELECT r.manifest AS m, ${k}.start AS s, ${k}.id AS i,
         EXISTS (SELECT 1 FROM recording_text x
           WHERE x.rowid = r.doc AND instr(x.text, ?) > 0) AS hit
       FROM ${from} WHERE ${where.join(" AND ")}
       ORDER BY ${k}.start DESC, ${k}.id DESC LIMIT ?`,
    );
    type Row = { m: string; s: number; i: string; hit: number };
    const rows: { m: string; s: number; i: string }[] = [];
    let checked = 0;
    let last: Row | undefined;
    for (const row of statement.iterate(needle, ...params, this.#scanBelow)) {
      last = row as Row;
      checked++;
      if (last.hit) rows.push({ m: last.m, s: last.s, i: last.i });
      if (rows.length === q.limit) return { rows };
    }
    return checked === this.#scanBelow && last !== undefined
      ? { rows, last: { s: last.s, i: last.i } }
      : { rows };
  }

  /**
   * The distinct stored commands, each with whether it contains `needle`
   * (`instr`, as the filter compares), read by skipping through
   * `recordings_command`: one seek per distinct command.
   * @returns The commands containing it, or `undefined` when there are more
   * than {@linkcode COMMAND_SCAN} distinct commands (then the rows are
   * scanned as before).
   */
  #commandsContaining(needle: string): string[] | undefined {
    const rows = this.#stmt(
      `WITH RECURSIVE c(v) AS (
         SELECT (SELECT min(command) FROM recordings)
         UNION ALL
         SELECT (SELECT min(command) FROM recordings WHERE command > c.v)
         FROM c WHERE c.v IS NOT NULL
         LIMIT ?)
       SELECT v, instr(v, ?) > 0 AS hit FROM c WHERE v IS NOT NULL`,
    ).all(COMMAND_SCAN + 2, needle) as { v: string; hit: number }[];
    if (rows.length > COMMAND_SCAN) return undefined;
    return rows.filter((r) => r.hit).map((r) => r.v);
  }

  /**
   * A list page (no `q`, no tag or exact filter) whose command filter
   * matches a few distinct commands: each command's newest rows from
   * `recordings_command`, merged, instead of scanning every row in start
   * order for the ones whose command contains the needle (a rare command
   * was a scan of the whole table).
   */
  #listByCommands(
    q: RecordingQuery,
    base: ReturnType<typeof buildWhere>,
    commands: string[],
    cursor: { t: number; id: string } | undefined,
  ): RecordingPage {
    const at = base.command!.at;
    const rest = base.where.filter((_, i) => i !== at);
    const restParams = base.params.filter((_, i) => i !== at);
    if (cursor !== undefined) {
      rest.push("(r.start, r.id) < (?, ?)");
      restParams.push(cursor.t, cursor.id);
    }
    const branch = `SELECT * FROM (
        SELECT r.manifest AS m, r.start AS s, r.id AS i
        FROM recordings r INDEXED BY recordings_command
        WHERE ${["r.command = ?", ...rest].join(" AND ")}
        ORDER BY r.start DESC, r.id DESC LIMIT ?)`;
    const params: Param[] = [];
    for (const c of commands) params.push(c, ...restParams, q.limit + 1);
    type Row = { m: string; s: number; i: string };
    const rows = this.#stmt(
      `${
        commands.map(() => branch).join(" UNION ALL ")
      } ORDER BY s DESC, i DESC LIMIT ?`,
    ).all(...params, q.limit + 1) as Row[];
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    const items = page.map((r) => JSON.parse(r.m) as RecordingManifest);
    return rows.length > q.limit && last !== undefined
      ? { items, nextCursor: encodeCursor({ t: last.s, id: last.i }) }
      : { items };
  }

  /**
   * The first `limit` recordings whose text contains `needle`, exactly
   * ordered: reads the FTS matches newest `doc` first, then the rest of
   * the last one's second (docs are ordered by second only), and sorts.
   */
  #search(
    k: "r" | "g",
    where: string[],
    params: Param[],
    cursorT: number | undefined,
    match: string,
    needle: string,
    limit: number,
  ): { m: string; s: number; i: string }[] {
    type Row = { m: string; s: number; i: string; d: number };
    const from = `recording_text x JOIN recordings r ON r.doc = x.rowid${
      k === "g" ? " JOIN recording_tags g ON g.id = r.id" : ""
    }`;
    const w = [
      "recording_text MATCH ?",
      "instr(x.text, ?) > 0",
      ...where,
    ];
    const p: Param[] = [match, needle, ...params];
    if (cursorT !== undefined) {
      w.push("x.rowid <= ?");
      p.push((docSecond(cursorT) + 1) * DOCS_PER_SECOND - 1);
    }
    const run = (extra: string[], extraParams: Param[], n: number) =>
      this.#stmt(
        `SELECT r.manifest AS m, ${k}.start AS s, ${k}.id AS i, x.rowid AS d
         FROM ${from}
         WHERE ${[...w, ...extra].join(" AND ")}
         ORDER BY x.rowid DESC LIMIT ?`,
      ).all(...p, ...extraParams, n) as Row[];
    const rows = run([], [], limit);
    const last = rows[rows.length - 1];
    if (rows.length === limit && last !== undefined) {
      // The rest of the last row's second, if any: the recordings of that
      // second by their doc key, each text checked with instr. Not FTS5
      // with a rowid range: MATCH with BETWEEN reads every match of the
      // needle whatever the range (8 s for a 3-letter word in 300,000 of
      // 1,000,000 texts), where this reads the few docs of one second.
      const second = Math.floor(last.d / DOCS_PER_SECOND) * DOCS_PER_SECOND;
      if (last.d > second) {
        rows.push(
          ...this.#stmt(
            `SELECT r.manifest AS m, ${k}.start AS s, ${k}.id AS i, r.doc AS d
             FROM recordings r JOIN recording_text x ON x.rowid = r.doc${
              k === "g" ? " JOIN recording_tags g ON g.id = r.id" : ""
            }
             WHERE ${
              [
                "r.doc BETWEEN ? AND ?",
                "instr(x.text, ?) > 0",
                ...where,
              ].join(" AND ")
            }
             ORDER BY r.doc DESC`,
          ).all(second, last.d - 1, needle, ...params) as Row[],
        );
      }
    }
    rows.sort((a, b) => b.s - a.s || (a.i < b.i ? 1 : a.i > b.i ? -1 : 0));
    return rows.slice(0, limit);
  }

  /**
   * Ids that started before a time and are not live, oldest first (ties by
   * id ascending).
   * @param beforeSeconds Unix seconds.
   * @param limit Most ids returned.
   * @returns The ids.
   */
  expired(beforeSeconds: number, limit: number): Promise<string[]> {
    return settle(() =>
      (this.#stmt(
        `SELECT id FROM recordings WHERE start < ? AND status <> 'recording'
         ORDER BY start, id LIMIT ?`,
      ).all(beforeSeconds, limit) as { id: string }[]).map((r) => r.id)
    );
  }

  /** @returns How many recordings the index holds. */
  count(): Promise<number> {
    return settle(() =>
      (this.#stmt("SELECT count(*) AS n FROM recordings").get() as {
        n: number;
      }).n
    );
  }

  /** Empties every table. */
  clear(): Promise<void> {
    return this.#tx(() => {
      for (const t of TABLES) this.#stmt(`DELETE FROM ${t}`).run();
    });
  }

  /** Updates the planner's statistics and closes the file (idempotent). */
  close(): Promise<void> {
    return settle(() => {
      const db = this.#db;
      if (db === undefined) return;
      this.#db = undefined;
      this.#statements.clear();
      try {
        db.exec("PRAGMA optimize");
      } finally {
        db.close();
      }
    });
  }
}

/** `fn()` as a promise: what it throws becomes a rejection. */
function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(e);
  }
}

/** The `FROM`, the filters (not `q`, not the cursor) and the order key. */
function buildWhere(q: RecordingQuery): {
  from: string;
  key: "r" | "g";
  where: string[];
  params: Param[];
  /** Where the command filter is in `where` and `params`, and its needle. */
  command?: { at: number; needle: string };
  /** Whether a tag or an exact filter drives the query through its index. */
  driven: boolean;
} {
  const where: string[] = [];
  const params: Param[] = [];
  const key = q.tag !== undefined ? "g" : "r";
  if (q.tag !== undefined) {
    where.push("g.tag = ?");
    params.push(q.tag);
  }
  // Most selective first: only the first present drives the query through
  // its index ("+" keeps the planner off the others' indexes, which
  // without statistics it may prefer: container "main" is half the rows).
  const exact = [
    ["pod", q.pod],
    ["host", q.host],
    ["user", q.user],
    ["namespace", q.namespace],
    ["container", q.container],
  ] as const;
  let selective = q.tag !== undefined;
  for (const [col, v] of exact) {
    if (v === undefined) continue;
    where.push(`${selective ? "+" : ""}r.${col} = ?`);
    params.push(v);
    selective = true;
  }
  // Status and exit code have few values: their index only drives a query
  // that has no more selective filter.
  const weak = selective ? "+" : "";
  if (q.status !== undefined) {
    where.push(`${weak}r.status = ?`);
    params.push(q.status);
  }
  if (q.exit !== undefined) {
    where.push(`${weak}r.exit_code = ?`);
    params.push(q.exit);
  }
  let command: { at: number; needle: string } | undefined;
  if (q.command !== undefined) {
    command = { at: where.length, needle: q.command.toLowerCase() };
    where.push("instr(r.command, ?) > 0");
    params.push(command.needle);
  }
  if (q.from !== undefined) {
    where.push(`${key}.start >= ?`);
    params.push(q.from);
  }
  if (q.to !== undefined) {
    where.push(`${key}.start < ?`);
    params.push(q.to);
  }
  return {
    from: key === "g"
      ? "recording_tags g JOIN recordings r ON r.id = g.id"
      : "recordings r",
    key,
    where,
    params,
    ...(command !== undefined ? { command } : {}),
    driven: selective,
  };
}

/**
 * Applies pragmas and missing migrations.
 * @returns Whether the schema was created (the file was empty).
 */
function migrate(db: DatabaseSync, path: string, cacheKiB: number): boolean {
  db.exec("PRAGMA busy_timeout = 5000");
  const version = () =>
    (db.prepare("PRAGMA user_version").get() as { user_version: number })
      .user_version;
  const first = version();
  if (first > MIGRATIONS.length) {
    throw new SqliteIndexCorruptError(
      path,
      `its schema version ${first} is newer than this recorder knows (${MIGRATIONS.length})`,
    );
  }
  if (first === 0) {
    const names = (db.prepare(
      "SELECT name FROM sqlite_master WHERE type = 'table'",
    ).all() as { name: string }[]).map((r) => r.name);
    if (names.length > 0) {
      throw new SqliteIndexCorruptError(
        path,
        `it has no schema version but holds tables of another schema (${
          names.slice(0, 5).map((n) => JSON.stringify(n)).join(", ")
        })`,
      );
    }
  }
  if (path !== ":memory:" && path !== "") {
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
  }
  db.exec(`PRAGMA cache_size = -${Math.max(1024, Math.floor(cacheKiB))}`);
  for (;;) {
    db.exec("BEGIN IMMEDIATE");
    try {
      const v = version(); // again: another process may have migrated
      if (v >= MIGRATIONS.length) {
        db.exec("COMMIT");
        break;
      }
      db.exec(MIGRATIONS[v]!);
      db.exec(`PRAGMA user_version = ${v + 1}`);
      db.exec("COMMIT");
    } catch (e) {
      db.exec("ROLLBACK");
      throw e;
    }
  }
  const have = new Set(
    (db.prepare("SELECT name FROM sqlite_master").all() as { name: string }[])
      .map((r) => r.name),
  );
  const missing = TABLES.filter((t) => !have.has(t));
  if (missing.length > 0) {
    throw new SqliteIndexCorruptError(
      path,
      `its schema version ${version()} lacks table ${
        missing.map((t) => JSON.stringify(t)).join(", ")
      }`,
    );
  }
  return first === 0;
}

/** What {@linkcode openSqliteIndex} opened. */
export interface OpenedSqliteIndex {
  /** The index, ready. */
  index: SqliteIndex;
  /** Whether a bad file was moved aside and a new one created. */
  rebuilt: boolean;
  /** Whether the index is new and empty (created or rebuilt): reindex it. */
  fresh: boolean;
  /** What was wrong with the old file, when `rebuilt`. */
  problem?: string;
  /** Where the old file went, when `rebuilt`. */
  movedTo?: string;
}

/** Options of {@linkcode openSqliteIndex}. */
export interface OpenSqliteIndexOptions extends SqliteIndexOptions {
  /** Clock for the `.corrupt-<unix ms>` name. @default {Date.now} */
  now?: () => number;
}

/**
 * Opens an index file; one that is not a database, is damaged, or holds an
 * unknown schema is moved aside to `<path>.corrupt-<unix ms>` (with its
 * `-wal` and `-shm`) and a new, empty one is created in its place.
 * @param path The file.
 * @param options Clock and tuning.
 * @returns The index, and whether (and why) it was rebuilt.
 * @throws {Error} When the file cannot be opened or moved at all
 * (permissions, a missing folder).
 * @example
 * ```ts
 * import { openSqliteIndex } from "./sqlite_index.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/index.sqlite`, "not a database ".repeat(40));
 * const { index, rebuilt, problem } = await openSqliteIndex(`${dir}/index.sqlite`);
 * if (!rebuilt || !problem) throw new Error("expected a rebuild");
 * await index.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function openSqliteIndex(
  path: string,
  options: OpenSqliteIndexOptions = {},
): Promise<OpenedSqliteIndex> {
  try {
    const index = new SqliteIndex(path, options);
    return { index, rebuilt: false, fresh: index.created };
  } catch (e) {
    if (!(e instanceof SqliteIndexCorruptError)) throw e;
    const movedTo = `${path}.corrupt-${(options.now ?? Date.now)()}`;
    await Deno.rename(path, movedTo);
    for (const side of ["-wal", "-shm"]) {
      await Deno.rename(path + side, movedTo + side).catch((err) => {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      });
    }
    const index = new SqliteIndex(path, options);
    return { index, rebuilt: true, fresh: true, problem: e.problem, movedTo };
  }
}
