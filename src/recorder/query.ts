/**
 * Finding recordings: filters, text search and pagination over manifests.
 *
 * @module
 */

import { RECORDING_STATUSES, type RecordingManifest } from "./storage.ts";

/** A recordings query (the `GET /v1/recordings` parameters). */
export interface RecordingQuery {
  /** Login name of the caller (`srcNodeUser`), exact. */
  user?: string;
  /** Source node (`srcNode`), exact. */
  host?: string;
  /** A tag in `srcNodeTags`. */
  tag?: string;
  /** Kubernetes namespace, exact. */
  namespace?: string;
  /** Pod name, exact. */
  pod?: string;
  /** Container, exact. */
  container?: string;
  /** Case-insensitive substring of the command. */
  command?: string;
  /**
   * Sessions that started at or after this Unix second. The parameter
   * `from=YYYY-MM-DD` (a date alone) is that day's 00:00 UTC.
   */
  from?: number;
  /**
   * Sessions that started before this Unix second (exclusive). The
   * parameter `to=YYYY-MM-DD` (a date alone) includes that whole UTC day:
   * it is read as the next day's 00:00 UTC. Unix seconds and ISO date-times
   * are the exclusive instant as given.
   */
  to?: number;
  /** Exit code from the manifest. */
  exit?: number;
  /** `complete`, `partial`, `refused` or `recording`. */
  status?: string;
  /** Case-insensitive text the session printed. */
  q?: string;
  /** Page size. @default {50} */
  limit: number;
  /** Opaque cursor from a previous page. */
  cursor?: string;
}

/** One page of results. */
export interface RecordingPage {
  /** The recordings, newest first. */
  items: RecordingManifest[];
  /** Cursor of the next page, when there is one. */
  nextCursor?: string;
}

/** A date alone (`YYYY-MM-DD`): a whole UTC day for `from` and `to`. */
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/** Seconds in a UTC day. */
const DAY_SECONDS = 86_400;

/**
 * Parses query parameters. `from` and `to` are Unix seconds or ISO dates;
 * a date alone is a whole UTC day, both ends included (`from=2026-12-02`
 * is 00:00 UTC of that day, `to=2026-12-02` is 00:00 UTC of the next day,
 * exclusive), so `from=D&to=D` is the day D.
 * @param params The URL's search parameters.
 * @returns The query.
 * @throws {RangeError} On a malformed number, time or cursor, naming the parameter.
 * @example
 * ```ts
 * import { parseRecordingQuery } from "./query.ts";
 * const q = parseRecordingQuery(
 *   new URLSearchParams("from=2026-12-02&to=2026-12-02"),
 * );
 * if (q.to! - q.from! !== 86_400) throw new Error("not one whole day");
 * ```
 */
export function parseRecordingQuery(params: URLSearchParams): RecordingQuery {
  const q: RecordingQuery = { limit: 50 };
  for (
    const key of [
      "user",
      "host",
      "tag",
      "namespace",
      "pod",
      "container",
      "command",
      "status",
      "q",
      "cursor",
    ] as const
  ) {
    const v = params.get(key);
    if (v !== null && v !== "") q[key] = v;
  }
  for (const key of ["from", "to"] as const) {
    const v = params.get(key);
    if (v === null || v === "") continue;
    const n = /^[0-9]+(\.[0-9]+)?$/.test(v) ? Number(v) : Date.parse(v) / 1000;
    if (!Number.isFinite(n)) {
      throw new RangeError(
        `Parameter ${JSON.stringify(key)} is ${
          JSON.stringify(v)
        }: expected Unix seconds or an ISO date`,
      );
    }
    q[key] = key === "to" && DATE_ONLY.test(v) ? n + DAY_SECONDS : n;
  }
  if (
    q.status !== undefined &&
    !(RECORDING_STATUSES as readonly string[]).includes(q.status)
  ) {
    throw new RangeError(
      `Parameter "status" is ${JSON.stringify(q.status)}: expected one of ${
        RECORDING_STATUSES.join(", ")
      }`,
    );
  }
  const exit = params.get("exit");
  if (exit !== null && exit !== "") {
    if (!/^-?[0-9]+$/.test(exit)) {
      throw new RangeError(
        `Parameter "exit" is ${JSON.stringify(exit)}: expected an integer`,
      );
    }
    q.exit = Number(exit);
  }
  const limit = params.get("limit");
  if (limit !== null && limit !== "") {
    const n = Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > 1000) {
      throw new RangeError(
        `Parameter "limit" is ${
          JSON.stringify(limit)
        }: expected an integer from 1 to 1000`,
      );
    }
    q.limit = n;
  }
  if (q.cursor !== undefined) decodeCursor(q.cursor);
  return q;
}

interface Cursor {
  t: number;
  id: string;
}

function encodeCursor(c: Cursor): string {
  return btoa(JSON.stringify(c)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

function decodeCursor(s: string): Cursor {
  try {
    const c = JSON.parse(atob(s.replaceAll("-", "+").replaceAll("_", "/")));
    if (typeof c.t === "number" && typeof c.id === "string") return c;
  } catch { /* fall through */ }
  throw new RangeError(
    `Parameter "cursor" is not a cursor this recorder issued`,
  );
}

/**
 * The start time used for ordering and time filters: the header timestamp,
 * or the upload start.
 * @param m A manifest.
 * @returns Unix seconds.
 */
export function startTime(m: RecordingManifest): number {
  const t = m.header?.timestamp;
  return typeof t === "number" && Number.isFinite(t) ? t : m.startedAt / 1000;
}

function order(a: RecordingManifest, b: RecordingManifest): number {
  return startTime(b) - startTime(a) ||
    (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/**
 * Whether a manifest passes the metadata filters (not `q`).
 * @param m The manifest.
 * @param q The query.
 * @returns Whether it matches.
 */
export function matchesFilters(
  m: RecordingManifest,
  q: RecordingQuery,
): boolean {
  const h = m.header ?? {};
  const k = h.kubernetes ?? {};
  if (q.user !== undefined && h.srcNodeUser !== q.user) return false;
  if (q.host !== undefined && h.srcNode !== q.host) return false;
  if (q.tag !== undefined && !(h.srcNodeTags ?? []).includes(q.tag)) {
    return false;
  }
  if (q.namespace !== undefined && k.namespace !== q.namespace) return false;
  if (q.pod !== undefined && k.podName !== q.pod) return false;
  if (q.container !== undefined && k.container !== q.container) return false;
  if (
    q.command !== undefined &&
    !String(h.command ?? "").toLowerCase().includes(q.command.toLowerCase())
  ) return false;
  const t = startTime(m);
  if (q.from !== undefined && t < q.from) return false;
  if (q.to !== undefined && t >= q.to) return false;
  if (q.exit !== undefined && m.end?.exitCode !== q.exit) return false;
  if (q.status !== undefined && m.status !== q.status) return false;
  return true;
}

/**
 * Runs a query.
 * @param all Every manifest.
 * @param q The query.
 * @param readText Reads a recording's text index (for `q`).
 * @returns One page, newest first.
 */
export async function runQuery(
  all: RecordingManifest[],
  q: RecordingQuery,
  readText: (m: RecordingManifest) => Promise<string | undefined>,
): Promise<RecordingPage> {
  let list = all.filter((m) => matchesFilters(m, q)).sort(order);
  if (q.cursor !== undefined) {
    const c = decodeCursor(q.cursor);
    list = list.filter((m) => {
      const t = startTime(m);
      return t < c.t || (t === c.t && m.id < c.id);
    });
  }
  const items: RecordingManifest[] = [];
  const needle = q.q?.toLowerCase();
  for (const m of list) {
    if (items.length === q.limit) {
      const last = items[items.length - 1]!;
      return {
        items,
        nextCursor: encodeCursor({ t: startTime(last), id: last.id }),
      };
    }
    if (needle !== undefined) {
      const text = await readText(m);
      if (text === undefined || !text.toLowerCase().includes(needle)) continue;
    }
    items.push(m);
  }
  return { items };
}
