/**
 * A strict asciicast v3 reader (https://docs.asciinema.org/manual/asciicast/v3/),
 * used by the tests to check that what `cast_v3.ts` writes is v3 by the
 * letter: stricter than asciinema 3 or asciinema-player, which skip what they
 * do not understand.
 *
 * - The file is UTF-8; every line, the last one too, ends in `\n`.
 * - Line 1 is the header: a JSON object, `version` 3, `term` an object with
 *   integer `cols` and `rows` (1 to 65535), optional string `type` and
 *   `version`, an optional `theme` (`fg`, `bg` `#rrggbb`, `palette` 8 or 16
 *   of them joined by `:`); optional integer `timestamp` ≥ 0, number
 *   `idle_time_limit` ≥ 0, string `command` and `title`, `env` a map of
 *   strings. Other keys are allowed (the spec's readers ignore them).
 * - Later lines starting with `#` are comments; an empty line is an error.
 * - Every other line is `[interval, code, data]`: `interval` a finite number
 *   ≥ 0 (seconds since the previous event), `code` one of `o i r m x`, `data`
 *   a string; `r` is `COLSxROWS` (0 to 65535 each), `x` an integer exit
 *   status, and nothing follows an `x`.
 *
 * Errors are `SyntaxError`s naming the line: `Cannot read asciicast v3 at
 * line 3: interval -1 is negative`.
 *
 * @module
 */

import { LineSplitter } from "../cast_lines.ts";

/** The codes v3 defines. */
export type CastV3Code = "o" | "i" | "r" | "m" | "x";

/** One event, with its interval and its time since the start (µs sums). */
export interface CastV3Event {
  /** Seconds since the previous event, as written. */
  interval: number;
  /** Seconds since the start: the sum of the intervals so far. */
  time: number;
  /** Event code. */
  code: CastV3Code;
  /** Event data. */
  data: string;
}

/** What a parsed file holds. */
export interface CastV3 {
  /** The header object. */
  header: Record<string, unknown> & {
    version: 3;
    term: { cols: number; rows: number } & Record<string, unknown>;
  };
  /** The events, in order. */
  events: CastV3Event[];
}

const CODES = new Set(["o", "i", "r", "m", "x"]);
const COLOR = /^#[0-9a-fA-F]{6}$/;

/** Reads a v3 file one line at a time (each line without its `\n`). */
export class CastV3Parser {
  #lineNo = 0;
  #header: CastV3["header"] | undefined;
  #us = 0;
  #exited = false;

  /**
   * Takes the next line.
   * @param line The line, without its `\n`.
   * @returns The header (line 1), an event, or `undefined` for a comment.
   * @throws {SyntaxError} When the line breaks the format.
   */
  push(
    line: string,
  ): { header: CastV3["header"] } | { event: CastV3Event } | undefined {
    this.#lineNo++;
    if (this.#header === undefined) {
      this.#header = this.#readHeader(line);
      return { header: this.#header };
    }
    if (line.startsWith("#")) return undefined;
    if (line === "") this.#fail("an empty line is not an event");
    const v = this.#json(line);
    if (!Array.isArray(v) || v.length !== 3) {
      this.#fail("an event is a JSON array of 3 elements");
    }
    const [interval, code, data] = v as unknown[];
    if (typeof interval !== "number" || !Number.isFinite(interval)) {
      this.#fail(`interval ${JSON.stringify(interval)} is not a number`);
    }
    if (interval < 0) this.#fail(`interval ${interval} is negative`);
    if (typeof code !== "string" || !CODES.has(code)) {
      this.#fail(`event code ${JSON.stringify(code)} is not one of o i r m x`);
    }
    if (typeof data !== "string") {
      this.#fail(`data of a "${code}" event is not a string`);
    }
    if (this.#exited) this.#fail(`a "${code}" event follows the "x" event`);
    if (code === "r") {
      const m = /^(\d{1,5})x(\d{1,5})$/.exec(data);
      if (!m || +m[1]! > 65535 || +m[2]! > 65535) {
        this.#fail(`resize ${JSON.stringify(data)} is not COLSxROWS`);
      }
    }
    if (code === "x") {
      if (!/^-?\d{1,10}$/.test(data)) {
        this.#fail(`exit status ${JSON.stringify(data)} is not an integer`);
      }
      this.#exited = true;
    }
    this.#us += Math.round(interval * 1e6);
    if (!Number.isSafeInteger(this.#us)) this.#fail("the time overflows");
    return {
      event: {
        interval,
        time: this.#us / 1e6,
        code: code as CastV3Code,
        data,
      },
    };
  }

  /**
   * Ends the input.
   * @throws {SyntaxError} When there was no header.
   */
  end(): void {
    if (this.#header === undefined) {
      throw new SyntaxError("Cannot read asciicast v3: the file is empty");
    }
  }

  #readHeader(line: string): CastV3["header"] {
    if (line.startsWith("#")) this.#fail("the header must not be a comment");
    const h = this.#json(line);
    if (!isObject(h)) this.#fail("the header is not a JSON object");
    if (h.version !== 3) {
      this.#fail(`version ${JSON.stringify(h.version)} is not 3`);
    }
    const term = h.term;
    if (!isObject(term)) this.#fail('"term" is not an object');
    for (const k of ["cols", "rows"]) {
      const n = term[k];
      if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 65535) {
        this.#fail(`term.${k} ${JSON.stringify(n)} is not an integer 1-65535`);
      }
    }
    for (const k of ["type", "version"]) {
      if (term[k] !== undefined && typeof term[k] !== "string") {
        this.#fail(`term.${k} is not a string`);
      }
    }
    if (term.theme !== undefined) this.#checkTheme(term.theme);
    const ts = h.timestamp;
    if (
      ts !== undefined &&
      (typeof ts !== "number" || !Number.isSafeInteger(ts) || ts < 0)
    ) {
      this.#fail(`timestamp ${JSON.stringify(ts)} is not an integer ≥ 0`);
    }
    const idle = h.idle_time_limit;
    if (
      idle !== undefined &&
      (typeof idle !== "number" || !Number.isFinite(idle) || idle < 0)
    ) {
      this.#fail(`idle_time_limit ${JSON.stringify(idle)} is not a number ≥ 0`);
    }
    for (const k of ["command", "title"]) {
      if (h[k] !== undefined && typeof h[k] !== "string") {
        this.#fail(`"${k}" is not a string`);
      }
    }
    if (
      h.env !== undefined &&
      (!isObject(h.env) ||
        !Object.values(h.env).every((v) => typeof v === "string"))
    ) {
      this.#fail('"env" is not a map of strings');
    }
    return h as CastV3["header"];
  }

  #checkTheme(t: unknown): void {
    if (!isObject(t)) this.#fail("term.theme is not an object");
    for (const k of ["fg", "bg"]) {
      if (typeof t[k] !== "string" || !COLOR.test(t[k])) {
        this.#fail(`term.theme.${k} is not #rrggbb`);
      }
    }
    const p = typeof t.palette === "string" ? t.palette.split(":") : [];
    if ((p.length !== 8 && p.length !== 16) || !p.every((c) => COLOR.test(c))) {
      this.#fail("term.theme.palette is not 8 or 16 #rrggbb joined by ':'");
    }
  }

  #json(line: string): unknown {
    try {
      return JSON.parse(line);
    } catch (e) {
      this.#fail(`not JSON (${(e as Error).message})`);
    }
  }

  #fail(what: string): never {
    throw new SyntaxError(
      `Cannot read asciicast v3 at line ${this.#lineNo}: ${what}`,
    );
  }
}

/**
 * Parses a whole v3 file.
 * @param text The file.
 * @returns Header and events.
 * @throws {SyntaxError} When it breaks the format.
 * @example
 * ```ts
 * import { parseCastV3 } from "./_cast_v3_parse.ts";
 * const c = parseCastV3('{"version":3,"term":{"cols":80,"rows":24}}\n[1.5,"o","a"]\n[0.5,"x","0"]\n');
 * if (c.events[1]?.time !== 2) throw new Error();
 * ```
 */
export function parseCastV3(text: string): CastV3 {
  if (text !== "" && !text.endsWith("\n")) {
    const n = text.split("\n").length;
    throw new SyntaxError(
      `Cannot read asciicast v3 at line ${n}: the last line has no newline`,
    );
  }
  const p = new CastV3Parser();
  let header: CastV3["header"] | undefined;
  const events: CastV3Event[] = [];
  const lines = text.split("\n");
  lines.pop();
  for (const line of lines) {
    const got = p.push(line);
    if (got && "header" in got) header = got.header;
    else if (got) events.push(got.event);
  }
  p.end();
  return { header: header!, events };
}

/**
 * Parses a v3 file as it streams, with bounded memory (one line of at most
 * `maxLineBytes`, fatal UTF-8).
 * @param maxLineBytes Longest line accepted, newline included.
 * @returns A stream of the header then the events.
 * @throws {SyntaxError} (through the stream) When the input breaks the format.
 * @default maxLineBytes {8388608}
 */
export function castV3ParseStream(
  maxLineBytes = 8 * 1024 * 1024,
): TransformStream<
  Uint8Array,
  { header: CastV3["header"] } | { event: CastV3Event }
> {
  const p = new CastV3Parser();
  const split = new LineSplitter(maxLineBytes);
  const dec = new TextDecoder("utf-8", { fatal: true });
  const read = (bytes: Uint8Array, number: number) => {
    let text: string;
    try {
      text = dec.decode(bytes);
    } catch {
      throw new SyntaxError(
        `Cannot read asciicast v3 at line ${number}: not UTF-8`,
      );
    }
    if (!text.endsWith("\n")) {
      throw new SyntaxError(
        `Cannot read asciicast v3 at line ${number}: the last line has no newline`,
      );
    }
    return p.push(text.slice(0, -1));
  };
  return new TransformStream({
    transform(chunk, controller) {
      let lines;
      try {
        lines = split.push(chunk);
      } catch (e) {
        throw new SyntaxError(
          `Cannot read asciicast v3 at ${(e as Error).message}`,
        );
      }
      for (const l of lines) {
        const got = read(l.bytes, l.number);
        if (got) controller.enqueue(got);
      }
    },
    flush(controller) {
      const last = split.end();
      if (last) {
        const got = read(last.bytes, last.number);
        if (got) controller.enqueue(got);
      }
      p.end();
    },
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
