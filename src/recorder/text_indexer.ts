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
 * A live recording's text so far is searchable too, never stored (the
 * stored `.txt` is the finished recording's):
 *
 * - Followed recordings ({@linkcode TextIndexer.follow}, the recorder
 *   follows its own uploads when it has an index) are derived again every
 *   `liveIntervalMs` (5 s) while their evidence grows, one at a time, each
 *   read stopping at `maxTextChars` (a `kubectl cp` download's is read
 *   whole: its text is the archive's listing so far), and handed to
 *   `onText`. A pass waits
 *   at least nine times its own duration before the next, so following
 *   takes at most a tenth of the time whatever the number of live
 *   sessions: the delay is 5 s on a quiet recorder and grows under load.
 *   Storage decides what is there to read (S3 shows a live recording's
 *   bytes once their segment is flushed, `flushIntervalMs`). A text that
 *   reached its bound is not derived again.
 * - {@linkcode TextIndexer.text} of a live recording (the scan path, which
 *   has no index) derives its text so far on the spot.
 *
 * None of this is on an upload's byte path: it reads what storage holds.
 * The finished recording's derivation waits for a live one in flight, so
 * the final text always reaches `onText` last.
 *
 * @module
 */

import type { RecordingId } from "./recording_id.ts";
import type { RecordingManifest, RecordingStorage } from "./storage.ts";
import { copyByCommand, scanCopyRecords } from "./views/copy_files.ts";
import type { IncrementalDigest } from "../recording/cast_encoder.ts";
import { scanCast } from "./_scan_cast.ts";
import {
  RecordDecoder,
  RecordFormatError,
  RecordType,
} from "../protocol/records.ts";
import { OutputTextIndex } from "./text_index.ts";

/** Options of {@linkcode TextIndexer}. */
export interface TextIndexerOptions {
  /** Largest text index per recording, in UTF-16 code units. */
  maxTextChars: number;
  /**
   * A fresh incremental SHA-256, for a `kubectl cp` download's listing.
   * @default {the TypeScript `Sha256`}
   */
  digest?: () => IncrementalDigest;
  /** Derivations at a time. @default {1} */
  concurrency?: number;
  /** Told when a derivation fails (the recording stays unsearchable). */
  onError?: (id: RecordingId, error: unknown) => void;
  /**
   * Told each text derived (e.g. to put it in the index): a finished
   * recording's once, a followed live recording's each time it grew.
   */
  onText?: (id: RecordingId, text: string) => Promise<unknown> | void;
  /**
   * Shortest time between two passes over the followed live recordings;
   * `0` turns following off. @default {5000}
   */
  liveIntervalMs?: number;
}

/** A live recording being followed. */
interface Followed {
  id: RecordingId;
  /** `castBytes` when its text was last derived (-1: never). */
  bytes: number;
  /** Its text reached the bound: nothing more to derive while live. */
  full: boolean;
}

/** A pass waits this many times its own duration before the next. */
const LIVE_IDLE_FACTOR = 9;

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
  #followed = new Map<string, Followed>();
  #liveRunning = new Map<string, Promise<string | undefined>>();
  #liveTimer: ReturnType<typeof setTimeout> | undefined;
  #livePass: Promise<void> | undefined;
  #closed = false;

  /**
   * Creates an indexer with nothing queued or followed.
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
    // Finished: its live text is followed no more.
    this.#followed.delete(id.id);
    this.#queue.push(id);
    this.#pump();
  }

  /**
   * Follows a live recording: its text so far goes to `onText` every
   * `liveIntervalMs` while it grows, until {@linkcode schedule} (it
   * finished) or until storage no longer shows it `recording`. Does
   * nothing without `onText`, with `liveIntervalMs: 0` or once closed.
   * @param id The recording id.
   */
  follow(id: RecordingId): void {
    const interval = this.#o.liveIntervalMs ?? 5000;
    if (!this.#o.onText || interval <= 0 || this.#closed) return;
    if (!this.#followed.has(id.id)) {
      this.#followed.set(id.id, { id, bytes: -1, full: false });
    }
    this.#arm(interval);
  }

  /** How many live recordings are followed. */
  get following(): number {
    return this.#followed.size;
  }

  /**
   * The text index of a recording: the stored one, or derived now when a
   * finished recording has none. A live recording (`recording`) gets its
   * text so far, derived now and not stored.
   * @param id The recording id.
   * @param manifest Its manifest, when the caller has it.
   * @returns The text, or `undefined`.
   */
  async text(
    id: RecordingId,
    manifest?: RecordingManifest,
  ): Promise<string | undefined> {
    const running = this.#running.get(id.id);
    if (running) return await running;
    const stored = await this.#storage.readText(id);
    if (stored !== undefined) return stored;
    const m = manifest ?? await this.#storage.get(id);
    if (!m) return undefined;
    if (m.status === "recording") return await this.#liveText(id);
    return await this.#final(id, m);
  }

  /**
   * A finished recording's text, derived once: concurrent asks share one
   * derivation (a live lookup is never shared with it).
   */
  #final(
    id: RecordingId,
    m: RecordingManifest,
  ): Promise<string | undefined> {
    const running = this.#running.get(id.id);
    if (running) return running;
    const p = (async () => {
      // A live derivation's onText must not land after the final one.
      await this.#liveRunning.get(id.id)?.catch(() => {});
      const stored = await this.#storage.readText(id);
      if (stored !== undefined) return stored;
      return await this.#derive(id, m);
    })();
    this.#running.set(id.id, p);
    const clear = () => {
      if (this.#running.get(id.id) === p) this.#running.delete(id.id);
    };
    p.then(clear, clear);
    return p;
  }

  /**
   * Waits until the indexer has nothing left to do (for tests and shutdown).
   * @returns Resolves once nothing is queued or running (a pass over live
   * recordings in flight included).
   */
  async idle(): Promise<void> {
    await this.#livePass;
    if (this.#active === 0 && this.#queue.length === 0) return;
    this.#idle ??= Promise.withResolvers<void>();
    await this.#idle.promise;
  }

  /**
   * Stops following live recordings (nothing new is followed) and waits
   * for what is queued or running.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#followed.clear();
    clearTimeout(this.#liveTimer);
    this.#liveTimer = undefined;
    await this.idle();
  }

  /** Starts the next pass in `ms`, unless one is due or running. */
  #arm(ms: number): void {
    if (this.#liveTimer !== undefined || this.#livePass !== undefined) return;
    if (this.#followed.size === 0 || this.#closed) return;
    this.#liveTimer = setTimeout(() => {
      this.#liveTimer = undefined;
      const started = Date.now();
      const pass = this.#passOverLive();
      this.#livePass = pass;
      void pass.finally(() => {
        this.#livePass = undefined;
        const took = Date.now() - started;
        this.#arm(
          Math.max(this.#o.liveIntervalMs ?? 5000, took * LIVE_IDLE_FACTOR),
        );
      });
    }, ms);
  }

  /** One pass: each followed recording that grew gets its text so far. */
  async #passOverLive(): Promise<void> {
    for (const f of [...this.#followed.values()]) {
      if (this.#followed.get(f.id.id) !== f) continue;
      try {
        const m = await this.#storage.get(f.id);
        if (!m || m.status !== "recording") {
          // Finished (or gone) without schedule(): an upload whose storage
          // failed. Nothing more to follow.
          if (this.#followed.get(f.id.id) === f) {
            this.#followed.delete(f.id.id);
          }
          continue;
        }
        if (f.full || m.castBytes === f.bytes) continue;
        await this.#liveText(f.id, async (text, full) => {
          // Finished meanwhile: the final derivation (which waits for this
          // one) tells onText; a live text must not replace it.
          if (this.#followed.get(f.id.id) !== f) return;
          await this.#o.onText?.(f.id, text);
          f.bytes = m.castBytes;
          f.full = full;
        });
      } catch (e) {
        this.#o.onError?.(f.id, e);
      }
    }
  }

  /**
   * A live recording's text so far, derived now (concurrent asks share
   * one read). `deliver`, when given, runs inside the same promise, so a
   * finished recording's derivation waiting for it comes after.
   */
  #liveText(
    id: RecordingId,
    deliver?: (text: string, full: boolean) => Promise<void>,
  ): Promise<string | undefined> {
    const running = this.#liveRunning.get(id.id);
    if (running && !deliver) return running;
    const p = (async () => {
      await running?.catch(() => {});
      const m = await this.#storage.get(id);
      const stored = await this.#storage.openStored(id);
      if (!stored) return undefined;
      // A `kubectl cp` download's live text is its listing so far, as its
      // final one will be, not the archive's bytes read as text.
      if (m?.format === "records" && copyByCommand(m.header?.argv)) {
        const copy = await scanCopyRecords(stored, {
          maxTextChars: this.#o.maxTextChars,
          ...(this.#o.digest ? { digest: this.#o.digest } : {}),
        });
        await deliver?.(copy.text, copy.textTruncated);
        return copy.text;
      }
      const scan = await liveRecordsText(stored, this.#o.maxTextChars);
      await deliver?.(scan.text, scan.truncated);
      return scan.text;
    })();
    this.#liveRunning.set(id.id, p);
    const clear = () => {
      if (this.#liveRunning.get(id.id) === p) this.#liveRunning.delete(id.id);
    };
    p.then(clear, clear);
    return p;
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
    // A `kubectl cp` download's text is its listing, not its archive.
    const scan = m.format === "records"
      ? await scanCopyRecords(stored, {
        maxTextChars: this.#o.maxTextChars,
        ...(this.#o.digest ? { digest: this.#o.digest } : {}),
      })
      : await scanCast(stored, this.#o.maxTextChars);
    // Retention may have removed it meanwhile: never write a stray .txt.
    if (!(await this.#storage.exists(id))) return undefined;
    await this.#storage.writeText(id, scan.text);
    await this.#o.onText?.(id, scan.text);
    return scan.text;
  }
}

/**
 * The text of a live record stream so far: reading stops at the bound (a
 * live recording's text is derived again and again) and at a torn last
 * record (the rest is still being written).
 */
async function liveRecordsText(
  stream: ReadableStream<Uint8Array>,
  maxTextChars: number,
): Promise<{ text: string; truncated: boolean }> {
  const d = new RecordDecoder();
  const text = new OutputTextIndex(maxTextChars);
  const reader = stream.getReader();
  try {
    while (!text.truncated) {
      const r = await reader.read();
      if (r.done) break;
      let recs;
      try {
        recs = d.push(r.value);
      } catch (e) {
        if (e instanceof RecordFormatError) break;
        throw e;
      }
      for (const rec of recs) {
        if (rec.type === RecordType.STDOUT || rec.type === RecordType.STDERR) {
          text.add(rec.type, rec.payload);
        }
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return { text: text.text(), truncated: text.truncated };
}
