/**
 * Rebuilding a {@linkcode RecordingIndex} from storage, the source of truth:
 * after the index file was found corrupt, on a new index, or on demand.
 *
 * @module
 */

import type { Logger } from "../../log.ts";
import type { RecordingManifest, RecordingStorage } from "../storage.ts";
import type { RecordingIndex } from "./recording_index.ts";

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
  /** Clock, ms. @default {performance.now} */
  now?: () => number;
}

/**
 * Empties an index and puts every stored recording and its text again.
 * A text that cannot be read is logged and counted; its recording is still
 * indexed (it only matches no `q`): a view never hides evidence.
 * @param storage Where the recordings are (`list()` is read once).
 * @param index The index to rebuild.
 * @param textOf A recording's text, or `undefined` when it has none yet
 * (usually `(id) => storage.readText(parseRecordingId(id))`).
 * @param options Logger and progress interval.
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
  const all = await storage.list();
  options.log?.info("reindex started", {
    index: index.describe,
    recordings: all.length,
  });
  await index.clear();
  let texts = 0;
  let textErrors = 0;
  let done = 0;
  for (const m of all) {
    await index.put(m);
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
      await index.putText(m.id, text);
      texts++;
    }
    if (++done % every === 0) {
      options.log?.info("reindex progress", { done, of: all.length });
    }
  }
  const result = { recordings: done, texts, textErrors, ms: now() - t0 };
  options.log?.info("reindex finished", { index: index.describe, ...result });
  return result;
}
