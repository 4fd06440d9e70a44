/**
 * Rebuilding a {@linkcode RecordingIndex} from storage, the source of truth:
 * after the index file was found corrupt, on a new index, or on demand.
 *
 * @module
 */

import type { Logger } from "../../log.ts";
import { startTime } from "../query.ts";
import type { RecordingManifest, RecordingStorage } from "../storage.ts";
import type { IndexEntry, RecordingIndex } from "./recording_index.ts";

/** What {@linkcode reindex} did. */
export interface ReindexResult {
  /** Manifests put. */
  recordings: number;
  /** Texts put. */
  texts: number;
  /** Recordings whose text could not be read (indexed without text). */
  textErrors: number;
  /** Milliseconds the rebuild took. */
  ms: number;
}

/** Options of {@linkcode reindex}. */
export interface ReindexOptions {
  /** Where progress and text errors go. @default {no logging} */
  log?: Logger;
  /** Log progress every this many recordings. @default {10000} */
  progressEvery?: number;
  /**
   * Recordings per {@linkcode RecordingIndex.putMany} (one transaction
   * each). @default {500}
   */
  batch?: number;
  /**
   * Characters of text that also end a batch, so a batch of long texts
   * stays small in memory. @default {8388608}
   */
  batchChars?: number;
  /** Clock, ms. @default {performance.now} */
  now?: () => number;
}

/**
 * Empties an index and puts every stored recording and its text again,
 * oldest first, in batches ({@linkcode RecordingIndex.putMany}: a transaction per batch
 * instead of two per recording). A text that cannot be read is logged and
 * counted; its recording is still indexed (it only matches no `q`): a view
 * never hides evidence.
 * @param storage Where the recordings are (`list()` is read once).
 * @param index The index to rebuild.
 * @param textOf A recording's text, or `undefined` when it has none yet
 * (usually `(id) => storage.readText(parseRecordingId(id))`).
 * @param options Logger, progress interval and batch size.
 * @returns The counts.
 * @throws When the storage cannot list or the index cannot be written.
 * @example
 * ```ts
 * import { reindex } from "./reindex.ts";
 * import { ScanIndex } from "./scan_index.ts";
 * import type { RecordingStorage } from "../storage.ts";
 *
 * const storage = { list: () => Promise.resolve([]) } as unknown as RecordingStorage;
 * const result = await reindex(storage, new ScanIndex(), () => Promise.resolve(undefined));
 * if (result.recordings !== 0) throw new Error("expected nothing");
 * ```
 */
export async function reindex(
  storage: RecordingStorage,
  index: RecordingIndex,
  textOf: (id: string, manifest: RecordingManifest) => Promise<
    string | undefined
  >,
  options: ReindexOptions = {},
): Promise<ReindexResult> {
  const now = options.now ?? (() => performance.now());
  const every = options.progressEvery ?? 10_000;
  const t0 = now();
  // Oldest first: a database index appends in its own order (SQLite's
  // full-text index flushes its buffer whenever a document number goes
  // down, which storage's listing order made happen every few texts).
  const all = (await storage.list()).sort((a, b) =>
    startTime(a) - startTime(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
  options.log?.info("reindex started", {
    index: index.describe,
    recordings: all.length,
  });
  await index.clear();
  const batch = Math.max(1, options.batch ?? 500);
  const batchChars = options.batchChars ?? 8 * 1024 * 1024;
  let texts = 0;
  let textErrors = 0;
  let done = 0;
  let entries: IndexEntry[] = [];
  let chars = 0;
  const flush = async () => {
    await index.putMany(entries);
    const before = done;
    done += entries.length;
    entries = [];
    chars = 0;
    if (Math.floor(done / every) > Math.floor(before / every)) {
      options.log?.info("reindex progress", { done, of: all.length });
    }
  };
  for (const m of all) {
    let text: string | undefined;
    try {
      text = await textOf(m.id, m);
    } catch (e) {
      textErrors++;
      options.log?.warn("reindex could not read a text", {
        id: m.id,
        error: String((e as Error)?.message ?? e),
      });
    }
    if (text !== undefined) {
      entries.push({ manifest: m, text });
      chars += text.length;
      texts++;
    } else {
      entries.push({ manifest: m });
    }
    if (entries.length >= batch || chars >= batchChars) await flush();
  }
  if (entries.length > 0) await flush();
  const result = { recordings: done, texts, textErrors, ms: now() - t0 };
  options.log?.info("reindex finished", { index: index.describe, ...result });
  return result;
}
