/**
 * The {@linkcode EventStore} in an S3 bucket, for recorders whose
 * recordings are there too: each events stream is a series of segment
 * objects, named by the byte offset of their first byte in the stream,
 *
 * ```
 * <prefix>YYYY/MM/DD/<stream id>.records.seg/000000000000000  the HEADER and the first events
 * <prefix>YYYY/MM/DD/<stream id>.records.seg/000000000004213  the next flush, from byte 4213
 * ```
 *
 * under its own prefix (the recorder uses `<storage prefix>events/`, which
 * the recordings' listing skips). Reading a stream joins its segments in
 * offset order; a missing or overlapping segment is an error naming the
 * offsets, never a silent gap.
 *
 * Like a live recording on S3 (`s3_storage.ts`), written bytes are
 * buffered and flushed as one segment once `segmentBytes` are buffered, or
 * `flushIntervalMs` after the oldest unflushed write, and at close: the
 * recorder acknowledges events once it holds and has indexed them, and a
 * recorder killed between flushes loses at most that interval of the
 * stream's evidence (its index rows stay). Segments end on record
 * boundaries, because the ingest writes whole records only. A failed flush
 * fails the next write (the ingest then ends the stream; the proxy opens a
 * new one) and the bytes stay buffered for close to try again.
 *
 * An adapter: it uses the AWS SDK.
 *
 * @module
 */

import {
  DeleteObjectsCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import {
  type EventStore,
  type EventStreamStat,
  type EventStreamWriter,
  openError,
} from "./events_store.ts";
import { parseRecordingId, type RecordingId } from "./recording_id.ts";
import { concatBytes } from "../bytes.ts";
import { listS3Keys, type S3Key } from "./_s3_keys.ts";

/** Options of {@linkcode S3EventStore}. */
export interface S3EventStoreOptions {
  /** A configured client. */
  client: S3Client;
  /** The bucket. */
  bucket: string;
  /** Key prefix of the events streams, e.g. `recordings/events/`. @default {"events/"} */
  prefix?: string;
  /** Buffered bytes at which a segment is flushed. @default {8388608} */
  segmentBytes?: number;
  /** Longest time written bytes stay buffered. @default {5000} */
  flushIntervalMs?: number;
  /** Told of a flush by the timer that failed (the next write fails too). */
  onFlushError?: (id: string, error: Error) => void;
}

const SEG = ".records.seg/";
const OFFSET_DIGITS = 15;
const SEGMENT_KEY =
  /^([0-9]{4}\/[0-9]{2}\/[0-9]{2}\/[^/]+)\.records\.seg\/([0-9]{15})$/;

/** Events streams in an S3 bucket. */
export class S3EventStore implements EventStore {
  readonly #s3: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #segmentBytes: number;
  readonly #flushMs: number;
  readonly #onFlushError: ((id: string, error: Error) => void) | undefined;
  #open = new Set<string>();

  /**
   * Creates the store; nothing is sent to the bucket until the first call.
   * @param options Client, bucket, prefix, flush bounds.
   */
  constructor(options: S3EventStoreOptions) {
    this.#s3 = options.client;
    this.#bucket = options.bucket;
    this.#prefix = options.prefix ?? "events/";
    this.#segmentBytes = options.segmentBytes ?? 8 * 1024 * 1024;
    this.#flushMs = options.flushIntervalMs ?? 5000;
    this.#onFlushError = options.onFlushError;
  }

  #segmentKey(id: RecordingId, offset: number): string {
    return `${this.#prefix}${id.id}${SEG}${
      String(offset).padStart(OFFSET_DIGITS, "0")
    }`;
  }

  #listKeys(prefix: string): Promise<S3Key[]> {
    return listS3Keys(this.#s3, this.#bucket, prefix);
  }

  /** A stream's segments in offset order, each with its offset. */
  async #segments(id: RecordingId) {
    const keys = await this.#listKeys(`${this.#prefix}${id.id}${SEG}`);
    return keys
      .map((k) => ({
        ...k,
        offset: Number(k.key.slice(-OFFSET_DIGITS)),
      }))
      .filter((k) => /^[0-9]+$/.test(k.key.slice(-OFFSET_DIGITS)))
      .sort((a, b) => a.offset - b.offset);
  }

  async create(id: RecordingId): Promise<EventStreamWriter> {
    if (this.#open.has(id.id) || (await this.#segments(id)).length > 0) {
      throw new Error(
        `Cannot create events stream ${JSON.stringify(id.id)}: it exists`,
      );
    }
    this.#open.add(id.id);
    const segmentBytes = this.#segmentBytes;
    const put = (offset: number, body: Uint8Array) =>
      this.#s3.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key: this.#segmentKey(id, offset),
          Body: body,
          ContentType: "application/octet-stream",
        }),
      );
    let buf: Uint8Array[] = [];
    let bufBytes = 0;
    let flushed = 0;
    let failed: Error | undefined;
    let flushing: Promise<void> = Promise.resolve();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let closed = false;
    // One flush at a time, in order: a segment's offset is the bytes of
    // every segment before it.
    const flush = () => {
      flushing = flushing.catch(() => {}).then(async () => {
        if (timer !== undefined) clearTimeout(timer);
        timer = undefined;
        if (bufBytes === 0) return;
        const data = concatBytes(buf);
        try {
          await put(flushed, data);
        } catch (e) {
          failed = new Error(
            `Cannot store events stream ${
              JSON.stringify(id.id)
            } from byte ${flushed} in the bucket: ${(e as Error).message}`,
            { cause: e },
          );
          throw failed;
        }
        failed = undefined;
        buf = [];
        bufBytes = 0;
        flushed += data.length;
      });
      return flushing;
    };
    const arm = () => {
      if (timer !== undefined || closed) return;
      timer = setTimeout(() => {
        timer = undefined;
        flush().catch((e) => this.#onFlushError?.(id.id, e as Error));
      }, this.#flushMs);
    };
    return {
      async write(chunk) {
        if (failed) throw failed;
        buf.push(chunk.slice());
        bufBytes += chunk.length;
        if (bufBytes >= segmentBytes) await flush();
        else arm();
      },
      close: async () => {
        if (closed) return;
        closed = true;
        if (timer !== undefined) clearTimeout(timer);
        timer = undefined;
        try {
          // A flush that failed before is tried once more.
          await flush();
        } finally {
          this.#open.delete(id.id);
        }
      },
    };
  }

  async list(): Promise<string[]> {
    const ids = new Set<string>();
    for (const { key } of await this.#listKeys(this.#prefix)) {
      const m = SEGMENT_KEY.exec(key.slice(this.#prefix.length));
      if (m && parseRecordingId(m[1]!)) ids.add(m[1]!);
    }
    return [...ids].sort();
  }

  async open(id: RecordingId): Promise<ReadableStream<Uint8Array> | undefined> {
    const segs = await this.#segments(id);
    if (segs.length === 0) return undefined;
    let expect = 0;
    for (const s of segs) {
      if (s.offset !== expect) {
        throw new Error(
          `Cannot read events stream ${JSON.stringify(id.id)}: ${
            s.offset > expect
              ? `bytes ${expect} to ${s.offset} are missing`
              : `the segment at byte ${s.offset} overlaps the one before, which ends at ${expect}`
          } (${s.key})`,
        );
      }
      expect += s.size;
    }
    let i = 0;
    return new ReadableStream<Uint8Array>({
      pull: async (c) => {
        if (i >= segs.length) {
          c.close();
          return;
        }
        const r = await this.#s3.send(
          new GetObjectCommand({ Bucket: this.#bucket, Key: segs[i++]!.key }),
        );
        const bytes = await r.Body!.transformToByteArray();
        if (bytes.length > 0) c.enqueue(bytes);
      },
    });
  }

  async stat(id: RecordingId): Promise<EventStreamStat | undefined> {
    const segs = await this.#segments(id);
    if (segs.length === 0 && !this.#open.has(id.id)) return undefined;
    return {
      lastWriteMs: segs.reduce((t, s) => Math.max(t, s.modified), 0),
      open: this.#open.has(id.id),
      bytes: segs.reduce((n, s) => n + s.size, 0),
    };
  }

  async remove(id: RecordingId): Promise<void> {
    if (this.#open.has(id.id)) throw openError(id);
    const keys = (await this.#segments(id)).map((s) => s.key);
    for (let i = 0; i < keys.length; i += 1000) {
      const r = await this.#s3.send(
        new DeleteObjectsCommand({
          Bucket: this.#bucket,
          Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })) },
        }),
      );
      if (r.Errors && r.Errors.length > 0) {
        throw new Error(
          `Cannot delete events stream ${JSON.stringify(id.id)}: ${
            r.Errors.map((e) => `${e.Key} (${e.Message ?? e.Code})`).join(", ")
          }`,
        );
      }
    }
  }
}
