/**
 * The proxy → recorder wire format, version 2: a session is a stream of
 * length-prefixed binary records. The proxy frames what it must record
 * without decoding text or escaping JSON; the recorder stores the stream as it
 * arrived (the evidence, byte for byte) and derives every view from it (the
 * asciicast, the text index).
 *
 * ```
 * record  = type:u8  time:u64be  length:u32be  payload:length bytes
 *            │        │           └ at most MAX_RECORD_PAYLOAD
 *            │        └ microseconds since the session started (header: Unix µs)
 *            └ RecordType
 * stream  = HEADER, { STDOUT | STDERR | RESIZE | STATUS | MARKER
 *                    | PORTFORWARD | PORTFORWARD_DATA }, [ END ]
 * ```
 *
 * - `HEADER` (first, once): the session metadata as JSON (UTF-8), the
 *   asciicast header fields (`CastHeader` in `../recording/wire.ts`); its time
 *   is the session start in Unix microseconds.
 * - `STDOUT`, `STDERR`: raw output bytes as the client received them, any
 *   binary content.
 * - `RESIZE`: the resize message exactly as the client sent it (JSON such as
 *   `{"Width":100,"Height":30}`, or whatever it was).
 * - `STATUS`: the raw channel-3 message (the `Status` JSON) of the server.
 * - `MARKER`: a UTF-8 label (e.g. a failover, a note of the proxy).
 * - `PORTFORWARD` (a port-forward session): one stream event as JSON
 *   (`PortForwardEventRecord` in `../recording/wire.ts`): a stream opened,
 *   finished, was reset or closed with its byte counts, or an error message.
 * - `PORTFORWARD_DATA` (only when the grant says `recordPortForward`): the
 *   bytes of a port-forward data stream as they passed, after a 5-byte
 *   prefix: `from:u8` (0 the client, 1 the pod) and `stream:u32be`.
 * - `END` (last, at most once): the end-of-session manifest as JSON
 *   (`SessionEnd`).
 *
 * Runtime-neutral, no imports: both sides use it.
 *
 * @module
 */

/** Record types. */
export const RecordType = {
  HEADER: 1,
  STDOUT: 2,
  STDERR: 3,
  RESIZE: 4,
  STATUS: 5,
  MARKER: 6,
  END: 7,
  /** A port-forward stream event (JSON `PortForwardEventRecord`). */
  PORTFORWARD: 8,
  /** Port-forward stream content: from:u8, stream:u32be, then the bytes. */
  PORTFORWARD_DATA: 9,
  /**
   * One API request event of an events stream (`EVENTS_UPLOAD_PATH`): JSON
   * (UTF-8), time Unix µs. Only in events streams.
   */
  EVENT: 16,
} as const;

/** A record type's number. */
export type RecordTypeId = typeof RecordType[keyof typeof RecordType];

/** Bytes of a record's header (type, time, length). */
export const RECORD_HEADER_BYTES = 13;
/** Largest payload of one record. A writer splits larger output. */
export const MAX_RECORD_PAYLOAD = 1024 * 1024;
/** Content type of a version 2 upload body. */
export const RECORDS_CONTENT_TYPE = "application/x-execgate-records";
/** Path of the version 2 upload endpoint. */
export const RECORDS_UPLOAD_PATH = "/v2/recordings";
/** Path of the API events upload endpoint (a record stream of `EVENT`s). */
export const EVENTS_UPLOAD_PATH = "/v2/events";

const TYPE_NAMES: Record<number, string> = {
  1: "header",
  2: "stdout",
  3: "stderr",
  4: "resize",
  5: "status",
  6: "marker",
  7: "end",
  8: "portforward",
  9: "portforward data",
  16: "event",
};

/**
 * The name of a record type, for messages.
 * @param type Record type number.
 * @returns e.g. `"stdout"`, or `"unknown type 9"`.
 */
export function recordTypeName(type: number): string {
  return TYPE_NAMES[type] ?? `unknown type ${type}`;
}

/** One decoded record. */
export interface SessionRecord {
  /** Record type. */
  type: RecordTypeId;
  /** Microseconds since the session started (header: Unix microseconds). */
  timeUs: number;
  /** Payload (a view of the input where it was contiguous). */
  payload: Uint8Array;
  /** Offset of the record's first byte in the stream. */
  offset: number;
}

/**
 * Encodes a record's 13-byte header; the payload follows it on the wire (write
 * both, so the payload is never copied).
 * @param type Record type.
 * @param timeUs Microseconds (non-negative integer below 2^53).
 * @param length Payload length.
 * @returns The header bytes.
 * @throws {RangeError} A value out of range.
 * @example
 * ```ts
 * import { encodeRecordHeader, RecordType } from "./records.ts";
 * const h = encodeRecordHeader(RecordType.STDOUT, 1500, 5);
 * if (h.length !== 13 || h[0] !== 2 || h[12] !== 5) throw new Error();
 * ```
 */
export function encodeRecordHeader(
  type: RecordTypeId,
  timeUs: number,
  length: number,
): Uint8Array {
  if (!Number.isSafeInteger(timeUs) || timeUs < 0) {
    throw new RangeError(
      `Cannot encode record: time ${timeUs} is not a non-negative integer of microseconds`,
    );
  }
  if (!Number.isInteger(length) || length < 0 || length > MAX_RECORD_PAYLOAD) {
    throw new RangeError(
      `Cannot encode record: payload of ${length} bytes, expected at most ${MAX_RECORD_PAYLOAD}`,
    );
  }
  const b = new Uint8Array(RECORD_HEADER_BYTES);
  const v = new DataView(b.buffer);
  v.setUint8(0, type);
  v.setUint32(1, Math.floor(timeUs / 2 ** 32));
  v.setUint32(5, timeUs >>> 0);
  v.setUint32(9, length);
  return b;
}

/**
 * Encodes one whole record (header and payload in one array).
 * @param type Record type.
 * @param timeUs Microseconds.
 * @param payload Payload bytes.
 * @returns The record's bytes.
 */
export function encodeRecord(
  type: RecordTypeId,
  timeUs: number,
  payload: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(RECORD_HEADER_BYTES + payload.length);
  out.set(encodeRecordHeader(type, timeUs, payload.length), 0);
  out.set(payload, RECORD_HEADER_BYTES);
  return out;
}

/** Thrown by {@linkcode RecordDecoder} on input that is not a record stream. */
export class RecordFormatError extends SyntaxError {
  /** Offset of the offending record in the stream. */
  readonly offset: number;
  /**
   * @param message What is wrong.
   * @param offset Where.
   */
  constructor(message: string, offset: number) {
    super(message);
    this.name = "RecordFormatError";
    this.offset = offset;
  }
}

/** Options of {@linkcode RecordDecoder}. */
export interface RecordDecoderOptions {
  /** Largest accepted payload. @default {MAX_RECORD_PAYLOAD} */
  maxPayload?: number;
}

/**
 * Incremental decoder of a record stream: push chunks split anywhere, get the
 * complete records. Linear: pending chunks are kept in a list and a record's
 * payload is copied at most once, when it is complete (not at all when it lies
 * within one chunk). It checks the framing only: a type it knows, a payload
 * within the bound, `HEADER` first and once, nothing after `END`.
 *
 * @example
 * ```ts
 * import { encodeRecord, RecordDecoder, RecordType } from "./records.ts";
 * const bytes = encodeRecord(RecordType.HEADER, 1, new TextEncoder().encode("{}"));
 * const d = new RecordDecoder();
 * const got = [...d.push(bytes.subarray(0, 5)), ...d.push(bytes.subarray(5))];
 * if (got.length !== 1 || got[0]!.type !== RecordType.HEADER) throw new Error();
 * ```
 */
export class RecordDecoder {
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  /** Offset in the stream of the first buffered byte. */
  #base = 0;
  #seenHeader = false;
  #seenEnd = false;
  #max: number;
  #head = new Uint8Array(RECORD_HEADER_BYTES);

  /** @param options Bounds. */
  constructor(options: RecordDecoderOptions = {}) {
    this.#max = options.maxPayload ?? MAX_RECORD_PAYLOAD;
  }

  /** Bytes consumed into complete records so far. */
  get consumed(): number {
    return this.#base;
  }

  /** Bytes held for a record not complete yet. */
  get pending(): number {
    return this.#buffered;
  }

  /** Whether the `END` record has been decoded. */
  get ended(): boolean {
    return this.#seenEnd;
  }

  /**
   * Adds bytes.
   * @param chunk Next bytes of the stream (not modified, may be viewed).
   * @returns The records completed by it, in order.
   * @throws {RecordFormatError} The stream is malformed at the returned offset.
   */
  push(chunk: Uint8Array): SessionRecord[] {
    const out: SessionRecord[] = [];
    if (chunk.length === 0) return out;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    while (this.#buffered >= RECORD_HEADER_BYTES) {
      this.#peek(this.#head, RECORD_HEADER_BYTES);
      const v = new DataView(this.#head.buffer);
      const type = v.getUint8(0);
      const timeUs = v.getUint32(1) * 2 ** 32 + v.getUint32(5);
      const length = v.getUint32(9);
      const offset = this.#base;
      if (!TYPE_NAMES[type]) {
        throw new RecordFormatError(
          `Cannot decode record at byte ${offset}: type ${type} is unknown`,
          offset,
        );
      }
      if (length > this.#max) {
        throw new RecordFormatError(
          `Cannot decode ${
            recordTypeName(type)
          } record at byte ${offset}: payload of ${length} bytes exceeds the limit of ${this.#max}`,
          offset,
        );
      }
      if (this.#seenEnd) {
        throw new RecordFormatError(
          `Cannot decode record at byte ${offset}: ${
            recordTypeName(type)
          } after the end record`,
          offset,
        );
      }
      if (!this.#seenHeader && type !== RecordType.HEADER) {
        throw new RecordFormatError(
          `Cannot decode record at byte ${offset}: the stream starts with ${
            recordTypeName(type)
          }, expected header`,
          offset,
        );
      }
      if (this.#seenHeader && type === RecordType.HEADER) {
        throw new RecordFormatError(
          `Cannot decode record at byte ${offset}: a second header`,
          offset,
        );
      }
      const total = RECORD_HEADER_BYTES + length;
      if (this.#buffered < total) break;
      this.#skip(RECORD_HEADER_BYTES);
      const payload = this.#take(length);
      if (type === RecordType.HEADER) this.#seenHeader = true;
      if (type === RecordType.END) this.#seenEnd = true;
      out.push({ type: type as RecordTypeId, timeUs, payload, offset });
    }
    return out;
  }

  /** Copies the first `n` buffered bytes into `dst` without consuming them. */
  #peek(dst: Uint8Array, n: number): void {
    let at = 0;
    for (const c of this.#chunks) {
      const k = Math.min(c.length, n - at);
      dst.set(c.subarray(0, k), at);
      at += k;
      if (at === n) return;
    }
  }

  #skip(n: number): void {
    this.#base += n;
    this.#buffered -= n;
    while (n > 0) {
      const c = this.#chunks[0]!;
      if (c.length <= n) {
        n -= c.length;
        this.#chunks.shift();
      } else {
        this.#chunks[0] = c.subarray(n);
        n = 0;
      }
    }
  }

  #take(n: number): Uint8Array {
    this.#base += n;
    this.#buffered -= n;
    const first = this.#chunks[0];
    if (n === 0) return new Uint8Array(0);
    if (first && first.length >= n) {
      const view = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      return view;
    }
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const c = this.#chunks[0]!;
      const k = Math.min(c.length, n - at);
      out.set(c.subarray(0, k), at);
      at += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    return out;
  }
}

/**
 * The decoder as a `TransformStream` from bytes to records; `flush` fails on
 * a record cut off by the end of the input.
 */
export class RecordDecoderStream
  extends TransformStream<Uint8Array, SessionRecord> {
  /** @param options Bounds. */
  constructor(options: RecordDecoderOptions = {}) {
    const d = new RecordDecoder(options);
    super({
      transform(chunk, controller) {
        for (const r of d.push(chunk)) controller.enqueue(r);
      },
      flush() {
        if (d.pending > 0) {
          throw new RecordFormatError(
            `Cannot decode record at byte ${d.consumed}: the stream ends ${d.pending} bytes into it`,
            d.consumed,
          );
        }
      },
    });
  }
}
