/**
 * Where the recorder keeps API events streams: each stream's record stream
 * exactly as the proxy uploaded it (a `HEADER`, then `EVENT` records), under
 * `YYYY/MM/DD/<stream id>` like a recording. This evidence is the source of
 * truth; the events index is a view of it. Streams are only appended to;
 * only retention removes one, and never one still being written
 * ({@linkcode EventStore.stat}, {@linkcode EventStore.remove}).
 *
 * Implemented on disk (`events_disk_store.ts`) and in memory (tests).
 *
 * @module
 */

import type { RecordingId } from "./recording_id.ts";

/** Appends one events stream. */
export interface EventStreamWriter {
  /**
   * Appends complete records.
   * @param chunk Bytes (not kept after return).
   */
  write(chunk: Uint8Array): Promise<void>;
  /** Flushes and closes. */
  close(): Promise<void>;
}

/** What {@linkcode EventStore.stat} tells of one stream. */
export interface EventStreamStat {
  /**
   * When it was last written, Unix ms: its last event arrived at or before
   * this (the records are written as they arrive), so a stream last written
   * before a cutoff holds no event after it.
   */
  lastWriteMs: number;
  /** Whether a writer of this store still has it open. */
  open: boolean;
  /** Its size in bytes. */
  bytes: number;
}

/** A store of events streams. */
export interface EventStore {
  /**
   * Starts a stream.
   * @param id Its id (`YYYY/MM/DD/<stream id>`).
   * @throws {Error} When it exists.
   */
  create(id: RecordingId): Promise<EventStreamWriter>;
  /**
   * Lists the stored streams.
   * @returns Every stream's id (`YYYY/MM/DD/<stream id>`).
   */
  list(): Promise<string[]>;
  /**
   * Reads one stream's bytes as they are stored.
   * @param id The stream's id.
   * @returns A stream's bytes, or undefined.
   */
  open(id: RecordingId): Promise<ReadableStream<Uint8Array> | undefined>;
  /**
   * Tells when a stream was last written and whether it is still open.
   * @param id The stream's id.
   * @returns Its facts, or undefined when there is no such stream.
   */
  stat(id: RecordingId): Promise<EventStreamStat | undefined>;
  /**
   * Deletes a stream (retention).
   * @param id The stream's id.
   * @throws {Error} When it is still open (being written); a stream that
   *   is not there is not an error.
   */
  remove(id: RecordingId): Promise<void>;
}

/** An {@linkcode EventStore} in memory (tests). */
export class MemoryEventStore implements EventStore {
  /** The streams' bytes by id. */
  readonly streams = new Map<string, Uint8Array[]>();
  #written = new Map<string, number>();
  #open = new Set<string>();
  #now: () => number;

  /** @param now Clock of the last writes, Unix ms. @default {Date.now} */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  create(id: RecordingId): Promise<EventStreamWriter> {
    if (this.streams.has(id.id)) {
      return Promise.reject(
        new Error(
          `Cannot create events stream ${JSON.stringify(id.id)}: it exists`,
        ),
      );
    }
    const parts: Uint8Array[] = [];
    this.streams.set(id.id, parts);
    this.#written.set(id.id, this.#now());
    this.#open.add(id.id);
    return Promise.resolve({
      write: (chunk) => {
        parts.push(chunk.slice());
        this.#written.set(id.id, this.#now());
        return Promise.resolve();
      },
      close: () => {
        this.#open.delete(id.id);
        return Promise.resolve();
      },
    });
  }

  list(): Promise<string[]> {
    return Promise.resolve([...this.streams.keys()]);
  }

  open(id: RecordingId): Promise<ReadableStream<Uint8Array> | undefined> {
    const p = this.streams.get(id.id);
    return Promise.resolve(p ? ReadableStream.from(p) : undefined);
  }

  stat(id: RecordingId): Promise<EventStreamStat | undefined> {
    const p = this.streams.get(id.id);
    return Promise.resolve(
      p
        ? {
          lastWriteMs: this.#written.get(id.id) ?? 0,
          open: this.#open.has(id.id),
          bytes: p.reduce((n, c) => n + c.length, 0),
        }
        : undefined,
    );
  }

  remove(id: RecordingId): Promise<void> {
    if (this.#open.has(id.id)) return Promise.reject(openError(id));
    this.streams.delete(id.id);
    this.#written.delete(id.id);
    return Promise.resolve();
  }
}

/**
 * The refusal to delete a stream being written.
 * @param id The stream.
 * @returns The error.
 */
export function openError(id: RecordingId): Error {
  return new Error(
    `Cannot delete events stream ${
      JSON.stringify(id.id)
    }: it is still being written`,
  );
}
