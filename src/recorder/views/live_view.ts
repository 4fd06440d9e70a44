/**
 * The live view of a recording: what is stored so far, then what is stored
 * next, as it is stored, until the recording is finalised. Served as
 * Server-Sent Events in the form `asciinema-player`'s `eventsource` driver
 * plays (its `src/driver/eventsource.js`):
 *
 * ```
 * retry: 3000                                   reconnect delay (the stream restarts from the top)
 * data: {"version":2,"width":80,...,"time":12.5}  the asciicast v2 header; `time` = seconds the
 *                                               session has run (the player's clock starts there)
 * data: [0.5,"o","hi\r\n"]                      asciicast v2 events, as `cast_view.ts` derives them
 * data: [1.2,"r",{"cols":100,"rows":30}]        a resize, in the form the driver hands its
 *                                               terminal (the `.cast` has "100x30")
 * : idle                                        a comment when nothing was sent for `heartbeatMs`
 * event: done                                   the recording is finalised: the driver closes
 * data: {"status":"complete"}                   the stream and the player says it ended
 * ```
 *
 * Following is polling: every `pollMs` (1 s) the manifest is read
 * (`storage.get`), and when it says the evidence grew, changed, or
 * `rereadMs` (10 s) passed, the evidence is opened again and the bytes
 * after those already sent are decoded. Storage has no ranged read, so the
 * bytes before are read and skipped: streamed, never held (memory is one
 * chunk, one record being completed and `CastView`'s decoders). On disk a
 * live recording's manifest is its file's size and time, exact; on S3 its
 * bytes appear once their segment is flushed (`flushIntervalMs`) and its
 * index object is refreshed with them, hence `rereadMs`.
 *
 * A recording already finalised streams whole and ends at once with
 * `done`, the same wire, so a page that asked while the session was live
 * plays it to its end whatever happened meanwhile. The stream stops when
 * the client goes away (the body is cancelled or `signal` aborts): no read
 * or timer is left behind.
 *
 * @module
 */

import {
  RecordDecoder,
  RecordFormatError,
  RecordType,
  type SessionRecord,
} from "../../protocol/records.ts";
import { LineSplitter } from "../cast_lines.ts";
import type { RecordingId } from "../recording_id.ts";
import type { RecordingManifest, RecordingStorage } from "../storage.ts";
import { CastView } from "./cast_view.ts";

/** Content type of {@linkcode liveCastEvents}. */
export const LIVE_CONTENT_TYPE = "text/event-stream; charset=utf-8";

/** Options of {@linkcode followCast} and {@linkcode liveCastEvents}. */
export interface LiveCastOptions {
  /** Time between two reads of the manifest. @default {1000} */
  pollMs?: number;
  /** Longest time between two reads of the evidence while live. @default {10000} */
  rereadMs?: number;
  /** Longest time without sending anything (then a comment). @default {15000} */
  heartbeatMs?: number;
  /** Clock in Unix ms. @default {Date.now} */
  now?: () => number;
  /** Stops following (e.g. the request's signal). */
  signal?: AbortSignal;
}

/** One item of {@linkcode followCast}. */
export type LiveCastItem =
  /** An asciicast line (header or event) as JSON text, without `\n`. */
  | { line: string }
  /** Nothing new for `heartbeatMs`. */
  | { idle: true }
  /** The last item: the status the recording ended with (`gone`: removed). */
  | { end: RecordingManifest["status"] | "gone" };

/** Longest line of a v1 `.cast` streamed (a longer one ends the stream). */
const MAX_V1_LINE_BYTES = 8 * 1024 * 1024;

const EMPTY = new Uint8Array(0);

/**
 * Follows a recording: its cast lines so far, then each new one as storage
 * shows it, until it is finalised.
 * @param storage Where the recording is.
 * @param id The recording id.
 * @param options Intervals, clock, signal.
 * @returns The items; the last one is `{ end }` (unless aborted).
 * @example
 * ```ts
 * import { DiskStorage } from "../disk_storage.ts";
 * import { makeRecordingId } from "../recording_id.ts";
 * import { followCast } from "./live_view.ts";
 * const dir = await Deno.makeTempDir();
 * const items = [];
 * const id = makeRecordingId("none", new Date());
 * for await (const i of followCast(new DiskStorage({ dir }), id)) items.push(i);
 * if (JSON.stringify(items) !== '[{"end":"gone"}]') throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function* followCast(
  storage: RecordingStorage,
  id: RecordingId,
  options: LiveCastOptions = {},
): AsyncGenerator<LiveCastItem, void, undefined> {
  const now = options.now ?? Date.now;
  const pollMs = options.pollMs ?? 1000;
  const rereadMs = options.rereadMs ?? 10_000;
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const signal = options.signal;
  let m = await storage.get(id);
  if (!m) return yield { end: "gone" };
  if (m.format !== "records") {
    // A v1 `.cast` (the v1 upload is gone: never live). Its lines as they are.
    yield* castLines(await storage.openStored(id));
    return yield { end: m.status };
  }
  const live = m.status === "recording";
  const startedAt = m.startedAt;
  const decoder = new RecordDecoder();
  const view = new CastView();
  let consumed = 0;
  let lastUs = 0;
  let sentAt = now();
  let damaged = false;
  for (;;) {
    // Read before deciding: a status read first and final means these are
    // all the bytes there will be.
    const final = m.status !== "recording";
    const seen = m.updatedAt;
    const readAt = now();
    const stored = await storage.openStored(id);
    if (stored) {
      for await (const chunk of after(stored, consumed)) {
        consumed += chunk.length;
        let records: SessionRecord[];
        try {
          records = decoder.push(chunk);
        } catch (e) {
          if (!(e instanceof RecordFormatError)) throw e;
          damaged = true; // never stored by the recorder: end what plays
          break;
        }
        for (const r of records) {
          if (r.type !== RecordType.HEADER) lastUs = r.timeUs;
          let text = view.push(r);
          if (text === "") continue;
          if (r.type === RecordType.HEADER && live) {
            text = withTime(text, (now() - startedAt) / 1000);
          }
          for (const line of playerLines(text, r.type)) yield { line };
          sentAt = now();
        }
      }
    }
    if (final || damaged || signal?.aborted) break;
    // Wait for the manifest to say there is more (or for rereadMs).
    for (;;) {
      if (!await sleep(pollMs, signal)) return;
      const next = await storage.get(id);
      if (signal?.aborted) return;
      if (!next) return yield { end: "gone" };
      m = next;
      if (
        m.status !== "recording" || m.castBytes > consumed ||
        m.updatedAt !== seen || now() - readAt >= rereadMs
      ) break;
      if (now() - sentAt >= heartbeatMs) {
        yield { idle: true };
        sentAt = now();
      }
    }
  }
  if (signal?.aborted) return;
  // What the decoders held back (a partial recording has no end record).
  const rest = view.push({
    type: RecordType.END,
    timeUs: lastUs,
    offset: consumed,
    payload: EMPTY,
  });
  for (const line of playerLines(rest, RecordType.END)) yield { line };
  yield { end: m.status };
}

/**
 * The live view as Server-Sent Events bytes (the module doc shows them),
 * pulled: a client that stops reading stops the polling. When `signal`
 * aborts (the recorder closes) the body ends without `done`, even for a
 * client that is not reading, and the player reconnects.
 * @param storage Where the recording is.
 * @param id The recording id.
 * @param options Intervals, clock, signal.
 * @returns The response body.
 */
export function liveCastEvents(
  storage: RecordingStorage,
  id: RecordingId,
  options: LiveCastOptions = {},
): ReadableStream<Uint8Array> {
  const stop = new AbortController();
  const outer = options.signal;
  const items = followCast(storage, id, { ...options, signal: stop.signal });
  const enc = new TextEncoder();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let started = false;
  let ended = false;
  const end = async (close: boolean) => {
    if (ended) return;
    ended = true;
    outer?.removeEventListener("abort", onAbort);
    stop.abort();
    if (close) controller.close();
    await items.return(undefined);
  };
  const onAbort = () => void end(true);
  return new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      outer?.addEventListener("abort", onAbort, { once: true });
      if (outer?.aborted) onAbort();
    },
    async pull() {
      if (!started) {
        started = true;
        return controller.enqueue(enc.encode("retry: 3000\n\n"));
      }
      let r;
      try {
        r = await items.next();
      } catch (e) {
        await end(false);
        throw e;
      }
      if (ended) return;
      if (r.done) return await end(true);
      const item = r.value;
      controller.enqueue(enc.encode(
        "line" in item
          ? `data: ${item.line}\n\n`
          : "idle" in item
          ? ": idle\n\n"
          : `event: done\ndata: ${JSON.stringify({ status: item.end })}\n\n`,
      ));
    },
    cancel: () => end(false),
  }, { highWaterMark: 0 });
}

/** The chunks of a stream after its first `skip` bytes. */
async function* after(
  stream: ReadableStream<Uint8Array>,
  skip: number,
): AsyncGenerator<Uint8Array, void, undefined> {
  let left = skip;
  for await (const chunk of stream) {
    if (left >= chunk.length) {
      left -= chunk.length;
      continue;
    }
    yield left > 0 ? chunk.subarray(left) : chunk;
    left = 0;
  }
}

/**
 * Splits `CastView` text into lines; a resize's `"COLSxROWS"` becomes the
 * `{cols, rows}` the player's eventsource driver passes to its terminal.
 */
function playerLines(text: string, type: number): string[] {
  const lines = text.split("\n").filter((l) => l !== "");
  return type === RecordType.RESIZE ? lines.map(playerResize) : lines;
}

/** An asciicast v2 resize line in the driver's form; any other line as is. */
function playerResize(line: string): string {
  const v = JSON.parse(line) as unknown;
  if (!Array.isArray(v) || v[1] !== "r" || typeof v[2] !== "string") {
    return line;
  }
  const size = /^(\d+)x(\d+)$/.exec(v[2]);
  if (!size) return line;
  return JSON.stringify([v[0], "r", { cols: +size[1]!, rows: +size[2]! }]);
}

/** The header line with the player's start time. */
function withTime(headerLine: string, seconds: number): string {
  const h = JSON.parse(headerLine) as Record<string, unknown>;
  return JSON.stringify({ ...h, time: Math.max(0, seconds) });
}

/** The JSON lines of a stored v1 `.cast` (a line that is not JSON is left out). */
async function* castLines(
  stream: ReadableStream<Uint8Array> | undefined,
): AsyncGenerator<LiveCastItem, void, undefined> {
  if (!stream) return;
  const splitter = new LineSplitter(MAX_V1_LINE_BYTES);
  const dec = new TextDecoder();
  try {
    for await (const chunk of stream) {
      for (const l of splitter.push(chunk)) {
        let line;
        try {
          line = playerResize(dec.decode(l.bytes).trim());
        } catch {
          continue; // not JSON
        }
        yield { line };
      }
    }
  } catch (e) {
    if ((e as Error).name !== "LineTooLongError") throw e;
  }
}

/** Waits `ms`; false (at once) when `signal` aborts. Leaves no timer. */
function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
