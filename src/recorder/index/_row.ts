/**
 * The columns a database index keeps of a manifest: one per filter of
 * `RecordingQuery`, computed here once so SQLite and PostgreSQL store the
 * same values `matchesFilters` (`../query.ts`) compares.
 *
 * Case-insensitive fields (`command`, the text) are stored already lowered
 * with `String.prototype.toLowerCase`, and needles are lowered the same way,
 * so "case-insensitive" means exactly what `runQuery` means by it.
 *
 * @module
 */

import { startTime } from "../query.ts";
import type { RecordingManifest } from "../storage.ts";

/** One `recordings` row and its tags. */
export interface IndexRow {
  /** Recording id (the key). */
  id: string;
  /** `startTime(m)`: header timestamp or upload start, Unix seconds. */
  start: number;
  /** `header.srcNodeUser`, or `null`. */
  user: string | null;
  /** `header.srcNode`, or `null`. */
  host: string | null;
  /** `header.kubernetes.namespace`, or `null`. */
  namespace: string | null;
  /** `header.kubernetes.podName`, or `null`. */
  pod: string | null;
  /** `header.kubernetes.container`, or `null`. */
  container: string | null;
  /** `String(header.command ?? "")`, lowered. */
  command: string;
  /** `end.exitCode` when it is a number, else `null`. */
  exitCode: number | null;
  /** The status. */
  status: string;
  /** `header.kubernetes.sessionType`, or `null`. */
  sessionType: string | null;
  /** `header.srcNodeTags`, without duplicates. */
  tags: string[];
  /** The manifest as JSON. */
  json: string;
}

function str(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}

/**
 * Computes the indexed columns of a manifest.
 * @param m The manifest.
 * @returns Its row.
 * @example
 * ```ts ignore
 * const row = indexRow(manifest);
 * ```
 */
export function indexRow(m: RecordingManifest): IndexRow {
  const h = m.header ?? {};
  const k = h.kubernetes ?? {};
  const exit = m.end?.exitCode;
  return {
    id: m.id,
    start: startTime(m),
    user: str(h.srcNodeUser),
    host: str(h.srcNode),
    namespace: str(k.namespace),
    pod: str(k.podName),
    container: str(k.container),
    command: String(h.command ?? "").toLowerCase(),
    exitCode: typeof exit === "number" ? exit : null,
    status: m.status,
    sessionType: str(k.sessionType),
    tags: [
      ...new Set((h.srcNodeTags ?? []).filter((t) => typeof t === "string")),
    ],
    json: JSON.stringify(m),
  };
}

/**
 * Whether a lowered needle is plain ASCII (then SQLite's trigram folding
 * agrees with `toLowerCase` and no recheck is needed).
 * @param s The needle.
 * @returns Whether every code unit is below 128.
 */
export function isAscii(s: string): boolean {
  // deno-lint-ignore no-control-regex
  return /^[\x00-\x7f]*$/.test(s);
}
