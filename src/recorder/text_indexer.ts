/**
 * Derives each finished recording's text index (what `q` searches) from its
 * stored evidence, off the upload path.
 *
 * Building the text while uploads stream cost the recorder most of its CPU
 * under 1,000 concurrent sessions (every live session held up to its bound
 * of decoded strings, and the collector walked them all): a recording is now
 * indexed after it is finalised, by a queue that runs a bounded number of
 * derivations at a time, and a search that meets a finished recording
 * without a text index derives it on the spot (once, shared with the queue).
 * Storage stays the source of truth: a missing or lost text index is
 * derived again.
 *
 * @module
 */

import type { RecordingId } from "./recording_id.ts";
import type { RecordingManifest, RecordingStorage } from "./storage.ts";
import { scanRecords } from "./_scan_records.ts";
import { scanCast } from "./_scan_cast.ts";

/** Options of {@linkcode TextIndexer}. */
export interface TextIndexerOptions {
  /** Largest text index per recording, in UTF-16 code units. */
  maxTextChars: number;
  /** Derivations at a time. @default {1} */
  concurrency?: number;
  /** Told when a derivation fails (the recording stays unsearchable). */
  onError?: (id: RecordingId, error: unknown) => void;
  /** Told each text derived (e.g. to put it in the index). */
  onText?: (id: RecordingId, text: string) => Promise<unknown> | void;
}

/**
 * The queue of text derivations.
 *
 * @example
 * ```ts
 * import { DiskStorage, TextIndexer } from "./mod.ts";
 * const dir = await Deno.makeTempDir();
 * const storage = new DiskStorage({ dir });
 * const indexer = new TextIndexer(storage, { maxTextChars: 1024 });
 * await indexer.idle();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class TextIndexer {
  #storage: RecordingStorage;
  #o: TextIndexerOptions;
  #running = new Map<string, Promise<string | undefined>>();
  #queue: RecordingId[] = [];
  #active = 0;
  #idle: { promise: Promise<void>; resolve: () => void } | undefined;

  /**
   * @param storage Where the evidence and the text indexes are.
   * @param options Bound and concurrency.
   */
  constructor(storage: RecordingStorage, options: TextIndexerOptions) {
    this.#storage = storage;
    this.#o = options;
  }

  /**
   * Queues a finished recording for indexing.
   * @param id The recording id.
   */
  schedule(id: RecordingId): void {
    this.#queue.push(id);
    this.#pump();
  }

  /**
   * The text index of a recording: the stored one, or derived now when a
   * finished recording has none. A live recording (`recording`) has none.
   * @param id The recording id.
   * @param manifest Its manifest, when the caller has it.
   * @returns The text, or `undefined`.
   */
  text(
    id: RecordingId,
    manifest?: RecordingManifest,
  ): Promise<string | undefined> {
    const running = this.#running.get(id.id);
    if (running) return running;
    const p = (async () => {
      const stored = await this.#storage.readText(id);
      if (stored !== undefined) return stored;
      const m = manifest ?? await this.#storage.get(id);
      if (!m || m.status === "recording") return undefined;
      return await this.#derive(id, m);
    })();
    // Concurrent asks for one recording share one lookup and derivation.
    this.#running.set(id.id, p);
    const clear = () => {
      if (this.#running.get(id.id) === p) this.#running.delete(id.id);
    };
    p.then(clear, clear);
    return p;
  }

  /** @returns Resolves once nothing is queued or running. */
  idle(): Promise<void> {
    if (this.#active === 0 && this.#queue.length === 0) {
      return Promise.resolve();
    }
    this.#idle ??= Promise.withResolvers<void>();
    return this.#idle.promise;
  }

  #pump(): void {
    const limit = Math.max(1, this.#o.concurrency ?? 1);
    while (this.#active < limit && this.#queue.length > 0) {
      const id = this.#queue.shift()!;
      this.#active++;
      this.text(id).catch((e) => this.#o.onError?.(id, e)).finally(() => {
        this.#active--;
        this.#pump();
        if (this.#active === 0 && this.#queue.length === 0 && this.#idle) {
          this.#idle.resolve();
          this.#idle = undefined;
        }
      });
    }
  }

  async #derive(
    id: RecordingId,
    m: RecordingManifest,
  ): Promise<string | undefined> {
    const stored = await this.#storage.openStored(id);
    if (!stored) return undefined;
    const scan = m.format === "records"
      ? await scanRecords(stored, this.#o.maxTextChars)
      : await scanCast(stored, this.#o.maxTextChars);
    await this.#storage.writeText(id, scan.text);
    await this.#o.onText?.(id, scan.text);
    return scan.text;
  }
}
