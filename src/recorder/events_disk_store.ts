/**
 * The {@linkcode EventStore} on disk: `<dir>/YYYY/MM/DD/<stream id>.records`
 * (the recorder puts it in `events/` of its storage folder, which the
 * recordings' listing ignores). Each write is handed to the file before it
 * is acknowledged; with `fsync` it is also synced. A stream's last write
 * time is its file's modification time; "open" means open by this store
 * (this recorder process). An adapter: `Deno.*`.
 *
 * @module
 */

import {
  type EventStore,
  type EventStreamStat,
  type EventStreamWriter,
  openError,
} from "./events_store.ts";
import { parseRecordingId, type RecordingId } from "./recording_id.ts";

/** Options of {@linkcode DiskEventStore}. */
export interface DiskEventStoreOptions {
  /** The folder. */
  dir: string;
  /** `fdatasync` after each write. @default {false} */
  fsync?: boolean;
}

/** Events streams on disk. */
export class DiskEventStore implements EventStore {
  #dir: string;
  #fsync: boolean;
  /** The streams this store's writers have open. */
  #open = new Set<string>();

  /** @param options The folder. */
  constructor(options: DiskEventStoreOptions) {
    this.#dir = options.dir.replace(/\/+$/, "");
    this.#fsync = options.fsync ?? false;
  }

  #path(id: RecordingId): string {
    return `${this.#dir}/${id.id}.records`;
  }

  async create(id: RecordingId): Promise<EventStreamWriter> {
    await Deno.mkdir(`${this.#dir}/${id.year}/${id.month}/${id.day}`, {
      recursive: true,
    });
    const file = await Deno.open(this.#path(id), {
      createNew: true,
      write: true,
      append: true,
    });
    const fsync = this.#fsync;
    const open = this.#open;
    open.add(id.id);
    let closed = false;
    return {
      async write(chunk) {
        let off = 0;
        while (off < chunk.length) off += await file.write(chunk.subarray(off));
        if (fsync) await file.syncData();
      },
      close() {
        if (!closed) {
          closed = true;
          open.delete(id.id);
          file.close();
        }
        return Promise.resolve();
      },
    };
  }

  async list(): Promise<string[]> {
    const out: string[] = [];
    const names = async (p: string, re: RegExp) => {
      const n: string[] = [];
      try {
        for await (const e of Deno.readDir(p)) {
          if (re.test(e.name)) n.push(e.name);
        }
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      return n.sort();
    };
    for (const y of await names(this.#dir, /^[0-9]{4}$/)) {
      for (const m of await names(`${this.#dir}/${y}`, /^[0-9]{2}$/)) {
        for (const d of await names(`${this.#dir}/${y}/${m}`, /^[0-9]{2}$/)) {
          for (
            const f of await names(`${this.#dir}/${y}/${m}/${d}`, /\.records$/)
          ) {
            const id = parseRecordingId(`${y}/${m}/${d}/${f.slice(0, -8)}`);
            if (id) out.push(id.id);
          }
        }
      }
    }
    return out;
  }

  async open(id: RecordingId): Promise<ReadableStream<Uint8Array> | undefined> {
    try {
      return (await Deno.open(this.#path(id))).readable;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
  }

  async stat(id: RecordingId): Promise<EventStreamStat | undefined> {
    try {
      const s = await Deno.stat(this.#path(id));
      return {
        lastWriteMs: s.mtime?.getTime() ?? Date.now(),
        open: this.#open.has(id.id),
        bytes: s.size,
      };
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
  }

  async remove(id: RecordingId): Promise<void> {
    if (this.#open.has(id.id)) throw openError(id);
    try {
      await Deno.remove(this.#path(id));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
}
