/**
 * The API events table of the SQLite recording index (`sqlite_index.ts`
 * applies {@linkcode EVENTS_MIGRATION} as one of its schema migrations and
 * hands its connection to {@linkcode SqliteEventIndex}). One row per
 * request; the records are kept as the JSON the proxy sent.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import {
  type EventIndex,
  type EventPage,
  type EventQuery,
  eventResource,
  eventUser,
  parseEventCursor,
  type StoredEvent,
} from "./events_index.ts";

/**
 * The migration creating the events tables (schema version 2 → 3);
 * idempotent, so a file whose version was set back migrates again.
 */
export const EVENTS_MIGRATION = `CREATE TABLE IF NOT EXISTS api_events (
     id TEXT PRIMARY KEY,
     time REAL NOT NULL,
     user TEXT,
     verb TEXT,
     resource TEXT,
     subresource_of TEXT,
     namespace TEXT,
     stream TEXT NOT NULL,
     offset INTEGER NOT NULL,
     request TEXT NOT NULL,
     response TEXT
   );
   CREATE INDEX IF NOT EXISTS api_events_time ON api_events (time, id);
   CREATE INDEX IF NOT EXISTS api_events_user ON api_events (user, time, id);
   CREATE TABLE IF NOT EXISTS api_event_orphans (id TEXT PRIMARY KEY, response TEXT NOT NULL);`;

/** Most earlier streams a response may join a request of. */
const MAX_EARLIER = 8;

/** The events of a SQLite index file. */
export class SqliteEventIndex implements EventIndex {
  readonly describe: string;
  #db: () => DatabaseSync;
  #statements = new Map<string, StatementSync>();

  /**
   * @param db The index's connection (the events table migrated).
   * @param describe For logs.
   */
  constructor(db: () => DatabaseSync, describe = "sqlite") {
    this.#db = db;
    this.describe = describe;
  }

  /** A prepared statement, kept (one prepare per statement, not per put). */
  #stmt(sql: string): StatementSync {
    let s = this.#statements.get(sql);
    if (!s) {
      s = this.#db().prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }

  put(events: readonly StoredEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    const db = this.#db();
    const ins = this.#stmt(
      `INSERT OR IGNORE INTO api_events
         (id, time, user, verb, resource, subresource_of, namespace, stream, offset, request, response)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
         COALESCE(?, (SELECT response FROM api_event_orphans WHERE id = ?)))`,
    );
    const del = this.#stmt("DELETE FROM api_event_orphans WHERE id = ?");
    db.exec("BEGIN");
    try {
      for (const e of events) {
        const r = e.request;
        const res = eventResource(r);
        ins.run(
          r.id,
          r.timeMs,
          eventUser(r) ?? null,
          typeof r.verb === "string" ? r.verb : null,
          res ?? null,
          typeof r.resource === "string" ? r.resource : null,
          typeof r.namespace === "string" ? r.namespace : null,
          e.stream,
          e.offset,
          JSON.stringify(r),
          e.response ? JSON.stringify(e.response) : null,
          `${e.stream}/${r.id}`,
        );
        del.run(`${e.stream}/${r.id}`);
      }
      db.exec("COMMIT");
    } catch (e) {
      db.exec("ROLLBACK");
      throw e;
    }
    return Promise.resolve();
  }

  putResponse(
    stream: string,
    id: string,
    response: Record<string, unknown>,
    earlier: readonly string[] = [],
  ): Promise<void> {
    const json = JSON.stringify(response);
    const streams = [stream, ...earlier.slice(0, MAX_EARLIER)];
    const r = this.#stmt(
      `UPDATE api_events SET response = ? WHERE id = ? AND stream IN (${
        streams.map(() => "?").join(", ")
      })`,
    ).run(json, id, ...streams);
    const known = this.#stmt("SELECT 1 AS one FROM api_events WHERE id = ?")
      .get(id);
    if (Number(r.changes) === 0 && !known) {
      this.#stmt(
        "INSERT OR REPLACE INTO api_event_orphans (id, response) VALUES (?, ?)",
      ).run(`${stream}/${id}`, json);
    }
    return Promise.resolve();
  }

  deleteBefore(timeMs: number, limit: number): Promise<number> {
    const r = this.#stmt(
      `DELETE FROM api_events WHERE id IN
         (SELECT id FROM api_events WHERE time < ? ORDER BY time LIMIT ?)`,
    ).run(timeMs, limit);
    return Promise.resolve(Number(r.changes));
  }

  deleteStream(stream: string): Promise<number> {
    const r = this.#stmt("DELETE FROM api_events WHERE stream = ?").run(
      stream,
    );
    // Orphans are keyed `<stream>/<id>`; ids have no `/`, so the range
    // holds exactly this stream's.
    this.#stmt(
      "DELETE FROM api_event_orphans WHERE id > ? AND id < ?",
    ).run(stream + "/", stream + "0");
    return Promise.resolve(Number(r.changes));
  }

  query(q: EventQuery): Promise<EventPage> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (q.user !== undefined) {
      where.push("user = ?");
      params.push(q.user);
    }
    if (q.verb !== undefined) {
      where.push("verb = ?");
      params.push(q.verb);
    }
    if (q.namespace !== undefined) {
      where.push("namespace = ?");
      params.push(q.namespace);
    }
    if (q.resource !== undefined) {
      where.push("(resource = ? OR subresource_of = ?)");
      params.push(q.resource, q.resource);
    }
    if (q.q !== undefined && q.q !== "") {
      where.push("request LIKE ? ESCAPE '\\'");
      params.push(`%${q.q.replace(/[\\%_]/g, (c) => "\\" + c)}%`);
    }
    if (q.cursor !== undefined) {
      const c = parseEventCursor(q.cursor);
      where.push("(time < ? OR (time = ? AND id < ?))");
      params.push(c.timeMs, c.timeMs, c.id);
    }
    const sql = `SELECT request, response, stream, offset FROM api_events
      ${where.length ? "WHERE " + where.join(" AND ") : ""}
      ORDER BY time DESC, id DESC LIMIT ?`;
    const rows = this.#stmt(sql).all(...params, q.limit + 1) as {
      request: string;
      response: string | null;
      stream: string;
      offset: number;
    }[];
    const items: StoredEvent[] = rows.slice(0, q.limit).map((r) => ({
      request: JSON.parse(r.request),
      ...(r.response ? { response: JSON.parse(r.response) } : {}),
      stream: r.stream,
      offset: Number(r.offset),
    }));
    const last = items.at(-1);
    return Promise.resolve({
      items,
      ...(rows.length > q.limit && last
        ? { next: `${last.request.timeMs}:${last.request.id}` }
        : {}),
    });
  }
}
