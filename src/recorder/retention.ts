/**
 * Retention: recordings that started more than `days` ago are deleted, from
 * storage and from the index, one log line each; a live recording never is.
 * Off unless `retention.days` is set.
 *
 * API events too ({@linkcode applyEventRetention}): the index rows of events
 * older than the cutoff, and each stored stream last written before it, one
 * log line each. A stream still being written is never deleted, and a stream
 * holding events from both sides of the cutoff is kept whole (the evidence
 * is not cut; its old rows leave the index all the same, and it goes once
 * it has closed and its last event is old).
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { RecordingIndex } from "./index/recording_index.ts";
import { startTime } from "./query.ts";
import { parseRecordingId } from "./recording_id.ts";
import type { RecordingStorage } from "./storage.ts";
import type { EventStore } from "./events_store.ts";
import type { EventIndex } from "./index/events_index.ts";

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

/** What {@linkcode applyEventRetention} needs. */
export interface EventRetentionOptions {
  /** Where the event streams are. */
  store: EventStore;
  /** Their index. */
  index: EventIndex;
  /** Age in days after which an event goes. */
  days: number;
  /** Clock, Unix ms. @default {Date.now} */
  now?: () => number;
  /** One `info` line per deleted stream, `warn` per failure. */
  log: Logger;
  /** Most streams deleted per run (and index rows: 100 times as many). @default {10000} */
  batch?: number;
}

/**
 * Deletes the API events older than `days`: index rows by the event's time,
 * and stored streams whose last write is before the cutoff (never one still
 * open; one that also holds newer events is kept whole and said so).
 * @param o Store, index, age and logger.
 * @returns How many streams were deleted.
 * @example
 * ```ts
 * import { applyEventRetention } from "./retention.ts";
 * import { MemoryEventStore } from "./events_store.ts";
 * import { MemoryEventIndex } from "./index/events_index.ts";
 * const n = await applyEventRetention({
 *   store: new MemoryEventStore(),
 *   index: new MemoryEventIndex(),
 *   days: 30,
 *   log: { info() {}, warn() {}, error() {} },
 * });
 * if (n !== 0) throw new Error();
 * ```
 */
export async function applyEventRetention(
  o: EventRetentionOptions,
): Promise<number> {
  const cutoff = (o.now ?? Date.now)() - o.days * 86_400_000;
  const batch = o.batch ?? 10_000;
  // A stream is named by the day it started: one started after the
  // cutoff's day was written after the cutoff too, so it is not looked at.
  const lastDay = new Date(cutoff).toISOString().slice(0, 10).replaceAll(
    "-",
    "/",
  );
  let n = 0;
  let kept = 0;
  let streams: string[] = [];
  try {
    streams = (await o.store.list())
      .filter((s) => s.slice(0, 10) <= lastDay)
      .sort();
  } catch (e) {
    o.log.warn("retention could not list the API events streams", {
      error: (e as Error)?.message ?? String(e),
    });
  }
  for (const raw of streams) {
    if (n >= batch) break;
    const id = parseRecordingId(raw);
    if (!id) continue;
    try {
      const st = await o.store.stat(id);
      if (!st) continue;
      if (st.open || st.lastWriteMs >= cutoff) {
        kept++;
        o.log.info(
          "API events stream kept by retention: it holds events newer than the cutoff",
          {
            stream: raw,
            days: o.days,
            open: st.open,
            lastWriteAt: new Date(st.lastWriteMs).toISOString(),
          },
        );
        continue;
      }
      await o.store.remove(id);
      const rows = await o.index.deleteStream(raw);
      n++;
      o.log.info("API events stream deleted by retention", {
        stream: raw,
        days: o.days,
        events: rows,
        lastWriteAt: new Date(st.lastWriteMs).toISOString(),
      });
    } catch (e) {
      o.log.warn("retention could not delete an API events stream", {
        stream: raw,
        error: (e as Error)?.message ?? String(e),
      });
    }
  }
  try {
    let rows = 0;
    const most = batch * 100;
    while (rows < most) {
      const want = Math.min(10_000, most - rows);
      const d = await o.index.deleteBefore(cutoff, want);
      rows += d;
      if (d < want) break;
    }
    if (rows > 0) {
      o.log.info("API events deleted from the index by retention", {
        events: rows,
        days: o.days,
        before: new Date(cutoff).toISOString(),
        ...(kept > 0 ? { streamsKept: kept } : {}),
      });
    }
  } catch (e) {
    o.log.warn("retention could not delete old API events from the index", {
      error: (e as Error)?.message ?? String(e),
    });
  }
  return n;
}
