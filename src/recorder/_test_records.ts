/**
 * Test helpers for version 2 uploads: a session described as steps becomes
 * both the record stream a proxy uploads and the `.cast` the v1 proxy's
 * `CastEncoder` made for the same session (the expectation of the derived
 * view), and an upload client for `RECORDS_UPLOAD_PATH`.
 *
 * @module
 */

import {
  encodeRecord,
  RECORDS_CONTENT_TYPE,
  RECORDS_UPLOAD_PATH,
  RecordType,
  type RecordTypeId,
} from "../protocol/records.ts";
import { CastEncoder } from "../recording/cast_encoder.ts";
import {
  type Ack,
  END_KEY,
  SESSION_HEADER,
  type SessionEnd,
} from "../recording/wire.ts";
import { concatBytes } from "../bytes.ts";
import { endMarkerText } from "./views/cast_view.ts";

const enc = new TextEncoder();

/** One thing that happened in a session, `at` ms after its start. */
export type Step =
  | { at: number; out: 1 | 2; data: Uint8Array | string }
  | {
    at: number;
    resize: string;
    /** What the cast shows: a size, or a marker text. */
    shows: { width: number; height: number } | string;
  }
  | { at: number; marker: string }
  | { at: number; status: string };

/** A session to upload. */
export interface TestSession {
  sessionId: string;
  tty: boolean;
  steps: Step[];
  /** Ms after start of the end; no end record when `false`. */
  endAt: number | false;
  /** Pod in the header. @default {"web-0"} */
  podName?: string;
}

/** What a session makes. */
export interface BuiltSession {
  /** The upload body: header record, records, end record. */
  records: Uint8Array;
  /** The records before the end record (header included). */
  beforeEnd: Uint8Array;
  /** The end record alone (empty without an end). */
  endRecord: Uint8Array;
  /** The end manifest the encoder made. */
  end?: SessionEnd;
  /**
   * The `.cast` the v1 encoder made (manifest line stripped), plus the
   * recorder's exit marker when the session has an end.
   */
  cast: string;
  /** The raw stdout bytes. */
  stdout: Uint8Array;
}

/** Session start used by every test session (Unix ms). */
export const START_MS = 1_790_000_000_000;

/**
 * Builds a session's records and the expected cast.
 * @param s The session.
 * @returns Records and cast.
 */
export function buildSession(s: TestSession): BuiltSession {
  const encoder = new CastEncoder({
    sessionId: s.sessionId,
    argv: ["sh", "-c", "echo hello"],
    tty: s.tty,
    startMs: START_MS,
    identity: {
      hostname: "laptop",
      nodeId: "n1",
      userId: "u1",
      loginName: "alice@example.com",
      groups: [],
    },
    kubernetes: {
      podName: s.podName ?? "web-0",
      namespace: "default",
      container: "main",
      sessionType: "exec",
    },
    proxy: "proxy-1",
    protocol: "v5.channel.k8s.io",
  });
  const dec = new TextDecoder();
  let cast = dec.decode(encoder.begin());
  const headerJson = cast.slice(0, -1);
  const parts: Uint8Array[] = [
    encodeRecord(RecordType.HEADER, START_MS * 1000, enc.encode(headerJson)),
  ];
  const stdout: Uint8Array[] = [];
  const rec = (type: RecordTypeId, at: number, payload: Uint8Array) =>
    parts.push(encodeRecord(type, at * 1000, payload));
  for (const step of s.steps) {
    const now = START_MS + step.at;
    if ("out" in step) {
      const data = typeof step.data === "string"
        ? enc.encode(step.data)
        : step.data;
      rec(
        step.out === 1 ? RecordType.STDOUT : RecordType.STDERR,
        step.at,
        data,
      );
      if (step.out === 1) stdout.push(data);
      cast += dec.decode(encoder.output(step.out, data, now));
    } else if ("resize" in step) {
      rec(RecordType.RESIZE, step.at, enc.encode(step.resize));
      cast += dec.decode(
        typeof step.shows === "string"
          ? encoder.marker(step.shows, now)
          : encoder.resize(step.shows, now),
      );
    } else if ("marker" in step) {
      rec(RecordType.MARKER, step.at, enc.encode(step.marker));
      cast += dec.decode(encoder.marker(step.marker, now));
    } else {
      rec(RecordType.STATUS, step.at, enc.encode(step.status));
      encoder.status(enc.encode(step.status));
    }
  }
  const beforeEnd = concatBytes(parts);
  if (s.endAt === false) {
    return {
      records: beforeEnd,
      beforeEnd,
      endRecord: new Uint8Array(0),
      cast,
      stdout: concatBytes(stdout),
    };
  }
  const tail = dec.decode(encoder.end("upstream-gone", START_MS + s.endAt));
  const lines = tail.split("\n");
  lines.pop();
  const manifest = JSON.parse(lines.pop()!)[END_KEY] as SessionEnd;
  // v2: the bytes of the records before the end record.
  manifest.castBytes = beforeEnd.length;
  cast += lines.map((l) => l + "\n").join("");
  // The recorder's view ends with the exit marker the v1 encoder never wrote.
  cast += JSON.stringify([
    Math.round(s.endAt) / 1000,
    "m",
    endMarkerText(manifest),
  ]) +
    "\n";
  const endRecord = encodeRecord(
    RecordType.END,
    s.endAt * 1000,
    enc.encode(JSON.stringify(manifest)),
  );
  return {
    records: concatBytes([beforeEnd, endRecord]),
    beforeEnd,
    endRecord,
    end: manifest,
    cast,
    stdout: concatBytes(stdout),
  };
}

/**
 * Encodes an end record for a session.
 * @param end The manifest.
 * @param atMs Ms after start.
 * @returns The record.
 */
export function endRecordOf(end: unknown, atMs = 0): Uint8Array {
  return encodeRecord(
    RecordType.END,
    atMs * 1000,
    enc.encode(JSON.stringify(end)),
  );
}

/** What an upload got back. */
export interface RecordsUploadResult {
  status: number;
  acks: Ack[];
  error?: string;
}

/**
 * Uploads a record stream to `RECORDS_UPLOAD_PATH` and reads every ack.
 * @param baseUrl Recorder URL.
 * @param token Bearer token.
 * @param sessionId Session id header.
 * @param body The body, as bytes or a stream of chunks.
 * @param init Extra fetch options.
 * @returns Status and acks.
 */
export async function uploadRecords(
  baseUrl: string,
  token: string,
  sessionId: string,
  body: Uint8Array | ReadableStream<Uint8Array>,
  init: RequestInit = {},
): Promise<RecordsUploadResult> {
  const res = await fetch(baseUrl + RECORDS_UPLOAD_PATH, {
    method: "POST",
    headers: {
      "content-type": RECORDS_CONTENT_TYPE,
      authorization: `Bearer ${token}`,
      [SESSION_HEADER]: sessionId,
    },
    body: body instanceof Uint8Array ? ReadableStream.from([body]) : body,
    duplex: "half",
    ...init,
  } as RequestInit);
  if (res.status !== 200) {
    return { status: res.status, acks: [], error: await res.text() };
  }
  const acks: Ack[] = [];
  const text = await res.text();
  for (const line of text.split("\n")) if (line) acks.push(JSON.parse(line));
  return { status: res.status, acks };
}
