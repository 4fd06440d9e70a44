/**
 * The asciicast v3 view of a recording (https://docs.asciinema.org/manual/asciicast/v3/),
 * derived from the stored evidence whenever `…/cast?format=v3` is read, as
 * the v2 view is (`cast_view.ts`). It is the v2 view re-timed and re-headed:
 *
 * ```
 * v2 (cast_view.ts)                                v3 (this file)
 * {"version":2,"width":80,"height":24,             {"version":3,"term":{"cols":80,"rows":24},
 *  "timestamp":…,"command":…,"argv":…,…}            "timestamp":…,"command":…,"argv":…,…}
 * [1.5,"o","hi\r\n"]   time since the start        [1.5,"o","hi\r\n"]  interval since the previous event
 * [2,"r","100x30"]                                 [0.5,"r","100x30"]
 * [2.25,"m","exit 2"]  exit marker (end record)    [0.25,"x","2"]      exit status event
 * [2.25,"m","ended: client-gone"]  (no exit code)  [0.25,"m","ended: client-gone"]
 * ```
 *
 * - `term.cols`/`term.rows` are v2's `width`/`height` (always 80×24 in our
 *   headers: every size the client sent is an `"r"` event); `term.type` is
 *   `env.TERM` when a header has one (ours have no `env`: kubectl never
 *   sends the client's `TERM`), `term.theme` is v2's `theme`.
 * - `timestamp` (an integer, as v3 wants), `idle_time_limit`, `command`,
 *   `title` and `env` keep their v2 meaning. The execgate session metadata
 *   (`argv`, `tty`, `srcNode…`, `kubernetes`, `proxy`, `sessionId`,
 *   `protocol`, `continues`) stays at the top level of the header, as in v2:
 *   v3 readers ignore keys they do not know (asciinema 3 and
 *   asciinema-player read only theirs), so a tool reading our fields reads
 *   both versions alike.
 * - Intervals are computed in whole microseconds from the v2 times, so they
 *   add up to the v2 times exactly; a time earlier than the one before (a
 *   damaged file: the proxy's clock is monotonic) gives interval 0, never a
 *   negative one.
 * - The end: `"x"` with the exit status when the session's final `Status`
 *   carried one, else the v2 exit marker's `"m"` (v3's `"x"` needs a number).
 *   A recording without an end record has neither.
 *
 * Memory stays bounded for any size: one record (or one stored line) at a
 * time, and `CastView`'s per-channel UTF-8 decoders.
 *
 * @module
 */

import { RecordType, type SessionRecord } from "../../protocol/records.ts";
import { LineSplitter } from "../cast_lines.ts";
import {
  CastView,
  endMarkerText,
  readSessionEnd,
  storedRecords,
} from "./cast_view.ts";
import type { SessionEnd } from "../../recording/wire.ts";

/** Longest line of a stored v1 `.cast` converted (a longer one ends the view). */
const MAX_V1_LINE_BYTES = 8 * 1024 * 1024;

/**
 * Keys of a v2 header that v3 writes elsewhere or not at all (a v2 `term`
 * would take the place of v3's).
 */
const MOVED = new Set(["version", "width", "height", "theme", "term"]);

const COLOR = /^#[0-9a-fA-F]{6}$/;

/**
 * Turns asciicast v2 lines into asciicast v3 lines, one at a time: the first
 * line is the header, every later one an event.
 *
 * @example
 * ```ts
 * import { CastV3Converter } from "./cast_v3.ts";
 * const c = new CastV3Converter();
 * const head = c.line('{"version":2,"width":80,"height":24,"timestamp":1}');
 * if (head !== '{"version":3,"term":{"cols":80,"rows":24},"timestamp":1}\n') {
 *   throw new Error(head);
 * }
 * c.line('[1.5,"o","a"]');
 * const ev = c.line('[2,"o","b"]');
 * if (ev !== '[0.5,"o","b"]\n') throw new Error(ev);
 * ```
 */
export class CastV3Converter {
  #started = false;
  #prevUs = 0;
  #lineNo = 0;

  /**
   * Converts one v2 line.
   * @param v2 The line, with or without its `\n`.
   * @returns The v3 line ending in `\n`; a v2 line that is not a valid event
   * becomes a `"m"` marker naming it; an empty line makes nothing.
   */
  line(v2: string): string {
    const text = v2.endsWith("\n") ? v2.slice(0, -1) : v2;
    this.#lineNo++;
    if (!this.#started) {
      this.#started = true;
      return this.#header(text);
    }
    if (text.trim() === "") return "";
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      v = undefined;
    }
    if (
      !Array.isArray(v) || v.length !== 3 || typeof v[0] !== "number" ||
      !Number.isFinite(v[0]) || typeof v[1] !== "string" ||
      typeof v[2] !== "string" || !/^[oirm]$/.test(v[1])
    ) {
      return this.marker(
        this.#prevUs / 1e6,
        `line ${this.#lineNo} of the stored cast is not an asciicast v2 event`,
      );
    }
    if (v[1] === "r" && !isSize(v[2])) {
      return this.marker(
        v[0],
        `line ${this.#lineNo} of the stored cast resizes to ${
          JSON.stringify(v[2].slice(0, 40))
        }, not COLSxROWS`,
      );
    }
    return this.event(v[0], v[1], v[2]);
  }

  /**
   * Converts the lines of a chunk of v2 text.
   * @param v2 Whole lines, each ending in `\n`.
   * @returns The v3 lines.
   */
  lines(v2: string): string {
    let out = "";
    for (const l of v2.split("\n")) if (l !== "") out += this.line(l);
    return out;
  }

  /**
   * Converts the lines `CastView` made, which are well-formed by
   * construction (`[<time>,"<code>",<data>]`, from `JSON.stringify`): the
   * time is rewritten in place and the rest kept as it is, without parsing
   * the data again (a header line goes through {@linkcode line}).
   * @param v2 Whole lines of `CastView.push`, each ending in `\n`.
   * @returns The v3 lines.
   */
  viewLines(v2: string): string {
    let out = "";
    let at = 0;
    while (at < v2.length) {
      let nl = v2.indexOf("\n", at);
      if (nl === -1) nl = v2.length;
      const l = v2.slice(at, nl);
      at = nl + 1;
      if (l === "") continue;
      const comma = l.indexOf(",");
      const t = this.#started && l.startsWith("[") && comma > 1
        ? Number(l.slice(1, comma))
        : NaN;
      if (!Number.isFinite(t)) {
        out += this.line(l);
        continue;
      }
      this.#lineNo++;
      out += `[${JSON.stringify(this.#interval(t))}${l.slice(comma)}\n`;
    }
    return out;
  }

  /**
   * An event at a v2 time.
   * @param seconds Time since the start, in seconds.
   * @param code Event code.
   * @param data Event data.
   * @returns The v3 line.
   */
  event(seconds: number, code: string, data: string): string {
    return JSON.stringify([this.#interval(seconds), code, data]) + "\n";
  }

  /** Seconds since the previous event (whole µs, never negative). */
  #interval(seconds: number): number {
    const us = Math.max(0, Math.round(seconds * 1e6));
    const interval = Math.max(0, us - this.#prevUs);
    this.#prevUs = Math.max(this.#prevUs, us);
    return interval / 1e6;
  }

  /**
   * A marker at a v2 time.
   * @param seconds Time since the start.
   * @param text Marker text.
   * @returns The v3 line.
   */
  marker(seconds: number, text: string): string {
    return this.event(seconds, "m", text);
  }

  /**
   * The end of the session: `"x"` with the exit status, or the v2 exit
   * marker's text when there is none.
   * @param seconds Time of the end since the start.
   * @param end The session's end manifest (maybe damaged).
   * @returns The v3 line.
   */
  end(seconds: number, end: Partial<SessionEnd> | undefined): string {
    const code = end?.exitCode;
    return typeof code === "number" && Number.isInteger(code)
      ? this.event(seconds, "x", String(code))
      : this.marker(seconds, endMarkerText(end));
  }

  #header(text: string): string {
    let h: unknown;
    try {
      h = JSON.parse(text);
    } catch {
      h = {};
    }
    const v2 =
      (typeof h === "object" && h !== null && !Array.isArray(h)
        ? h
        : {}) as Record<string, unknown>;
    const env = isStringMap(v2.env) ? v2.env : undefined;
    const term: Record<string, unknown> = {
      cols: size(v2.width, 80),
      rows: size(v2.height, 24),
    };
    if (env && typeof env.TERM === "string") term.type = env.TERM;
    if (isTheme(v2.theme)) term.theme = v2.theme;
    // Entries, then Object.fromEntries: a "__proto__" key stays a key.
    const out: [string, unknown][] = [["version", 3], ["term", term]];
    for (const [k, v] of Object.entries(v2)) {
      if (MOVED.has(k)) continue;
      if (k === "timestamp") {
        if (typeof v === "number" && Number.isFinite(v) && v >= 0) {
          out.push([k, Math.floor(v)]);
        }
      } else if (k === "idle_time_limit") {
        if (typeof v === "number" && Number.isFinite(v) && v >= 0) {
          out.push([k, v]);
        }
      } else if (k === "command" || k === "title") {
        if (typeof v === "string") out.push([k, v]);
      } else if (k === "env") {
        if (env) out.push([k, env]);
      } else {
        out.push([k, v]);
      }
    }
    return JSON.stringify(Object.fromEntries(out)) + "\n";
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A v2/v3 theme: `fg`, `bg` `#rrggbb`, `palette` 8 or 16 of them. */
function isTheme(v: unknown): boolean {
  if (!isObject(v)) return false;
  const p = typeof v.palette === "string" ? v.palette.split(":") : [];
  return typeof v.fg === "string" && COLOR.test(v.fg) &&
    typeof v.bg === "string" && COLOR.test(v.bg) &&
    (p.length === 8 || p.length === 16) && p.every((c) => COLOR.test(c));
}

function isStringMap(v: unknown): v is Record<string, string> {
  return isObject(v) && Object.values(v).every((s) => typeof s === "string");
}

/** `COLSxROWS`, each 0 to 65535 (as v3 readers parse it). */
function isSize(v: string): boolean {
  const m = /^(\d{1,5})x(\d{1,5})$/.exec(v);
  return m !== null && +m[1]! <= 65535 && +m[2]! <= 65535;
}

/** A terminal dimension: an integer 0 to 65535, else the default. */
function size(v: unknown, fallback: number): number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 65535
    ? v
    : fallback;
}

/**
 * The asciicast v3 of a stored record stream (protocol v2 uploads), streamed
 * with bounded memory; a partial recording gives a valid v3 cast of what it
 * holds.
 * @param evidence The stored bytes.
 * @returns The v3 `.cast` bytes.
 * @example
 * ```ts
 * import { castV3OfRecords } from "./cast_v3.ts";
 * import { encodeRecord, RecordType } from "../../protocol/records.ts";
 * const enc = new TextEncoder();
 * const evidence = ReadableStream.from([
 *   encodeRecord(RecordType.HEADER, 0, enc.encode('{"version":2,"width":80,"height":24,"tty":true}')),
 *   encodeRecord(RecordType.STDOUT, 500_000, enc.encode("hi")),
 *   encodeRecord(RecordType.END, 750_000, enc.encode('{"reason":"normal","exitCode":2}')),
 * ]);
 * const text = await new Response(castV3OfRecords(evidence)).text();
 * if (!text.endsWith('[0.5,"o","hi"]\n[0.25,"x","2"]\n')) throw new Error(text);
 * ```
 */
export function castV3OfRecords(
  evidence: ReadableStream<Uint8Array>,
): ReadableStream<Uint8Array> {
  const view = new CastView({ endMarker: false });
  const conv = new CastV3Converter();
  const enc = new TextEncoder();
  let ended = false;
  return storedRecords(evidence).pipeThrough(
    new TransformStream<SessionRecord, Uint8Array>({
      transform(r, controller) {
        if (ended) return;
        const v2 = view.push(r);
        let out = v2 === "" ? "" : conv.viewLines(v2);
        if (r.type === RecordType.END) {
          ended = true;
          out += conv.end(
            Math.round(r.timeUs / 1000) / 1000,
            readSessionEnd(r.payload),
          );
        }
        if (out !== "") controller.enqueue(enc.encode(out));
      },
    }),
  );
}

/**
 * The asciicast v3 of a stored v2 `.cast` (protocol v1 uploads), streamed
 * with bounded memory. The end comes from the manifest's `end` (the upload's
 * last line, stored beside the cast), at its time since the header's
 * `timestamp`. A line longer than 8 MiB ends the view with a marker saying
 * so.
 * @param stored The stored `.cast` bytes.
 * @param end The manifest's `end`, when the upload had one.
 * @returns The v3 `.cast` bytes.
 * @example
 * ```ts
 * import { castV3OfCast } from "./cast_v3.ts";
 * const v2 = '{"version":2,"width":80,"height":24}\n[0.5,"o","hi"]\n';
 * const text = await new Response(
 *   castV3OfCast(ReadableStream.from([new TextEncoder().encode(v2)])),
 * ).text();
 * if (text !== '{"version":3,"term":{"cols":80,"rows":24}}\n[0.5,"o","hi"]\n') {
 *   throw new Error(text);
 * }
 * ```
 */
export function castV3OfCast(
  stored: ReadableStream<Uint8Array>,
  end?: Partial<SessionEnd>,
): ReadableStream<Uint8Array> {
  const conv = new CastV3Converter();
  const splitter = new LineSplitter(MAX_V1_LINE_BYTES);
  const dec = new TextDecoder();
  const enc = new TextEncoder();
  let startSeconds: number | undefined;
  let broken = false;
  const convert = (bytes: Uint8Array): string => {
    const text = dec.decode(bytes);
    if (startSeconds === undefined) {
      startSeconds = headerTimestamp(text);
    }
    return conv.line(text);
  };
  return stored.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (broken) return;
        let out = "";
        try {
          for (const l of splitter.push(chunk)) out += convert(l.bytes);
        } catch (e) {
          if ((e as Error).name !== "LineTooLongError") throw e;
          const done = (e as { completed: { bytes: Uint8Array }[] }).completed;
          for (const l of done) out += convert(l.bytes);
          out += conv.marker(0, (e as Error).message);
          broken = true;
        }
        if (out !== "") controller.enqueue(enc.encode(out));
      },
      flush(controller) {
        let out = "";
        if (!broken) {
          const last = splitter.end();
          if (last) out += convert(last.bytes);
        }
        if (end !== undefined && startSeconds !== undefined) {
          const at = typeof end.endTime === "number"
            ? end.endTime - startSeconds
            : 0;
          out += conv.end(Number.isFinite(at) ? at : 0, end);
        }
        if (out !== "") controller.enqueue(enc.encode(out));
      },
    }),
  );
}

/**
 * Reads the `format` query parameter of a `.cast` download: `v2` (the
 * default) or `v3`.
 * @param values Every value of the parameter (none when absent).
 * @returns 2 or 3.
 * @throws {RangeError} When it is anything else, or given twice.
 * @example
 * ```ts
 * import { castFormatOf } from "./cast_v3.ts";
 * if (castFormatOf(undefined) !== 2 || castFormatOf(["v3"]) !== 3) {
 *   throw new Error();
 * }
 * ```
 */
export function castFormatOf(values: string[] | undefined): 2 | 3 {
  if (values === undefined || values.length === 0) return 2;
  const [v] = values;
  if (values.length === 1 && (v === "v2" || v === "v3")) {
    return v === "v2" ? 2 : 3;
  }
  throw new RangeError(
    `Query parameter "format" must be "v2" or "v3", not ${
      values.map((x) => JSON.stringify(x.slice(0, 40))).join(", ")
    }`,
  );
}

/** The `timestamp` of a v2 header line, 0 when it has none. */
function headerTimestamp(line: string): number {
  try {
    const h = JSON.parse(line);
    return typeof h?.timestamp === "number" && Number.isFinite(h.timestamp)
      ? Math.floor(h.timestamp)
      : 0;
  } catch {
    return 0;
  }
}
