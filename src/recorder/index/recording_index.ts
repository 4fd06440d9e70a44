/**
 * The recording index: what `GET /v1/recordings` and the UI search, kept in
 * a database beside the storage (which stays the source of truth: the index
 * can always be rebuilt from it, `reindex`).
 *
 * A recording is put when its upload starts (status `recording`, so live
 * sessions are listed), again whenever its manifest changes (finished,
 * partial, recovered), and its text once derived from the evidence.
 * Queries answer exactly what {@linkcode runQuery} over every manifest
 * answers (the reference: `scan_index.ts`): the same filters, the same
 * order (newest start first, then id descending), the same cursors.
 *
 * @module
 */

import type { RecordingPage, RecordingQuery } from "../query.ts";
import type { RecordingManifest } from "../storage.ts";

/** One recording of {@linkcode RecordingIndex.putMany}. */
export interface IndexEntry {
  /** The manifest as stored. */
  manifest: RecordingManifest;
  /**
   * Its text (what `q` searches), when it has one; without it, a text the
   * index holds for the recording stays.
   */
  text?: string;
}

/** A searchable index of recordings. */
export interface RecordingIndex {
  /** What backs it, for logs: `"sqlite /var/lib/…/index.sqlite"`, `"postgres"`, `"scan"`. */
  readonly describe: string;
  /**
   * Adds or replaces a recording's manifest (keyed by `manifest.id`).
   * @param manifest The manifest as stored.
   */
  put(manifest: RecordingManifest): Promise<void>;
  /**
   * Adds or replaces a recording's text (what `q` searches). A recording
   * without text matches no `q`.
   * @param id The recording id.
   * @param text Plain output text.
   */
  putText(id: string, text: string): Promise<void>;
  /**
   * Puts many recordings at once, for bulk loading (`reindex`): the same as
   * `put(e.manifest)` and then, when `e.text` is given,
   * `putText(e.manifest.id, e.text)` for each entry in order, but in one
   * transaction, so all or none are applied and each costs a fraction of a
   * single put. The upload path keeps using `put` and `putText`.
   * @param entries The recordings, in order (an id may repeat: the later
   * entry wins, as with puts).
   */
  putMany(entries: readonly IndexEntry[]): Promise<void>;
  /**
   * Removes a recording and its text (retention).
   * @param id The recording id.
   */
  remove(id: string): Promise<void>;
  /**
   * One page of recordings.
   * @param q The parsed query (`parseRecordingQuery`).
   * @returns Newest first, with a cursor when more match.
   */
  query(q: RecordingQuery): Promise<RecordingPage>;
  /**
   * Ids of recordings that started before a time and are not live, oldest
   * first, equal start times by id ascending (for retention).
   * @param beforeSeconds Unix seconds (compared with `startTime(m)`).
   * @param limit Most ids returned.
   * @returns The ids.
   */
  expired(beforeSeconds: number, limit: number): Promise<string[]>;
  /**
   * Counts the indexed recordings.
   * @returns How many recordings the index holds.
   */
  count(): Promise<number>;
  /** Empties the index (before a reindex). */
  clear(): Promise<void>;
  /** Releases the connection or file. */
  close(): Promise<void>;
}
