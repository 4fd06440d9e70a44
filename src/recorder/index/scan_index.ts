/**
 * The reference {@linkcode RecordingIndex}: manifests and texts in two
 * `Map`s, queried with `runQuery` exactly as the recorder did before it had
 * an index. Every other index must answer what this one answers (the tests
 * hold them to it); it also serves tests and tiny deployments.
 *
 * @module
 */

import {
  type RecordingPage,
  type RecordingQuery,
  runQuery,
  startTime,
} from "../query.ts";
import type { RecordingManifest } from "../storage.ts";
import type { IndexEntry, RecordingIndex } from "./recording_index.ts";

/**
 * An in-memory index that scans every manifest on each query.
 *
 * @example
 * ```ts
 * import { ScanIndex } from "./scan_index.ts";
 * import type { RecordingManifest } from "../storage.ts";
 *
 * const index = new ScanIndex();
 * await index.put({
 *   id: "2026/11/27/a",
 *   sessionId: "a",
 *   status: "complete",
 *   header: { timestamp: 1_790_000_000, srcNodeUser: "alice" },
 *   castBytes: 0,
 *   startedAt: 0,
 *   updatedAt: 0,
 * } as RecordingManifest);
 * await index.putText("2026/11/27/a", "Hello World");
 * const page = await index.query({ q: "hello", limit: 10 });
 * if (page.items[0]?.id !== "2026/11/27/a") throw new Error("not found");
 * await index.close();
 * ```
 */
export class ScanIndex implements RecordingIndex {
  readonly describe = "scan";
  #manifests = new Map<string, RecordingManifest>();
  #texts = new Map<string, string>();

  /**
   * Adds or replaces a manifest; a JSON copy is kept, as a database would.
   * @param manifest The manifest.
   */
  put(manifest: RecordingManifest): Promise<void> {
    this.#manifests.set(manifest.id, JSON.parse(JSON.stringify(manifest)));
    return Promise.resolve();
  }

  /**
   * Adds or replaces a recording's text.
   * @param id The recording id.
   * @param text The text.
   */
  putText(id: string, text: string): Promise<void> {
    this.#texts.set(id, text);
    return Promise.resolve();
  }

  /**
   * Puts each entry's manifest and then its text, in order; copies every
   * manifest first, so one that cannot be copied changes nothing.
   * @param entries The recordings.
   */
  putMany(entries: readonly IndexEntry[]): Promise<void> {
    let copies: RecordingManifest[];
    try {
      copies = entries.map((e) => JSON.parse(JSON.stringify(e.manifest)));
    } catch (e) {
      return Promise.reject(e);
    }
    entries.forEach(({ manifest, text }, i) => {
      this.#manifests.set(manifest.id, copies[i]!);
      if (text !== undefined) this.#texts.set(manifest.id, text);
    });
    return Promise.resolve();
  }

  /**
   * Removes a recording and its text.
   * @param id The recording id.
   */
  remove(id: string): Promise<void> {
    this.#manifests.delete(id);
    this.#texts.delete(id);
    return Promise.resolve();
  }

  /**
   * One page: `runQuery` over every manifest.
   * @param q The query.
   * @returns The page.
   */
  query(q: RecordingQuery): Promise<RecordingPage> {
    return runQuery(
      [...this.#manifests.values()],
      q,
      (m) => Promise.resolve(this.#texts.get(m.id)),
    );
  }

  /**
   * Ids that started before a time and are not live, oldest first (ties by
   * id ascending).
   * @param beforeSeconds Unix seconds.
   * @param limit Most ids returned.
   * @returns The ids.
   */
  expired(beforeSeconds: number, limit: number): Promise<string[]> {
    const old = [...this.#manifests.values()]
      .filter((m) => m.status !== "recording" && startTime(m) < beforeSeconds)
      .sort((a, b) =>
        startTime(a) - startTime(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
      );
    return Promise.resolve(old.slice(0, limit).map((m) => m.id));
  }

  /** @returns How many manifests it holds. */
  count(): Promise<number> {
    return Promise.resolve(this.#manifests.size);
  }

  /** Forgets everything. */
  clear(): Promise<void> {
    this.#manifests.clear();
    this.#texts.clear();
    return Promise.resolve();
  }

  /** Nothing to release. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
