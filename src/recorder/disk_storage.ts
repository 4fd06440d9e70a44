/**
 * Recording storage in a folder on disk (the default backend).
 *
 * Layout, one folder per day:
 *
 * ```
 * <dir>/2026/11/27/<session id>.records  the evidence: the record stream as uploaded,
 *                                        appended as it arrives (v2)
 * <dir>/2026/11/27/<session id>.cast     pure asciicast v2, instead, of a v1 upload
 * <dir>/2026/11/27/<session id>.txt      text index (written at the end)
 * <dir>/2026/11/27/<session id>.json     manifest, written last, atomically
 * ```
 *
 * Evidence without `.json` is a recording still uploading (in this
 * process) or `partial`. The manifest is written to a temporary file and
 * renamed, so a reader never sees a half-written manifest and a recording
 * is never shown `complete` before its evidence is whole. Paths are only
 * built from parsed {@linkcode RecordingId}s, which cannot contain `..` or
 * separators.
 *
 * This is an adapter: it uses `Deno.*`.
 *
 * @module
 */

import type { CastHeader } from "../recording/wire.ts";
import { parseRecordingId, type RecordingId } from "./recording_id.ts";
import {
  evidenceExt,
  RecordingExistsError,
  type RecordingManifest,
  type RecordingStorage,
  type RecordingWriter,
  type RecoverOptions,
} from "./storage.ts";
import { sealStoredEvidence } from "./integrity/seal.ts";
import { scanCast } from "./_scan_cast.ts";
import { scanRecords } from "./_scan_records.ts";
import { RecordDecoder, RecordType } from "../protocol/records.ts";

/** Options of {@linkcode DiskStorage}. */
export interface DiskStorageOptions {
  /** The root folder (created when missing). */
  dir: string;
  /** Call `fdatasync` on every sync and at the end. @default {false} */
  fsync?: boolean;
  /** Bound of the text index built by recovery. @default {8388608} */
  maxTextChars?: number;
  /** Clock in Unix ms. @default {Date.now} */
  now?: () => number;
}

const DAY_PART = /^[0-9]{2}$/;
const YEAR_PART = /^[0-9]{4}$/;
const EVIDENCE_FILE =
  /^([A-Za-z0-9_-]{1,64}(?:~[0-9]{1,2})?)\.(?:cast|records)$/;

/** Recording storage in a local folder. */
export class DiskStorage implements RecordingStorage {
  #dir: string;
  #fsync: boolean;
  #maxText: number;
  #now: () => number;
  #live = new Set<string>();
  #cache = new Map<string, RecordingManifest>();

  /**
   * Creates the storage; nothing is read or written until the first call.
   * @param options Where and how to store.
   */
  constructor(options: DiskStorageOptions) {
    this.#dir = options.dir.replace(/\/+$/, "") || "/";
    this.#fsync = options.fsync ?? false;
    this.#maxText = options.maxTextChars ?? 8 * 1024 * 1024;
    this.#now = options.now ?? Date.now;
  }

  #path(id: RecordingId, ext: string): string {
    // Every part was matched by a strict pattern in parseRecordingId/makeRecordingId.
    const part = id.part === undefined ? "" : `~${id.part}`;
    return `${this.#dir}/${id.year}/${id.month}/${id.day}/${id.sessionId}${part}${ext}`;
  }

  #folder(id: RecordingId): string {
    return `${this.#dir}/${id.year}/${id.month}/${id.day}`;
  }

  async create(
    id: RecordingId,
    manifest: RecordingManifest,
    headerLine: Uint8Array,
  ): Promise<RecordingWriter> {
    await Deno.mkdir(this.#folder(id), { recursive: true });
    const ext = evidenceExt(manifest);
    if (await this.exists(id)) throw new RecordingExistsError(id.id);
    let file: Deno.FsFile;
    try {
      file = await Deno.open(this.#path(id, ext), {
        write: true,
        createNew: true,
      });
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) {
        throw new RecordingExistsError(id.id);
      }
      throw e;
    }
    this.#live.add(id.id);
    const writer = new DiskWriter(this, id, file, this.#fsync, () => {
      this.#live.delete(id.id);
    });
    try {
      await writer.write(headerLine);
    } catch (e) {
      await writer.abort();
      throw e;
    }
    void manifest;
    return writer;
  }

  /** @internal Writes a manifest atomically (temp file, then rename). */
  async writeManifest(id: RecordingId, manifest: RecordingManifest) {
    await writeAtomic(
      this.#path(id, ".json"),
      new TextEncoder().encode(JSON.stringify(manifest) + "\n"),
      this.#fsync,
    );
    this.#cache.set(id.id, manifest);
  }

  /** Writes the text index atomically. */
  async writeText(id: RecordingId, text: string) {
    await writeAtomic(
      this.#path(id, ".txt"),
      new TextEncoder().encode(text),
      this.#fsync,
    );
  }

  async remove(id: RecordingId): Promise<void> {
    // The manifest last: a deletion cut short is seen and finished by the
    // next run, never a recording listed without its manifest.
    for (const ext of [".records", ".cast", ".txt", ".json"]) {
      await Deno.remove(this.#path(id, ext)).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
    }
    this.#cache.delete(id.id);
  }

  async exists(id: RecordingId): Promise<boolean> {
    return await exists(this.#path(id, ".records")) ||
      await exists(this.#path(id, ".cast")) ||
      await exists(this.#path(id, ".json"));
  }

  async list(): Promise<RecordingManifest[]> {
    const out: RecordingManifest[] = [];
    for (const id of await this.#ids()) {
      const m = await this.get(id);
      if (m) out.push(m);
    }
    return out;
  }

  async #ids(): Promise<RecordingId[]> {
    const ids = new Map<string, RecordingId>();
    for (const y of await dirNames(this.#dir, YEAR_PART)) {
      for (const m of await dirNames(`${this.#dir}/${y}`, DAY_PART)) {
        for (const d of await dirNames(`${this.#dir}/${y}/${m}`, DAY_PART)) {
          const folder = `${this.#dir}/${y}/${m}/${d}`;
          for await (const e of Deno.readDir(folder)) {
            const match = e.isFile ? EVIDENCE_FILE.exec(e.name) : null;
            const id = match && parseRecordingId(`${y}/${m}/${d}/${match[1]}`);
            if (id) ids.set(id.id, id);
          }
        }
      }
    }
    return [...ids.values()];
  }

  /** The evidence file of a recording and its format, when there is one. */
  async #evidence(
    id: RecordingId,
  ): Promise<{ path: string; format?: "records" } | undefined> {
    const records = this.#path(id, ".records");
    if (await exists(records)) return { path: records, format: "records" };
    const cast = this.#path(id, ".cast");
    return await exists(cast) ? { path: cast } : undefined;
  }

  async #manifest(id: RecordingId): Promise<RecordingManifest | undefined> {
    const cached = this.#cache.get(id.id);
    if (cached) return cached;
    try {
      const m = JSON.parse(
        await Deno.readTextFile(this.#path(id, ".json")),
      ) as RecordingManifest;
      this.#cache.set(id.id, m);
      return m;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      return undefined;
    }
  }

  async get(id: RecordingId): Promise<RecordingManifest | undefined> {
    // Liveness first: an upload that finishes while the reads below run
    // has written its manifest by the time it stops being live.
    const liveBefore = this.#live.has(id.id);
    const final = await this.#manifest(id);
    if (final) return final;
    const m = await this.#unfinished(id, liveBefore);
    if (m && !this.#live.has(id.id)) {
      // It may have finished during the reads: its manifest is there now.
      return await this.#manifest(id) ?? m;
    }
    return m;
  }

  /** A recording without a final manifest: live here, or partial. */
  async #unfinished(
    id: RecordingId,
    liveBefore: boolean,
  ): Promise<RecordingManifest | undefined> {
    const ev = await this.#evidence(id);
    if (!ev) return undefined;
    let stat: Deno.FileInfo;
    try {
      stat = await Deno.stat(ev.path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
    const header = ev.format
      ? await readHeaderRecord(ev.path)
      : await readFirstLine(ev.path);
    const live = liveBefore || this.#live.has(id.id);
    return {
      id: id.id,
      sessionId: id.sessionId,
      status: live ? "recording" : "partial",
      ...(ev.format ? { format: ev.format } : {}),
      header: header ?? ({} as CastHeader),
      castBytes: stat.size,
      startedAt: stat.birthtime?.getTime() ?? stat.mtime?.getTime() ?? 0,
      updatedAt: stat.mtime?.getTime() ?? 0,
      ...(live ? {} : {
        partialReason:
          "the recording has no final manifest (its upload stopped)",
      }),
    };
  }

  async openStored(
    id: RecordingId,
  ): Promise<ReadableStream<Uint8Array> | undefined> {
    const ev = await this.#evidence(id);
    if (!ev) return undefined;
    try {
      return (await Deno.open(ev.path)).readable;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
  }

  async readText(id: RecordingId): Promise<string | undefined> {
    try {
      return await Deno.readTextFile(this.#path(id, ".txt"));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
  }

  async recover(options: RecoverOptions = {}): Promise<number> {
    let n = 0;
    for (const id of await this.#ids()) {
      if (this.#live.has(id.id) || await exists(this.#path(id, ".json"))) {
        continue;
      }
      const ev = await this.#evidence(id);
      if (!ev) continue;
      const path = ev.path;
      const file = await Deno.open(path, { read: true, write: true });
      let scan;
      try {
        const bytes = (await Deno.open(path)).readable;
        scan = ev.format
          ? await scanRecords(bytes, this.#maxText)
          : await scanCast(bytes, this.#maxText);
        // Trim a torn last record (or line) so the evidence stays a whole
        // record stream (the .cast valid asciicast).
        await file.truncate(scan.completeBytes);
        if (this.#fsync) await file.syncData();
      } finally {
        file.close();
      }
      if (!scan.header) {
        // Not even a whole header line: nothing was accepted.
        await this.remove(id);
        continue;
      }
      const stat = await Deno.stat(path);
      const now = this.#now();
      await this.writeText(id, scan.text);
      const manifest: RecordingManifest = {
        id: id.id,
        sessionId: id.sessionId,
        status: "partial",
        ...(ev.format ? { format: ev.format } : {}),
        header: scan.header,
        castBytes: scan.completeBytes,
        startedAt: stat.birthtime?.getTime() ?? stat.mtime?.getTime() ?? now,
        updatedAt: now,
        finishedAt: now,
        partialReason:
          "the recorder stopped before the session ended; recovered at restart",
        ...(scan.textTruncated ? { textTruncated: true } : {}),
      };
      // Sealed over the evidence as trimmed, read back from the file.
      await this.writeManifest(
        id,
        ev.format && options.seal
          ? await sealStoredEvidence(
            manifest,
            (await Deno.open(path)).readable,
            options.seal,
          )
          : manifest,
      );
      n++;
    }
    return n;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

class DiskWriter implements RecordingWriter {
  readonly id: string;
  #storage: DiskStorage;
  #rid: RecordingId;
  #file: Deno.FsFile | undefined;
  #fsync: boolean;
  #bytes = 0;
  #done: () => void;

  constructor(
    storage: DiskStorage,
    id: RecordingId,
    file: Deno.FsFile,
    fsync: boolean,
    done: () => void,
  ) {
    this.id = id.id;
    this.#storage = storage;
    this.#rid = id;
    this.#file = file;
    this.#fsync = fsync;
    this.#done = done;
  }

  get durableBytes(): number {
    return this.#bytes;
  }

  write(chunk: Uint8Array): Promise<void> {
    const file = this.#file;
    if (!file) {
      return Promise.reject(
        new Error(`Cannot write recording ${this.id}: it is closed`),
      );
    }
    // writeSync: Deno's async FsFile.write costs about a millisecond per call
    // under a streaming upload (200 MiB took 40 s instead of 1 s); a
    // synchronous write to the page cache takes microseconds.
    let off = 0;
    try {
      while (off < chunk.length) off += file.writeSync(chunk.subarray(off));
    } catch (e) {
      return Promise.reject(e);
    }
    this.#bytes += chunk.length;
    return Promise.resolve();
  }

  async sync(): Promise<void> {
    if (this.#fsync && this.#file) await this.#file.syncData();
  }

  async finish(manifest: RecordingManifest): Promise<void> {
    const file = this.#file;
    if (!file) {
      throw new Error(`Cannot finish recording ${this.id}: it is closed`);
    }
    try {
      if (this.#fsync) await file.syncData();
    } finally {
      file.close();
      this.#file = undefined;
    }
    try {
      await this.#storage.writeManifest(this.#rid, {
        ...manifest,
        castBytes: this.#bytes,
      });
    } finally {
      this.#done();
    }
  }

  async abort(): Promise<void> {
    try {
      this.#file?.close();
    } catch { /* already closed */ }
    this.#file = undefined;
    try {
      await this.#storage.remove(this.#rid);
    } finally {
      this.#done();
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

async function dirNames(dir: string, pattern: RegExp): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory && pattern.test(e.name)) names.push(e.name);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  return names;
}

let tmpCounter = 0;

async function writeAtomic(path: string, data: Uint8Array, fsync: boolean) {
  const slash = path.lastIndexOf("/");
  const tmp = `${path.slice(0, slash)}/.${
    path.slice(slash + 1)
  }.${Deno.pid}.${++tmpCounter}.tmp`;
  const file = await Deno.open(tmp, { write: true, createNew: true });
  try {
    let off = 0;
    while (off < data.length) off += await file.write(data.subarray(off));
    if (fsync) await file.syncData();
  } finally {
    file.close();
  }
  try {
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

async function readHeaderRecord(
  path: string,
): Promise<CastHeader | undefined> {
  const file = await Deno.open(path);
  try {
    const d = new RecordDecoder();
    const buf = new Uint8Array(64 * 1024);
    let total = 0;
    // The header record is at most maxHeaderBytes: read until it is whole.
    while (total < 16 * 1024 * 1024) {
      const n = await file.read(buf);
      if (!n) return undefined;
      total += n;
      const first = d.push(buf.slice(0, n))[0];
      if (first) {
        if (first.type !== RecordType.HEADER) return undefined;
        const v = JSON.parse(new TextDecoder().decode(first.payload));
        return typeof v === "object" && v !== null && !Array.isArray(v)
          ? v as CastHeader
          : undefined;
      }
    }
    return undefined;
  } catch {
    return undefined;
  } finally {
    file.close();
  }
}

async function readFirstLine(path: string): Promise<CastHeader | undefined> {
  const file = await Deno.open(path);
  try {
    const buf = new Uint8Array(64 * 1024);
    const n = await file.read(buf);
    if (!n) return undefined;
    const nl = buf.subarray(0, n).indexOf(10);
    if (nl === -1) return undefined;
    const v = JSON.parse(new TextDecoder().decode(buf.subarray(0, nl)));
    return typeof v === "object" && v !== null && !Array.isArray(v)
      ? v as CastHeader
      : undefined;
  } catch {
    return undefined;
  } finally {
    file.close();
  }
}
