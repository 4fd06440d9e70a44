/**
 * Reads `GET /v1/events` (and the UI's Events page) query parameters.
 *
 * @module
 */

import { type EventQuery, parseEventCursor } from "./index/events_index.ts";

/** Page size when none is asked for. */
export const DEFAULT_EVENT_LIMIT = 100;
/** Largest page. */
export const MAX_EVENT_LIMIT = 1000;

/**
 * Parses the query of an events listing.
 * @param p The URL's parameters: `user`, `verb`, `resource`, `namespace`,
 *   `q`, `limit`, `cursor`; empty values are ignored.
 * @returns The query.
 * @throws {RangeError} A bad `limit`, or a value over 256 characters.
 * @example
 * ```ts
 * import { parseEventQuery } from "./events_query.ts";
 * const q = parseEventQuery(new URLSearchParams("verb=create&limit=5"));
 * if (q.verb !== "create" || q.limit !== 5) throw new Error();
 * ```
 */
export function parseEventQuery(p: URLSearchParams): EventQuery {
  const q: EventQuery = { limit: DEFAULT_EVENT_LIMIT };
  for (
    const k of ["user", "verb", "resource", "namespace", "q", "cursor"] as const
  ) {
    const v = p.get(k);
    if (v === null || v === "") continue;
    if (v.length > 256) {
      throw new RangeError(`Cannot search events: ${k} is over 256 characters`);
    }
    q[k] = v;
  }
  if (q.cursor !== undefined) parseEventCursor(q.cursor);
  const l = p.get("limit");
  if (l !== null && l !== "") {
    const n = Number(l);
    if (!Number.isInteger(n) || n < 1 || n > MAX_EVENT_LIMIT) {
      throw new RangeError(
        `Cannot search events: limit ${
          JSON.stringify(l)
        } is not an integer from 1 to ${MAX_EVENT_LIMIT}`,
      );
    }
    q.limit = n;
  }
  return q;
}
