/**
 * Retention: recordings that started more than `days` ago are deleted, from
 * storage and from the index, one log line each; a live recording never is.
 * Off unless `retention.days` is set.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { RecordingIndex } from "./index/recording_index.ts";
import { startTime } from "./query.ts";
import { parseRecordingId } from "./recording_id.ts";
import type { RecordingStorage } from "./storage.ts";

/** What {@linkcode applyRetention} needs. */
export interface RetentionOptions {
  /** Where the recordings are. */
  storage: RecordingStorage;
  /** The index, when there is one (else storage is listed). */
  index?: RecordingIndex;
  /** Age in days after which a recording goes. */
  days: number;
  /** Clock, Unix ms. @default {Date.now} */
  now?: () => number;
  /** One `info` line per deletion, `warn` per failure. */
  log: Logger;
  /** Most deletions per run. @default {10000} */
  batch?: number;
}

/**
 * Deletes the recordings older than `days` (by their start time).
 * @param o Storage, index, age and logger.
 * @returns How many were deleted.
 * @example
 * ```ts
 * import { applyRetention, DiskStorage } from "./mod.ts";
 * const dir = await Deno.makeTempDir();
 * const n = await applyRetention({
 *   storage: new DiskStorage({ dir }),
 *   days: 30,
 *   log: { info() {}, warn() {}, error() {} },
 * });
 * if (n !== 0) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function applyRetention(o: RetentionOptions): Promise<number> {
  const now = (o.now ?? Date.now)();
  const before = now / 1000 - o.days * 86_400;
  const batch = o.batch ?? 10_000;
  const ids = o.index
    ? await o.index.expired(before, batch)
    : (await o.storage.list())
      .filter((m) => m.status !== "recording" && startTime(m) < before)
      .sort((a, b) => startTime(a) - startTime(b))
      .slice(0, batch)
      .map((m) => m.id);
  let n = 0;
  for (const raw of ids) {
    const id = parseRecordingId(raw);
    if (!id) continue;
    // Checked again on storage: the index may be behind (never a live one).
    const m = await o.storage.get(id);
    if (m && (m.status === "recording" || startTime(m) >= before)) continue;
    try {
      if (m) await o.storage.remove(id);
      await o.index?.remove(raw);
      n++;
      o.log.info("recording deleted by retention", {
        recordingId: raw,
        days: o.days,
        ...(m
          ? { startedAt: new Date(startTime(m) * 1000).toISOString() }
          : {}),
      });
    } catch (e) {
      o.log.warn("retention could not delete a recording", {
        recordingId: raw,
        error: (e as Error)?.message ?? String(e),
      });
    }
  }
  return n;
}
