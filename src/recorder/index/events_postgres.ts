/**
 * The API events table of the PostgreSQL recording index
 * (`postgres_index.ts` runs {@linkcode eventsMigration} as one of its schema
 * migrations and hands its pool to {@linkcode PostgresEventIndex}), so
 * recorder replicas sharing one database share the events too. Answers like
 * `MemoryEventIndex` (`events_index.ts`).
 *
 * @module
 */

import type postgres from "postgres";
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
 * Creates the events tables (schema version 1 → 2).
 * @param tx The migration's transaction.
 */
export async function eventsMigration(
  tx: postgres.TransactionSql,
): Promise<void> {
  await tx.unsafe(`
    CREATE TABLE IF NOT EXISTS api_events (
      id text COLLATE "C" PRIMARY KEY,
      time double precision NOT NULL,
      "user" text,
      verb text,
      resource text,
      subresource_of text,
      namespace text,
      stream text NOT NULL,
      "offset" bigint NOT NULL,
      request text NOT NULL,
      response text
    );
    CREATE INDEX IF NOT EXISTS api_events_time ON api_events (time, id);
    CREATE INDEX IF NOT EXISTS api_events_user ON api_events ("user", time, id);
    CREATE TABLE IF NOT EXISTS api_event_orphans (
      id text COLLATE "C" PRIMARY KEY,
      response text NOT NULL
    );
  `);
}

/** PostgreSQL text cannot hold NUL. */
function noNul(s: string): string {
  return s.replaceAll("\u0000", "\uFFFD");
}

/** The events of a PostgreSQL index. */
export class PostgresEventIndex implements EventIndex {
  readonly describe: string;
  #sql: postgres.Sql;

  /**
   * @param sql The index's pool (the events tables migrated).
   * @param describe For logs.
   */
  constructor(sql: postgres.Sql, describe = "postgres") {
    this.#sql = sql;
    this.describe = describe;
  }

  async put(events: readonly StoredEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.#sql.begin(async (tx) => {
      for (const e of events) {
        const r = e.request;
        await tx.unsafe(
          `INSERT INTO api_events
             (id, time, "user", verb, resource, subresource_of, namespace, stream, "offset", request, response)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
             COALESCE($11, (SELECT response FROM api_event_orphans WHERE id = $12)))
           ON CONFLICT (id) DO NOTHING`,
          [
            r.id,
            r.timeMs,
            eventUser(r) ?? null,
            typeof r.verb === "string" ? r.verb : null,
            eventResource(r) ?? null,
            typeof r.resource === "string" ? r.resource : null,
            typeof r.namespace === "string" ? r.namespace : null,
            e.stream,
            e.offset,
            noNul(JSON.stringify(r)),
            e.response ? noNul(JSON.stringify(e.response)) : null,
            `${e.stream}/${r.id}`,
          ],
        );
        await tx.unsafe("DELETE FROM api_event_orphans WHERE id = $1", [
          `${e.stream}/${r.id}`,
        ]);
      }
    });
  }

  async putResponse(
    stream: string,
    id: string,
    response: Record<string, unknown>,
    earlier: readonly string[] = [],
  ): Promise<void> {
    const json = noNul(JSON.stringify(response));
    const r = await this.#sql.unsafe(
      "UPDATE api_events SET response = $1 WHERE id = $2 AND stream = ANY($3::text[])",
      [json, id, [stream, ...earlier.slice(0, 8)]],
    );
    if (r.count > 0) return;
    const known = await this.#sql.unsafe(
      "SELECT 1 FROM api_events WHERE id = $1",
      [id],
    );
    if (known.length > 0) return;
    await this.#sql.unsafe(
      `INSERT INTO api_event_orphans (id, response) VALUES ($1, $2)
       ON CONFLICT (id) DO UPDATE SET response = excluded.response`,
      [`${stream}/${id}`, json],
    );
  }

  async deleteBefore(timeMs: number, limit: number): Promise<number> {
    const r = await this.#sql.unsafe(
      `DELETE FROM api_events WHERE id IN
         (SELECT id FROM api_events WHERE time < $1 ORDER BY time LIMIT $2)`,
      [timeMs, limit],
    );
    return r.count;
  }

  async deleteStream(stream: string): Promise<number> {
    const r = await this.#sql.unsafe(
      "DELETE FROM api_events WHERE stream = $1",
      [stream],
    );
    // Orphans are keyed `<stream>/<id>` (COLLATE "C"); ids have no `/`, so
    // the range holds exactly this stream's.
    await this.#sql.unsafe(
      "DELETE FROM api_event_orphans WHERE id > $1 AND id < $2",
      [stream + "/", stream + "0"],
    );
    return r.count;
  }

  async query(q: EventQuery): Promise<EventPage> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    const p = (v: string | number) => {
      params.push(v);
      return `$${params.length}`;
    };
    if (q.user !== undefined) where.push(`"user" = ${p(q.user)}`);
    if (q.verb !== undefined) where.push(`verb = ${p(q.verb)}`);
    if (q.namespace !== undefined) where.push(`namespace = ${p(q.namespace)}`);
    if (q.resource !== undefined) {
      where.push(
        `(resource = ${p(q.resource)} OR subresource_of = ${p(q.resource)})`,
      );
    }
    if (q.q !== undefined && q.q !== "") {
      where.push(
        `lower(request) LIKE ${
          p(`%${q.q.toLowerCase().replace(/[\\%_]/g, (c) => "\\" + c)}%`)
        }`,
      );
    }
    if (q.cursor !== undefined) {
      const c = parseEventCursor(q.cursor);
      where.push(
        `(time < ${p(c.timeMs)} OR (time = ${p(c.timeMs)} AND id < ${
          p(c.id)
        }))`,
      );
    }
    const rows = await this.#sql.unsafe(
      `SELECT request, response, stream, "offset" FROM api_events
       ${where.length ? "WHERE " + where.join(" AND ") : ""}
       ORDER BY time DESC, id DESC LIMIT ${p(q.limit + 1)}`,
      params,
    ) as unknown as {
      request: string;
      response: string | null;
      stream: string;
      offset: string | number;
    }[];
    const items: StoredEvent[] = rows.slice(0, q.limit).map((r) => ({
      request: JSON.parse(r.request),
      ...(r.response ? { response: JSON.parse(r.response) } : {}),
      stream: r.stream,
      offset: Number(r.offset),
    }));
    const last = items.at(-1);
    return {
      items,
      ...(rows.length > q.limit && last
        ? { next: `${last.request.timeMs}:${last.request.id}` }
        : {}),
    };
  }
}
