/**
 * The API events index: what `GET /v1/events` and the UI's Events page
 * search. Like the recording index it is a view of storage (the events
 * streams' evidence, `events_store.ts`): rows are put as events arrive and
 * can be rebuilt by reading the streams again.
 *
 * One row per request: the `request` record, and its `response` record once
 * it arrived. Queries answer newest first (time, then id descending) with a
 * cursor.
 *
 * @module
 */

/** One stored event: its records as the proxy sent them, and where. */
export interface StoredEvent {
  /** The request record (parsed JSON of the `EVENT` payload). */
  request: Record<string, unknown> & { id: string; timeMs: number };
  /** The response record, once it arrived. */
  response?: Record<string, unknown>;
  /** The events stream holding it (`YYYY/MM/DD/<stream id>`). */
  stream: string;
  /** Offset of the request record in that stream. */
  offset: number;
}

/** A query of {@linkcode EventIndex.query}. */
export interface EventQuery {
  /** Caller login name (or hostname of a tagged device). */
  user?: string;
  /** Verb, e.g. `create`. */
  verb?: string;
  /** Resource, e.g. `pods`, or `pods/log` with its subresource. */
  resource?: string;
  /** Namespace. */
  namespace?: string;
  /** Text the request record contains (case-insensitive). */
  q?: string;
  /** Page size. */
  limit: number;
  /** Cursor of the previous page. */
  cursor?: string;
}

/** One page of events. */
export interface EventPage {
  /** The events of this page, newest first. */
  items: StoredEvent[];
  /** Cursor of the next page, when more match. */
  next?: string;
}

/** A searchable index of API events. */
export interface EventIndex {
  /** What backs it, for logs. */
  readonly describe: string;
  /**
   * Puts request records. The first record of an id is kept: a later one
   * with the same id (an uploader repeating it, a rebuild) does not replace
   * it in the index (the evidence keeps both).
   * @param events The records in stream order.
   */
  put(events: readonly StoredEvent[]): Promise<void>;
  /**
   * Puts a response record, joined to the request of the same id in the
   * same stream, or in one of the `earlier` streams this one continues (the
   * proxy's stream after the recorder ended one at its bound: a response
   * may follow its request there). One whose request is not there yet is
   * kept and joined when it comes in the same stream. No other stream can
   * answer for a stream's requests.
   * @param stream The events stream it came in.
   * @param id The request's id.
   * @param response The record.
   * @param earlier The streams `stream` continues, newest first. @default {[]}
   */
  putResponse(
    stream: string,
    id: string,
    response: Record<string, unknown>,
    earlier?: readonly string[],
  ): Promise<void>;
  /**
   * Finds events.
   * @param q Filters and the page's cursor and size.
   * @returns One page, newest first.
   */
  query(q: EventQuery): Promise<EventPage>;
  /**
   * Deletes the rows of events older than a time (retention), at most
   * `limit` of them, oldest first.
   * @param timeMs Rows whose request time is before this go (Unix ms).
   * @param limit Most rows deleted.
   * @returns How many were deleted (`limit`: call again for more).
   */
  deleteBefore(timeMs: number, limit: number): Promise<number>;
  /**
   * Deletes every row of one stream, and its responses still waiting for
   * their request (its stream was deleted).
   * @param stream The stream (`YYYY/MM/DD/<stream id>`).
   * @returns How many request rows were deleted.
   */
  deleteStream(stream: string): Promise<number>;
}

/**
 * The user an event is listed under: the caller's login name, or the
 * hostname of a device without one (as recordings are).
 * @param request The request record.
 * @returns The user, or undefined.
 */
export function eventUser(
  request: StoredEvent["request"],
): string | undefined {
  const c = request.caller as
    | { srcNodeUser?: unknown; srcNode?: unknown }
    | undefined;
  const u = c?.srcNodeUser ?? c?.srcNode;
  return typeof u === "string" ? u : undefined;
}

/**
 * The resource an event is filtered under: `resource` or
 * `resource/subresource`.
 * @param request The request record.
 * @returns The resource, or undefined for a non-resource path.
 */
export function eventResource(
  request: StoredEvent["request"],
): string | undefined {
  const r = request.resource;
  if (typeof r !== "string") return undefined;
  const s = request.subresource;
  return typeof s === "string" ? `${r}/${s}` : r;
}

/**
 * Whether an event matches a query's filters (the reference the indexes
 * answer like).
 * @param e The event.
 * @param q The query.
 * @returns True when it matches.
 */
export function eventMatches(e: StoredEvent, q: EventQuery): boolean {
  const r = e.request;
  if (q.user !== undefined && eventUser(r) !== q.user) return false;
  if (q.verb !== undefined && r.verb !== q.verb) return false;
  if (q.namespace !== undefined && r.namespace !== q.namespace) return false;
  if (q.resource !== undefined) {
    const res = eventResource(r);
    if (res !== q.resource && r.resource !== q.resource) return false;
  }
  if (q.q !== undefined && q.q !== "") {
    if (!JSON.stringify(r).toLowerCase().includes(q.q.toLowerCase())) {
      return false;
    }
  }
  return true;
}

/** Encodes a cursor (time and id of the last item of a page). */
export function eventCursor(e: StoredEvent): string {
  return `${e.request.timeMs}:${e.request.id}`;
}

/**
 * Decodes a cursor.
 * @param c The cursor.
 * @returns Time and id.
 * @throws {RangeError} Not a cursor of this index.
 */
export function parseEventCursor(c: string): { timeMs: number; id: string } {
  const m = /^(\d{1,16}(?:\.\d+)?):([A-Za-z0-9_-]{1,64})$/.exec(c);
  if (!m) {
    throw new RangeError(
      `Cannot read cursor ${JSON.stringify(c.slice(0, 80))}`,
    );
  }
  return { timeMs: Number(m[1]), id: m[2]! };
}

/**
 * An index in memory (recorders without a database, and tests): every row
 * kept, filtered on query. Bounded by `maxEvents` (the oldest rows leave
 * the view; storage keeps them).
 */
export class MemoryEventIndex implements EventIndex {
  readonly describe = "memory";
  #rows = new Map<string, StoredEvent>();
  #orphans = new Map<string, Record<string, unknown>>();
  #max: number;

  /** @param maxEvents Most rows kept. @default {100000} */
  constructor(maxEvents = 100_000) {
    this.#max = maxEvents;
  }

  put(events: readonly StoredEvent[]): Promise<void> {
    for (const e of events) {
      if (this.#rows.has(e.request.id)) continue;
      const key = `${e.stream}/${e.request.id}`;
      const response = e.response ?? this.#orphans.get(key);
      this.#orphans.delete(key);
      this.#rows.set(e.request.id, response ? { ...e, response } : e);
      if (this.#rows.size > this.#max) {
        this.#rows.delete(this.#rows.keys().next().value!);
      }
    }
    return Promise.resolve();
  }

  putResponse(
    stream: string,
    id: string,
    response: Record<string, unknown>,
    earlier: readonly string[] = [],
  ): Promise<void> {
    const row = this.#rows.get(id);
    if (row) {
      if (row.stream === stream || earlier.includes(row.stream)) {
        row.response = response;
      }
    } else if (this.#orphans.size < 10_000) {
      this.#orphans.set(`${stream}/${id}`, response);
    }
    return Promise.resolve();
  }

  query(q: EventQuery): Promise<EventPage> {
    const after = q.cursor ? parseEventCursor(q.cursor) : undefined;
    const all = [...this.#rows.values()].filter((e) =>
      eventMatches(e, q) &&
      (!after || e.request.timeMs < after.timeMs ||
        (e.request.timeMs === after.timeMs && e.request.id < after.id))
    ).sort((a, b) =>
      b.request.timeMs - a.request.timeMs ||
      (a.request.id < b.request.id ? 1 : a.request.id > b.request.id ? -1 : 0)
    );
    const items = all.slice(0, q.limit);
    return Promise.resolve({
      items,
      ...(all.length > q.limit ? { next: eventCursor(items.at(-1)!) } : {}),
    });
  }

  deleteBefore(timeMs: number, limit: number): Promise<number> {
    const old = [...this.#rows.values()]
      .filter((e) => e.request.timeMs < timeMs)
      .sort((a, b) => a.request.timeMs - b.request.timeMs)
      .slice(0, limit);
    for (const e of old) this.#rows.delete(e.request.id);
    return Promise.resolve(old.length);
  }

  deleteStream(stream: string): Promise<number> {
    let n = 0;
    for (const [id, e] of this.#rows) {
      if (e.stream === stream) {
        this.#rows.delete(id);
        n++;
      }
    }
    for (const key of this.#orphans.keys()) {
      if (key.startsWith(stream + "/")) this.#orphans.delete(key);
    }
    return Promise.resolve(n);
  }
}
