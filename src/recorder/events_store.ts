/**
 * Where the recorder keeps API events streams: each stream's record stream
 * exactly as the proxy uploaded it (a `HEADER`, then `EVENT` records), under
 * `YYYY/MM/DD/<stream id>` like a recording. This evidence is the source of
 * truth; the events index is a view of it. Streams are only appended to;
 * nothing here deletes one.
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
}

/** An {@linkcode EventStore} in memory (tests). */
export class MemoryEventStore implements EventStore {
  /** The streams' bytes by id. */
  readonly streams = new Map<string, Uint8Array[]>();

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
    return Promise.resolve({
      write(chunk) {
        parts.push(chunk.slice());
        return Promise.resolve();
      },
      close: () => Promise.resolve(),
    });
  }

  list(): Promise<string[]> {
    return Promise.resolve([...this.streams.keys()]);
  }

  open(id: RecordingId): Promise<ReadableStream<Uint8Array> | undefined> {
    const p = this.streams.get(id.id);
    return Promise.resolve(p ? ReadableStream.from(p) : undefined);
  }
}
