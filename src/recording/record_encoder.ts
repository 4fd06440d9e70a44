/**
 * The version 2 encoder: turns a session's channel messages into the records
 * of `../protocol/records.ts`, doing as little as possible per byte. Output
 * bytes are framed as they came (a 13-byte record header, then the payload
 * itself as its own chunk, never copied); nothing is decoded as text, escaped
 * or rewritten here. The recorder derives the asciicast and the text index
 * from the records.
 *
 * ```
 * HEADER  {"version":2,"width":80,"height":24,...}   at start (CastHeader JSON)
 * RESIZE  {"Width":100,"Height":30}                   every resize, as sent
 * STDOUT  <raw bytes>                                 split at MAX_RECORD_PAYLOAD
 * STATUS  {"kind":"Status",...}                       the raw channel-3 message
 * END     {"sessionId":...,"channels":{...}}          SessionEnd JSON, last
 * ```
 *
 * The END manifest keeps per-channel byte counts and SHA-256 (the digest is
 * injected: native on Deno), the negotiated protocol, the exit code read from
 * the one status message, and what the upstream answered for a refusal.
 * `castBytes` is the number of body bytes before the END record.
 *
 * @module
 */

import { exitCodeOf, type K8sStatus } from "../k8s/status.ts";
import type { TerminalSize } from "../k8s/terminal_size.ts";
import {
  encodeRecord,
  encodeRecordHeader,
  MAX_RECORD_PAYLOAD,
  RECORD_HEADER_BYTES,
  RecordType,
  type RecordTypeId,
} from "../protocol/records.ts";
import {
  castHeader,
  type CastSessionInfo,
  type IncrementalDigest,
} from "./cast_encoder.ts";
import { Sha256 } from "./sha256.ts";
import { channelDigests, cutText, sessionEnd } from "./session_end.ts";
import {
  type CastHeader,
  type Continuation,
  type EndReason,
  MAX_STATUS_CHARS,
  type PortForwardSummary,
  type UpstreamRefusal,
} from "./wire.ts";

/** Options of {@linkcode RecordEncoder}. */
export interface RecordEncoderOptions extends CastSessionInfo {
  /** Session start, Unix milliseconds: the header's time and time zero. */
  startMs: number;
  /** Size written in the header. @default {80x24} */
  defaultSize?: TerminalSize;
  /** Makes the incremental SHA-256 of stdout and stderr. @default {() => new Sha256()} */
  digest?: () => IncrementalDigest;
}

const enc = new TextEncoder();

/**
 * Encodes one session as v2 records. Every method returns the chunks to
 * append to the upload body, in order (record headers and payloads as
 * separate chunks).
 *
 * @example
 * ```ts
 * import { RecordEncoder } from "./record_encoder.ts";
 * import { RecordDecoder, RecordType } from "../protocol/records.ts";
 * const e = new RecordEncoder({
 *   sessionId: "s1", argv: ["sh"], tty: true, startMs: 1_000_000,
 *   identity: { hostname: "laptop", nodeId: "n1", userId: "u1", loginName: "a@b", groups: [] },
 *   kubernetes: { podName: "p", namespace: "default", container: "c", sessionType: "exec" },
 *   proxy: "execgate-0",
 * });
 * const d = new RecordDecoder();
 * const got = [...e.begin(), ...e.output(1, new TextEncoder().encode("hi"), 1_000_500)]
 *   .flatMap((c) => d.push(c));
 * if (got[1]?.type !== RecordType.STDOUT || got[1].timeUs !== 500_000) throw new Error();
 * ```
 */
export class RecordEncoder {
  #info: CastSessionInfo;
  #startMs: number;
  #defaultSize: TerminalSize | undefined;
  #digests: { stdout: IncrementalDigest; stderr: IncrementalDigest };
  #counts = { stdout: 0, stderr: 0 };
  #stdinBytes = 0;
  #bytes = 0;
  #begun = false;
  #header: CastHeader | undefined;
  #ended = false;
  #protocol: string | undefined;
  #status: unknown;
  #statusTruncated = false;
  #exitCode: number | undefined;

  /**
   * Creates an encoder for one session; nothing is encoded yet.
   * @param options The session and its start time.
   */
  constructor(options: RecordEncoderOptions) {
    const { startMs, defaultSize, digest, ...info } = options;
    const make = digest ?? (() => new Sha256());
    this.#digests = { stdout: make(), stderr: make() };
    this.#info = info;
    this.#protocol = info.protocol;
    this.#startMs = startMs;
    this.#defaultSize = defaultSize;
  }

  /** Body bytes returned so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * The `HEADER` record: call it first, before the session reaches upstream.
   * @returns Body chunks.
   * @throws {TypeError} Called twice.
   */
  begin(): Uint8Array[] {
    if (this.#begun) throw new TypeError("Cannot begin a recording twice");
    this.#begun = true;
    const header = castHeader(this.#info, this.#startMs, this.#defaultSize);
    this.#header = header;
    return this.#record(
      RecordType.HEADER,
      Math.round(this.#startMs * 1000),
      enc.encode(JSON.stringify(header)),
    );
  }

  /**
   * The `HEADER` record of a later part (failover): the session's header
   * with `continues`. Not part of the session's stream: `bytes` and the
   * end record's `castBytes` do not count it.
   * @param continues Where and why the session failed over.
   * @returns The record, one chunk.
   * @throws {TypeError} Before {@linkcode RecordEncoder.begin}.
   */
  continuation(continues: Continuation): Uint8Array {
    if (!this.#header) {
      throw new TypeError("Cannot continue a recording that has not begun");
    }
    return encodeRecord(
      RecordType.HEADER,
      Math.round(this.#startMs * 1000),
      enc.encode(JSON.stringify({ ...this.#header, continues })),
    );
  }

  /**
   * Notes the negotiated protocol (it goes into the manifest).
   * @param protocol E.g. `v5.channel.k8s.io`.
   */
  upgraded(protocol: string): void {
    this.#protocol = protocol;
  }

  /**
   * Records output as it came, split into records of at most
   * `MAX_RECORD_PAYLOAD` bytes.
   * @param channel 1 (stdout) or 2 (stderr).
   * @param data Raw bytes (viewed, not copied: do not modify them later).
   * @param nowMs When they came, Unix milliseconds.
   * @returns Body chunks.
   */
  output(channel: 1 | 2, data: Uint8Array, nowMs: number): Uint8Array[] {
    if (data.length === 0) return [];
    const which = channel === 1 ? "stdout" : "stderr";
    this.#digests[which].update(data);
    this.#counts[which] += data.length;
    const type = channel === 1 ? RecordType.STDOUT : RecordType.STDERR;
    const t = this.#time(nowMs);
    if (data.length <= MAX_RECORD_PAYLOAD) return this.#record(type, t, data);
    const out: Uint8Array[] = [];
    for (let off = 0; off < data.length; off += MAX_RECORD_PAYLOAD) {
      out.push(
        ...this.#record(type, t, data.subarray(off, off + MAX_RECORD_PAYLOAD)),
      );
    }
    return out;
  }

  /**
   * Records a resize message exactly as the client sent it.
   * @param raw The message payload (at most `MAX_RECORD_PAYLOAD` bytes).
   * @param nowMs When, Unix milliseconds.
   * @returns Body chunks.
   */
  resize(raw: Uint8Array, nowMs: number): Uint8Array[] {
    return this.#record(RecordType.RESIZE, this.#time(nowMs), raw);
  }

  /**
   * Records a marker (a note of the proxy), cut to `MAX_TEXT_FIELD_CHARS`.
   * @param label The text.
   * @param nowMs When, Unix milliseconds.
   * @returns Body chunks.
   */
  marker(label: string, nowMs: number): Uint8Array[] {
    return this.#record(
      RecordType.MARKER,
      this.#time(nowMs),
      enc.encode(cutText(label)),
    );
  }

  /**
   * Records the error channel's message as sent, and reads its exit code for
   * the manifest (once per session: it is the session's last message).
   * @param raw The whole message (at most `MAX_RECORD_PAYLOAD` bytes).
   * @param nowMs When, Unix milliseconds.
   * @returns Body chunks.
   */
  status(raw: Uint8Array, nowMs: number): Uint8Array[] {
    const text = new TextDecoder().decode(raw);
    this.#statusTruncated = text.length > MAX_STATUS_CHARS;
    try {
      const status = JSON.parse(text) as K8sStatus;
      this.#status = this.#statusTruncated
        ? text.slice(0, MAX_STATUS_CHARS)
        : status;
      this.#exitCode = typeof status === "object" && status !== null
        ? exitCodeOf(status)
        : undefined;
    } catch {
      this.#status = text.slice(0, MAX_STATUS_CHARS);
      this.#exitCode = undefined;
    }
    return this.#record(RecordType.STATUS, this.#time(nowMs), raw);
  }

  /**
   * Records a payload of another record type as it is (e.g. `PORTFORWARD`
   * events and `PORTFORWARD_DATA`), counted in `castBytes`.
   * @param type The record type (not `HEADER` or `END`).
   * @param payload At most `MAX_RECORD_PAYLOAD` bytes (viewed, not copied).
   * @param nowMs When, Unix milliseconds.
   * @returns Body chunks.
   */
  other(type: RecordTypeId, payload: Uint8Array, nowMs: number): Uint8Array[] {
    if (type === RecordType.HEADER || type === RecordType.END) {
      throw new TypeError(
        "Cannot record a header or end record as another record",
      );
    }
    return this.#record(type, this.#time(nowMs), payload);
  }

  /**
   * Counts bytes the client sent on stdin, for the end record's
   * `stdinBytes` (nothing of them is recorded).
   * @param bytes Payload bytes of one stdin channel message (or fragment).
   */
  countStdin(bytes: number): void {
    this.#stdinBytes += bytes;
  }

  /**
   * The `END` record (the manifest).
   * @param reason How the session ended.
   * @param nowMs When, Unix milliseconds.
   * @param detail Free text (cut to `MAX_TEXT_FIELD_CHARS`).
   * @param upstream What the upstream answered instead of `101`.
   * @param portforward A port-forward session's summary.
   * @returns Body chunks.
   * @throws {TypeError} Called twice.
   */
  end(
    reason: EndReason,
    nowMs: number,
    detail?: string,
    upstream?: UpstreamRefusal,
    portforward?: PortForwardSummary,
  ): Uint8Array[] {
    if (this.#ended) throw new TypeError("Cannot end a recording twice");
    this.#ended = true;
    const end = sessionEnd({
      sessionId: this.#info.sessionId,
      nowMs,
      reason,
      detail,
      upstream,
      protocol: this.#protocol,
      exitCode: this.#exitCode,
      status: this.#status,
      statusTruncated: this.#statusTruncated,
      channels: channelDigests(this.#counts, this.#digests),
      castBytes: this.#bytes,
    });
    if (portforward) end.portforward = portforward;
    else end.stdinBytes = this.#stdinBytes;
    return this.#record(
      RecordType.END,
      this.#time(nowMs),
      enc.encode(JSON.stringify(end)),
    );
  }

  #time(nowMs: number): number {
    return Math.max(0, Math.round((nowMs - this.#startMs) * 1000));
  }

  #record(type: RecordTypeId, timeUs: number, payload: Uint8Array) {
    this.#bytes += RECORD_HEADER_BYTES + payload.length;
    const head = encodeRecordHeader(type, timeUs, payload.length);
    return payload.length === 0 ? [head] : [head, payload];
  }
}
