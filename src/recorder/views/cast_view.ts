/**
 * The asciicast v2 view of a record stream (`../../protocol/records.ts`):
 * what the proxy's cast encoder produced before records existed, now derived
 * by the recorder from the stored evidence, lazily, whenever a `.cast` is
 * read.
 *
 * ```
 * HEADER  {"version":2,"width":80,...}   → the header line (re-serialised)
 * STDOUT  raw bytes                      → [t,"o","text"]   per-channel streaming UTF-8,
 * STDERR  raw bytes                      → [t,"o","text"]   events of ≤ 64 KiB raw bytes,
 *                                                           \n → \r\n without a TTY
 * RESIZE  {"Width":100,"Height":30}      → [t,"r","100x30"] as sent (0x0 stays 0x0)
 *         {bad                           → [t,"m","resize message is not a terminal size (…)"]
 * MARKER  label                          → [t,"m","label"]
 * PORTFORWARD  stream event JSON         → [t,"o","port-forward: stream 3 opened …\r\n"]
 * PORTFORWARD_DATA                       → nothing (the content is evidence only)
 * STATUS  Status JSON                    → nothing (it is in the manifest's `end`)
 * END     SessionEnd JSON                → what the decoders held back, at the end time,
 *                                          then one exit marker [t,"m","exit 2"]
 * ```
 *
 * The exit marker is one `"m"` event, the last of the cast, at the end
 * record's time: `exit N` when the session's final `Status` carried an exit
 * code, else `ended: <reason>` (and the upstream's answer of a refusal, or
 * the detail), from the end record's `SessionEnd` (see
 * {@linkcode endMarkerText}). asciicast v2 has no exit event (v3's `"x"`,
 * see `cast_v3.ts`), so a v2 player shows it as a marker. A recording
 * without an end record (live, or cut) has none; an `END` pushed with an
 * empty payload (how the live view flushes the decoders of such a
 * recording) only flushes, and a second end record makes no second marker.
 *
 * `t` is the record's time in seconds, to the millisecond (as the encoder wrote
 * it). The semantics
 * are `CastEncoder`'s (`../../recording/cast_encoder.ts`), so a recording
 * replays as it did when the proxy encoded it.
 *
 * @module
 */

import {
  RecordDecoder,
  RecordType,
  type SessionRecord,
} from "../../protocol/records.ts";
import {
  type CastHeader,
  MAX_EVENT_RAW_BYTES,
  MAX_TEXT_FIELD_CHARS,
  type SessionEnd,
} from "../../recording/wire.ts";
import { readResize } from "../../k8s/terminal_size.ts";
import { portForwardLine } from "./portforward_lines.ts";

/** Bytes of a resize message parsed (the rest is named in its marker). */
const MAX_RESIZE_BYTES = 4096;

/**
 * Turns records into asciicast v2 lines, one record at a time (memory: one
 * streaming UTF-8 decoder per channel).
 *
 * @example
 * ```ts
 * import { CastView } from "./cast_view.ts";
 * import { RecordType } from "../../protocol/records.ts";
 * const enc = new TextEncoder();
 * const v = new CastView();
 * v.push({ type: RecordType.HEADER, timeUs: 0, offset: 0,
 *   payload: enc.encode('{"version":2,"width":80,"height":24,"tty":false}') });
 * const line = v.push({ type: RecordType.STDOUT, timeUs: 500_000, offset: 60,
 *   payload: enc.encode("hi\n") });
 * if (line !== '[0.5,"o","hi\\r\\n"]\n') throw new Error(line);
 * ```
 */
export class CastView {
  #endMarker: boolean;
  #ended = false;
  #tty = false;
  #started = false;
  #decoders = new Map<number, TextDecoder>();
  #enc = new TextEncoder();

  /**
   * Creates a view of one record stream, from its header record on.
   * @param options What to make.
   * @param options.endMarker Whether the end record makes the exit marker
   * (`cast_v3.ts` turns it off to write an `"x"` event instead).
   * @default {true}
   */
  constructor(options: { endMarker?: boolean } = {}) {
    this.#endMarker = options.endMarker ?? true;
  }

  /**
   * Takes the next record.
   * @param r The record (records in stream order).
   * @returns The cast lines it makes, each ending in `\n` (maybe none).
   */
  push(r: SessionRecord): string {
    switch (r.type) {
      case RecordType.HEADER:
        return this.#header(r.payload);
      case RecordType.STDOUT:
      case RecordType.STDERR:
        return this.#output(r);
      case RecordType.RESIZE: {
        const rec = readResize(
          r.payload.subarray(0, MAX_RESIZE_BYTES),
          r.payload.length,
        );
        return rec.size
          ? event(r.timeUs, "r", `${rec.size.width}x${rec.size.height}`)
          : event(r.timeUs, "m", cut(rec.marker));
      }
      case RecordType.MARKER:
        return event(r.timeUs, "m", cut(new TextDecoder().decode(r.payload)));
      case RecordType.PORTFORWARD:
        // A readable line per stream event (content records show nothing).
        return event(r.timeUs, "o", portForwardLine(r.payload) + "\r\n");
      case RecordType.END: {
        const rest = this.#flush(r.timeUs);
        // An empty END only flushes (the live view's end of a recording
        // without an end record); the marker is made once.
        if (!this.#endMarker || r.payload.length === 0 || this.#ended) {
          return rest;
        }
        this.#ended = true;
        return rest +
          event(r.timeUs, "m", endMarkerText(readSessionEnd(r.payload)));
      }
      default:
        return "";
    }
  }

  /**
   * Encodes {@linkcode push}'s result.
   * @param r The record.
   * @returns The UTF-8 bytes of the lines.
   */
  pushBytes(r: SessionRecord): Uint8Array {
    const text = this.push(r);
    return text === "" ? EMPTY : this.#enc.encode(text);
  }

  #header(payload: Uint8Array): string {
    if (this.#started) return "";
    this.#started = true;
    let h: Partial<CastHeader>;
    try {
      h = JSON.parse(new TextDecoder().decode(payload));
    } catch {
      // Ingest validated it; a header that is not JSON still makes a cast.
      h = {};
    }
    if (typeof h !== "object" || h === null || Array.isArray(h)) h = {};
    this.#tty = h.tty === true;
    // The proxy's key order (version, width, height first); a damaged
    // header still gets what asciinema needs.
    return JSON.stringify({
      version: 2,
      width: 80,
      height: 24,
      ...h,
    }) + "\n";
  }

  #output(r: SessionRecord): string {
    let d = this.#decoders.get(r.type);
    if (!d) {
      d = new TextDecoder("utf-8", { fatal: false });
      this.#decoders.set(r.type, d);
    }
    let out = "";
    const data = r.payload;
    for (let off = 0; off < data.length; off += MAX_EVENT_RAW_BYTES) {
      const text = d.decode(data.subarray(off, off + MAX_EVENT_RAW_BYTES), {
        stream: true,
      });
      if (text !== "") out += this.#o(r.timeUs, text);
    }
    return out;
  }

  #o(timeUs: number, text: string): string {
    return event(timeUs, "o", this.#tty ? text : text.replaceAll("\n", "\r\n"));
  }

  #flush(timeUs: number): string {
    let out = "";
    for (const d of this.#decoders.values()) {
      const rest = d.decode();
      if (rest !== "") out += this.#o(timeUs, rest);
    }
    return out;
  }
}

const EMPTY = new Uint8Array(0);

function event(timeUs: number, code: string, data: string): string {
  // Milliseconds, as the proxy's encoder wrote them.
  return JSON.stringify([Math.round(timeUs / 1000) / 1000, code, data]) + "\n";
}

/** Cuts free text to {@linkcode MAX_TEXT_FIELD_CHARS}, as the encoder did. */
function cut(text: string): string {
  if (text.length <= MAX_TEXT_FIELD_CHARS) return text;
  return `${text.slice(0, MAX_TEXT_FIELD_CHARS)}… (${text.length} characters)`;
}

/**
 * Reads an end record's `SessionEnd`, tolerating damage (the ingest checked
 * it; a stored file damaged later still makes a view).
 * @param payload The end record's payload.
 * @returns The manifest's fields, or `undefined` when it is not a JSON object.
 * @example
 * ```ts
 * import { readSessionEnd } from "./cast_view.ts";
 * const end = readSessionEnd(new TextEncoder().encode('{"exitCode":2}'));
 * if (end?.exitCode !== 2) throw new Error();
 * ```
 */
export function readSessionEnd(
  payload: Uint8Array,
): Partial<SessionEnd> | undefined {
  try {
    const end = JSON.parse(new TextDecoder().decode(payload));
    return typeof end === "object" && end !== null && !Array.isArray(end)
      ? end
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The text of the v2 exit marker: `exit N` when the session's exit code is
 * known, else `ended: <reason>` with the upstream's answer (a refusal) or the
 * detail; `ended` when the end record is unreadable. Cut to
 * {@linkcode MAX_TEXT_FIELD_CHARS}.
 * @param end The end record's manifest (see {@linkcode readSessionEnd}).
 * @returns The marker text.
 * @example
 * ```ts
 * import { endMarkerText } from "./cast_view.ts";
 * if (endMarkerText({ exitCode: 2 }) !== "exit 2") throw new Error();
 * if (endMarkerText({ reason: "client-gone" }) !== "ended: client-gone") {
 *   throw new Error();
 * }
 * ```
 */
export function endMarkerText(end: Partial<SessionEnd> | undefined): string {
  if (end === undefined) return "ended";
  if (typeof end.exitCode === "number" && Number.isInteger(end.exitCode)) {
    return `exit ${end.exitCode}`;
  }
  const reason = typeof end.reason === "string" ? end.reason : "unknown";
  const up = end.upstream;
  const more = typeof up === "object" && up !== null
    ? `: upstream answered ${Number(up.status)} ${String(up.message)}`
    : typeof end.detail === "string" && end.detail !== ""
    ? `: ${end.detail}`
    : "";
  return cut(`ended: ${reason}${more}`);
}

/**
 * Streams the records of a stored record stream. A torn record at the end
 * (never stored by the recorder, but possible in a file cut by a crash
 * before recovery) is left out, not an error.
 * @param evidence The stored bytes.
 * @returns The records, in order.
 */
export function storedRecords(
  evidence: ReadableStream<Uint8Array>,
): ReadableStream<SessionRecord> {
  const d = new RecordDecoder();
  return evidence.pipeThrough(
    new TransformStream<Uint8Array, SessionRecord>({
      transform(chunk, controller) {
        for (const r of d.push(chunk)) controller.enqueue(r);
      },
    }),
  );
}

/**
 * The asciicast v2 of a stored record stream, streamed: memory stays bounded
 * for any recording size, a partial recording gives a valid cast of what it
 * holds.
 * @param evidence The stored bytes.
 * @returns The `.cast` bytes.
 */
export function castOfRecords(
  evidence: ReadableStream<Uint8Array>,
): ReadableStream<Uint8Array> {
  const view = new CastView();
  return storedRecords(evidence).pipeThrough(
    new TransformStream<SessionRecord, Uint8Array>({
      transform(r, controller) {
        const bytes = view.pushBytes(r);
        if (bytes.length > 0) controller.enqueue(bytes);
      },
    }),
  );
}

/**
 * The raw bytes of one output channel of a stored record stream,
 * concatenated, byte for byte (a `kubectl cp` download is the tar stream).
 * @param evidence The stored bytes.
 * @param type `RecordType.STDOUT` or `RecordType.STDERR`.
 * @returns The bytes.
 */
export function channelOfRecords(
  evidence: ReadableStream<Uint8Array>,
  type: typeof RecordType.STDOUT | typeof RecordType.STDERR,
): ReadableStream<Uint8Array> {
  return storedRecords(evidence).pipeThrough(
    new TransformStream<SessionRecord, Uint8Array>({
      transform(r, controller) {
        if (r.type === type && r.payload.length > 0) {
          controller.enqueue(r.payload);
        }
      },
    }),
  );
}
