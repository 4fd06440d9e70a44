/**
 * Recording storage in an S3-compatible bucket.
 *
 * Keys under the configured prefix, one recording per id:
 *
 * ```
 * <prefix>2026/11/27/<sid>.json           index object: written at start with status
 *                                           "recording", refreshed on every segment
 *                                           flush, replaced by the final manifest
 * <prefix>2026/11/27/<sid>.records.seg/NNNNNN  evidence segments while the upload runs
 * <prefix>2026/11/27/<sid>.records            the whole record stream, once finalised
 * <prefix>2026/11/27/<sid>.txt                text index, once finalised
 * ```
 *
 * A recording of the v1 protocol has `.cast` and `.cast.seg/` instead (the
 * manifest's `format` says which).
 *
 * S3 multipart uploads become visible only when completed, so the live
 * evidence is flushed as small segment objects (at `segmentBytes` or every
 * `flushIntervalMs`): what was acknowledged is in the bucket even if the
 * recorder is killed. At the end the segments are joined into one object
 * with `@aws-sdk/lib-storage` `Upload` (bounded parts, bounded memory) and
 * deleted. A recorder killed mid-session leaves the `recording` index object
 * and its segments; once the index has not been refreshed for
 * `staleAfterMs` every replica shows it `partial` (its evidence is served
 * from the segments) and `recover()` joins the segments' complete records
 * (or lines) into one object and rewrites the index as a final `partial`
 * manifest.
 *
 * Requests per recording are few, so that 1,000 uploads at once stay within
 * what one S3 endpoint serves: a session shorter than `flushIntervalMs`
 * whose evidence fits in one segment costs six (`HEAD` and `PUT` of the
 * index object and a `PUT` of the header segment at start; at the end one
 * `PUT` of the whole evidence from memory, one `DELETE` of the known
 * segment keys, one `PUT` of the manifest) instead of joining segments
 * through a multipart upload. Memory is bounded across uploads:
 * `bufferBudgetBytes` caps what all writers buffer together, and a writer
 * whose write takes the total over it flushes its buffer as a segment first.
 *
 * Listing uses `ListObjectsV2` under the prefix, so every replica sharing the
 * bucket lists every recording. This is an adapter: it uses the AWS SDK.
 *
 * @module
 */

import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { parseRecordingId, type RecordingId } from "./recording_id.ts";
import {
  evidenceExt,
  RecordingExistsError,
  type RecordingManifest,
  type RecordingStorage,
  type RecordingWriter,
  type RecoverOptions,
} from "./storage.ts";
import { EvidenceChain } from "./integrity/evidence_chain.ts";
import { sealManifest } from "./integrity/seal.ts";
import { scanCast } from "./_scan_cast.ts";
import { scanRecords } from "./_scan_records.ts";
import { S3EventStore, type S3EventStoreOptions } from "./events_s3_store.ts";
import { listS3Keys, type S3Key } from "./_s3_keys.ts";

/** Options of {@linkcode S3Storage}. */
export interface S3StorageOptions {
  /** A configured client (endpoint, region, credentials, path style). */
  client: S3Client;
  /** The bucket. */
  bucket: string;
  /** Key prefix, e.g. `recordings/`. @default {""} */
  prefix?: string;
  /** Size at which a live segment is flushed; also the join part size (≥ 5 MiB). @default {8388608} */
  segmentBytes?: number;
  /** Longest time written bytes stay buffered before a sync flushes them. @default {5000} */
  flushIntervalMs?: number;
  /** Age of a `recording` index after which it is treated as partial. @default {600000} */
  staleAfterMs?: number;
  /** Bound of the text index built by recovery. @default {8388608} */
  maxTextChars?: number;
  /**
   * Most bytes all live uploads buffer together before writers flush early.
   * @default {268435456}
   */
  bufferBudgetBytes?: number;
  /** Clock in Unix ms. @default {Date.now} */
  now?: () => number;
}

/** Flushed bytes a writer keeps a copy of, to write small evidence in one `PUT`. */
const KEEP_FLUSHED_BYTES = 1024 * 1024;

const SEG = ".seg/";

/** Recording storage in an S3 bucket. */
export class S3Storage implements RecordingStorage {
  readonly #s3: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  /**
   * Size at which a live segment is flushed, and the join part size: the
   * option, at least 5 MiB (S3's smallest multipart part).
   */
  readonly segmentBytes: number;
  /** Longest time written bytes stay buffered before a sync flushes them. */
  readonly flushIntervalMs: number;
  readonly #staleAfter: number;
  readonly #maxText: number;
  /** The clock, Unix milliseconds. */
  readonly now: () => number;
  /** Most bytes every writer buffers together. */
  readonly bufferBudgetBytes: number;
  /** Bytes every writer buffers (or keeps) now. */
  buffered = 0;
  #live = new Set<string>();
  #cache = new Map<string, RecordingManifest>();

  /**
   * Creates the storage; nothing is sent to the bucket until the first call.
   * @param options The bucket and its client.
   */
  constructor(options: S3StorageOptions) {
    this.#s3 = options.client;
    this.#bucket = options.bucket;
    this.#prefix = options.prefix ?? "";
    this.segmentBytes = Math.max(options.segmentBytes ?? 8 << 20, 5 << 20);
    this.flushIntervalMs = options.flushIntervalMs ?? 5000;
    this.#staleAfter = options.staleAfterMs ?? 600_000;
    this.#maxText = options.maxTextChars ?? 8 * 1024 * 1024;
    this.now = options.now ?? Date.now;
    this.bufferBudgetBytes = options.bufferBudgetBytes ?? 256 * 1024 * 1024;
  }

  /** @internal The object key of a recording part. */
  key(id: RecordingId, ext: string): string {
    return `${this.#prefix}${id.id}${ext}`;
  }

  /** @internal Puts one object. */
  async put(key: string, body: Uint8Array | string, type: string) {
    await this.#s3.send(
      new PutObjectCommand({
        Bucket: this.#bucket,
        Key: key,
        Body: body,
        ContentType: type,
      }),
    );
  }

  /** @internal Puts the index object of a recording. */
  async putManifest(id: RecordingId, m: RecordingManifest) {
    await this.put(
      this.key(id, ".json"),
      JSON.stringify(m),
      "application/json",
    );
    if (m.status !== "recording") this.#cache.set(id.id, m);
  }

  async #getText(key: string): Promise<string | undefined> {
    try {
      const r = await this.#s3.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: key }),
      );
      return await r.Body!.transformToString();
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async #getStream(
    key: string,
  ): Promise<ReadableStream<Uint8Array> | undefined> {
    try {
      const r = await this.#s3.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: key }),
      );
      return r.Body!.transformToWebStream() as ReadableStream<Uint8Array>;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  #listKeys(prefix: string): Promise<S3Key[]> {
    return listS3Keys(this.#s3, this.#bucket, prefix);
  }

  /** @internal The segment keys of a recording's evidence, in order. */
  async segments(
    id: RecordingId,
    ext: string,
  ): Promise<{ key: string; size: number }[]> {
    return (await this.#listKeys(this.key(id, ext + SEG))).sort((a, b) =>
      a.key < b.key ? -1 : a.key > b.key ? 1 : 0
    );
  }

  /** @internal Deletes objects by key. */
  async deleteKeys(keys: string[]) {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      if (batch.length === 0) continue;
      await this.#s3.send(
        new DeleteObjectsCommand({
          Bucket: this.#bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
      );
    }
  }

  /**
   * @internal Joins the segments into one evidence object with a
   * bounded-memory multipart upload; `onBytes` sees every byte joined, in
   * order.
   */
  async join(
    id: RecordingId,
    ext: string,
    limit = Infinity,
    onBytes?: (chunk: Uint8Array) => void,
  ): Promise<void> {
    const segs = await this.segments(id, ext);
    let left = limit;
    const streamOf = this.#getStream.bind(this);
    let i = 0;
    let current: ReadableStreamDefaultReader<Uint8Array> | undefined;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        while (true) {
          if (!current) {
            const seg = segs[i++];
            if (!seg) return controller.close();
            const s = await streamOf(seg.key);
            if (!s) {
              throw new Error(
                `Cannot join ${id.id}: segment ${seg.key} vanished`,
              );
            }
            current = s.getReader();
          }
          const r = await current.read();
          if (r.done) {
            current = undefined;
            continue;
          }
          if (left <= 0) {
            await current.cancel();
            return controller.close();
          }
          const piece = r.value.length > left
            ? r.value.slice(0, left)
            : r.value;
          left -= piece.length;
          onBytes?.(piece);
          controller.enqueue(piece);
          return;
        }
      },
    }, { highWaterMark: 0 });
    await new Upload({
      client: this.#s3,
      params: {
        Bucket: this.#bucket,
        Key: this.key(id, ext),
        Body: body,
        ContentType: ext === ".cast"
          ? "application/x-asciicast"
          : "application/octet-stream",
      },
      partSize: this.segmentBytes,
      queueSize: 1,
    }).done();
  }

  async create(
    id: RecordingId,
    manifest: RecordingManifest,
    headerLine: Uint8Array,
  ): Promise<RecordingWriter> {
    if (await this.exists(id)) throw new RecordingExistsError(id.id);
    this.#live.add(id.id);
    const writer = new S3Writer(
      this,
      id,
      evidenceExt(manifest),
      manifest,
      () => this.#live.delete(id.id),
    );
    try {
      await this.putManifest(id, manifest);
      writer.started();
      await writer.write(headerLine);
      await writer.sync(true);
    } catch (e) {
      await writer.abort().catch(() => {});
      throw e;
    }
    return writer;
  }

  async exists(id: RecordingId): Promise<boolean> {
    try {
      await this.#s3.send(
        new HeadObjectCommand({
          Bucket: this.#bucket,
          Key: this.key(id, ".json"),
        }),
      );
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  /**
   * The keys under the prefix but for the API events' (`<prefix>events/`,
   * many small segments): the listing jumps past them with `StartAfter`
   * (`events0`: `0` follows `/`), one request, instead of paging through
   * them. (Not `Delimiter`: s3rver answers it without the common prefixes.)
   */
  #recordingKeys(): Promise<S3Key[]> {
    return listS3Keys(
      this.#s3,
      this.#bucket,
      this.#prefix,
      `${this.#prefix}events/`,
    );
  }

  /**
   * The API events store of this bucket: streams under `<prefix>events/`
   * (which {@linkcode S3Storage.list} skips), written with this storage's
   * client, segment size and flush interval.
   * @param options Where a failed flush by the timer is told.
   * @returns The store.
   */
  eventStore(
    options: Pick<S3EventStoreOptions, "onFlushError"> = {},
  ): S3EventStore {
    return new S3EventStore({
      client: this.#s3,
      bucket: this.#bucket,
      prefix: `${this.#prefix}events/`,
      segmentBytes: this.segmentBytes,
      flushIntervalMs: this.flushIntervalMs,
      ...options,
    });
  }

  async list(): Promise<RecordingManifest[]> {
    const ids: RecordingId[] = [];
    for (const { key } of await this.#recordingKeys()) {
      if (!key.endsWith(".json")) continue;
      const id = parseRecordingId(key.slice(this.#prefix.length, -5));
      if (id) ids.push(id);
    }
    const out: RecordingManifest[] = [];
    // Bounded concurrency: 8 GETs at a time.
    for (let i = 0; i < ids.length; i += 8) {
      const got = await Promise.all(
        ids.slice(i, i + 8).map((id) => this.get(id)),
      );
      for (const m of got) if (m) out.push(m);
    }
    return out;
  }

  async get(id: RecordingId): Promise<RecordingManifest | undefined> {
    const cached = this.#cache.get(id.id);
    if (cached) return cached;
    const text = await this.#getText(this.key(id, ".json"));
    if (text === undefined) return undefined;
    const m = JSON.parse(text) as RecordingManifest;
    if (m.status !== "recording") {
      this.#cache.set(id.id, m);
      return m;
    }
    if (this.#live.has(id.id)) return m;
    if (this.now() - m.updatedAt >= this.#staleAfter) {
      return {
        ...m,
        status: "partial",
        partialReason:
          "its recorder stopped refreshing it before the session ended",
      };
    }
    return m; // live on another replica
  }

  async openStored(
    id: RecordingId,
  ): Promise<ReadableStream<Uint8Array> | undefined> {
    const m = await this.get(id);
    if (!m) return undefined;
    const ext = evidenceExt(m);
    if (
      m.finishedAt !== undefined ||
      (await this.segments(id, ext)).length === 0
    ) {
      const s = await this.#getStream(this.key(id, ext));
      if (s) return s;
    }
    const segs = await this.segments(id, ext);
    const streamOf = this.#getStream.bind(this);
    let i = 0;
    let current: ReadableStreamDefaultReader<Uint8Array> | undefined;
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        while (true) {
          if (!current) {
            const seg = segs[i++];
            if (!seg) return controller.close();
            const s = await streamOf(seg.key);
            if (!s) return controller.close();
            current = s.getReader();
          }
          const r = await current.read();
          if (r.done) {
            current = undefined;
            continue;
          }
          return controller.enqueue(r.value);
        }
      },
      cancel() {
        return current?.cancel();
      },
    }, { highWaterMark: 0 });
  }

  async readText(id: RecordingId): Promise<string | undefined> {
    return await this.#getText(this.key(id, ".txt"));
  }

  async remove(id: RecordingId): Promise<void> {
    const keys: string[] = [];
    for (const ext of [".records", ".cast"]) {
      keys.push(...(await this.segments(id, ext)).map((s) => s.key));
      keys.push(this.key(id, ext));
    }
    keys.push(this.key(id, ".txt"));
    await this.deleteKeys(keys);
    // The manifest last (see DiskStorage.remove).
    await this.deleteKeys([this.key(id, ".json")]);
    this.#cache.delete(id.id);
  }

  async writeText(id: RecordingId, text: string): Promise<void> {
    await this.put(this.key(id, ".txt"), text, "text/plain; charset=utf-8");
  }

  async recover(options: RecoverOptions = {}): Promise<number> {
    const seal = options.seal;
    let n = 0;
    for (const m of await this.list()) {
      const id = parseRecordingId(m.id);
      if (!id || m.status !== "partial" || m.finishedAt !== undefined) continue;
      const ext = evidenceExt(m);
      const stored = await this.openStored(id);
      const scan = !stored
        ? { completeBytes: 0, text: "", textTruncated: false }
        : m.format === "records"
        ? await scanRecords(stored, this.#maxText)
        : await scanCast(stored, this.#maxText);
      const now = this.now();
      // The chain sees the bytes as they are joined: exactly the object
      // stored (as ingest chains what it hands to storage).
      const chain = seal && m.format === "records"
        ? new EvidenceChain(seal.digest)
        : undefined;
      // One whole object of the complete records or lines (a torn last one
      // dropped).
      await this.join(
        id,
        ext,
        scan.completeBytes,
        chain && ((b) => chain.update(b)),
      );
      await this.put(
        this.key(id, ".txt"),
        scan.text,
        "text/plain; charset=utf-8",
      );
      const chained = chain?.finish();
      const manifest: RecordingManifest = {
        ...m,
        status: "partial",
        castBytes: chained?.bytes ?? scan.completeBytes,
        updatedAt: now,
        finishedAt: now,
        partialReason:
          "the recorder stopped before the session ended; recovered from its segments",
        ...(scan.textTruncated ? { textTruncated: true } : {}),
      };
      await this.putManifest(
        id,
        chained
          ? await sealManifest(manifest, chained, seal?.signer)
          : manifest,
      );
      await this.deleteKeys(
        (await this.segments(id, ext)).map((s) => s.key),
      );
      n++;
    }
    return n;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

class S3Writer implements RecordingWriter {
  readonly id: string;
  #st: S3Storage;
  #rid: RecordingId;
  #ext: string;
  #manifest: RecordingManifest;
  #buf: Uint8Array[] = [];
  #bufBytes = 0;
  #bufSince = 0;
  #durable = 0;
  #seg = 0;
  /** Keys of the segments this writer put. */
  #segKeys: string[] = [];
  /** Copies of every flushed byte while they are small; undefined once dropped. */
  #kept: Uint8Array[] | undefined = [];
  #keptBytes = 0;
  #manifestAt = 0;
  #done: () => void;

  constructor(
    st: S3Storage,
    id: RecordingId,
    ext: string,
    m: RecordingManifest,
    done: () => void,
  ) {
    this.id = id.id;
    this.#st = st;
    this.#rid = id;
    this.#ext = ext;
    this.#manifest = m;
    this.#done = done;
  }

  get durableBytes(): number {
    return this.#durable;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (chunk.length === 0) return;
    if (this.#bufBytes === 0) this.#bufSince = this.#st.now();
    this.#buf.push(chunk.slice());
    this.#bufBytes += chunk.length;
    this.#st.buffered += chunk.length;
    if (
      this.#bufBytes >= this.#st.segmentBytes ||
      this.#st.buffered > this.#st.bufferBudgetBytes
    ) {
      // Over the shared budget: what is kept goes first, then the buffer.
      if (this.#st.buffered > this.#st.bufferBudgetBytes) this.#dropKept();
      await this.#flush();
    }
  }

  #dropKept() {
    this.#st.buffered -= this.#keptBytes;
    this.#kept = undefined;
    this.#keptBytes = 0;
  }

  /** Marks the start put by `create` (the manifest is fresh). */
  started() {
    this.#manifestAt = this.#st.now();
  }

  async sync(force = false): Promise<void> {
    if (this.#bufBytes === 0) return;
    if (force || this.#st.now() - this.#bufSince >= this.#st.flushIntervalMs) {
      await this.#flush();
    }
  }

  async #flush() {
    const data = new Uint8Array(this.#bufBytes);
    let off = 0;
    for (const b of this.#buf) {
      data.set(b, off);
      off += b.length;
    }
    this.#buf = [];
    this.#st.buffered -= this.#bufBytes;
    this.#bufBytes = 0;
    const name = String(this.#seg++).padStart(6, "0");
    const key = this.#st.key(this.#rid, this.#ext + SEG + name);
    await this.#st.put(key, data, "application/octet-stream");
    this.#segKeys.push(key);
    this.#durable += data.length;
    if (this.#kept && this.#keptBytes + data.length <= KEEP_FLUSHED_BYTES) {
      this.#kept.push(data);
      this.#keptBytes += data.length;
      this.#st.buffered += data.length;
    } else if (this.#kept) this.#dropKept();
    // Heartbeat: other replicas see the index refreshed (at most once per
    // flush interval).
    const now = this.#st.now();
    if (now - this.#manifestAt >= this.#st.flushIntervalMs) {
      this.#manifest = {
        ...this.#manifest,
        castBytes: this.#durable,
        updatedAt: now,
      };
      await this.#st.putManifest(this.#rid, this.#manifest);
      this.#manifestAt = now;
    }
  }

  /** The whole evidence from memory, when every byte of it is here. */
  #inMemory(): Uint8Array | undefined {
    if (!this.#kept) return undefined;
    const total = this.#keptBytes + this.#bufBytes;
    if (total > this.#st.segmentBytes) return undefined;
    const out = new Uint8Array(total);
    let off = 0;
    for (const b of [...this.#kept, ...this.#buf]) {
      out.set(b, off);
      off += b.length;
    }
    return out;
  }

  #release() {
    this.#st.buffered -= this.#bufBytes + this.#keptBytes;
    this.#buf = [];
    this.#bufBytes = 0;
    this.#kept = undefined;
    this.#keptBytes = 0;
  }

  async finish(manifest: RecordingManifest): Promise<void> {
    try {
      const whole = this.#inMemory();
      if (whole) {
        // Small: one PUT of the evidence, then the known segments go.
        await this.#st.put(
          this.#st.key(this.#rid, this.#ext),
          whole,
          this.#ext === ".cast"
            ? "application/x-asciicast"
            : "application/octet-stream",
        );
        this.#durable = whole.length;
        this.#release();
        await this.#st.putManifest(this.#rid, {
          ...manifest,
          castBytes: this.#durable,
        });
        await this.#st.deleteKeys(this.#segKeys);
        return;
      }
      await this.sync(true);
      this.#release();
      await this.#st.join(this.#rid, this.#ext);
      await this.#st.putManifest(this.#rid, {
        ...manifest,
        castBytes: this.#durable,
      });
      await this.#st.deleteKeys(this.#segKeys);
    } finally {
      this.#release();
      this.#done();
    }
  }

  async abort(): Promise<void> {
    this.#release();
    try {
      const segs = await this.#st.segments(this.#rid, this.#ext);
      await this.#st.deleteKeys([
        ...segs.map((s) => s.key),
        this.#st.key(this.#rid, this.#ext),
        this.#st.key(this.#rid, ".txt"),
        this.#st.key(this.#rid, ".json"),
      ]);
    } finally {
      this.#done();
    }
  }
}

function isNotFound(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return err?.name === "NoSuchKey" || err?.name === "NotFound" ||
    err?.$metadata?.httpStatusCode === 404;
}
