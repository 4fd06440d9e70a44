/**
 * The header checks the recorder applies to an upload's header (the v2
 * header record's JSON), and a line splitter to read stored v1 `.cast` files
 * back (recovery of recordings made before the record protocol).
 *
 * The splitter keeps at most one unfinished line (bounded by `maxLineBytes`),
 * so memory stays bounded for any size. Every error names the line.
 *
 * @module
 */

/** Thrown when the upload body is not a valid execgate recording. */
export class CastFormatError extends Error {
  /** 1-based line number where the problem is. */
  readonly line: number;
  /**
   * @param line 1-based line number.
   * @param message What is wrong, without the line prefix.
   */
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = "CastFormatError";
    this.line = line;
  }
}

/**
 * A line over the limit. `completed` holds the lines the same chunk completed
 * before it, which are valid input: a recording keeps them.
 */
export class LineTooLongError extends CastFormatError {
  /** Lines completed before the long one, in order. */
  readonly completed: CastLine[];
  /**
   * @param line 1-based number of the long line.
   * @param maxLineBytes The limit.
   * @param completed Lines completed before it.
   */
  constructor(line: number, maxLineBytes: number, completed: CastLine[]) {
    super(line, `line is longer than the limit of ${maxLineBytes} bytes`);
    this.name = "LineTooLongError";
    this.completed = completed;
  }
}

/** One complete line of the body. */
export interface CastLine {
  /** 1-based line number. */
  number: number;
  /** The bytes of the line including its `\n` (absent on a last line without one). */
  bytes: Uint8Array;
}

/**
 * Splits a byte stream into lines, refusing lines longer than a bound.
 */
export class LineSplitter {
  #carry: Uint8Array[] = [];
  #carryBytes = 0;
  #lineNo = 0;
  #maxLineBytes: number;

  /** @param maxLineBytes Largest accepted line, newline included. */
  constructor(maxLineBytes: number) {
    this.#maxLineBytes = maxLineBytes;
  }

  /**
   * Feeds a chunk.
   * @param chunk Bytes of the body.
   * @returns The lines completed by this chunk.
   * @throws {LineTooLongError} When a line exceeds `maxLineBytes` (with the
   * lines completed before it).
   */
  push(chunk: Uint8Array): CastLine[] {
    const lines: CastLine[] = [];
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(10, start);
      if (nl === -1) {
        const rest = chunk.subarray(start);
        this.#checkLength(this.#carryBytes + rest.length, lines);
        this.#carry.push(rest.slice());
        this.#carryBytes += rest.length;
        break;
      }
      const piece = chunk.subarray(start, nl + 1);
      this.#checkLength(this.#carryBytes + piece.length, lines);
      lines.push({ number: ++this.#lineNo, bytes: this.#takeCarry(piece) });
      start = nl + 1;
    }
    return lines;
  }

  /**
   * Ends the input.
   * @returns The last line when it had no newline.
   */
  end(): CastLine | undefined {
    if (this.#carryBytes === 0) return undefined;
    return {
      number: ++this.#lineNo,
      bytes: this.#takeCarry(new Uint8Array(0)),
    };
  }

  #checkLength(n: number, completed: CastLine[]): void {
    if (n > this.#maxLineBytes) {
      throw new LineTooLongError(
        this.#lineNo + 1,
        this.#maxLineBytes,
        completed,
      );
    }
  }

  #takeCarry(piece: Uint8Array): Uint8Array {
    if (this.#carryBytes === 0) return piece;
    const out = new Uint8Array(this.#carryBytes + piece.length);
    let off = 0;
    for (const c of this.#carry) {
      out.set(c, off);
      off += c.length;
    }
    out.set(piece, off);
    this.#carry = [];
    this.#carryBytes = 0;
    return out;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Checks a parsed header object (the v1 header line's or the v2 header
 * record's JSON) as the recorder accepts it.
 * @param h The parsed JSON.
 * @param sessionId When set, `sessionId` in the header must equal it.
 * @returns What is wrong (a sentence without a location), or `undefined`.
 * @example
 * ```ts
 * import { castHeaderProblem } from "./cast_lines.ts";
 * if (castHeaderProblem({ version: 2, width: 80, height: 24 }) !== undefined) {
 *   throw new Error();
 * }
 * ```
 */
export function castHeaderProblem(
  h: unknown,
  sessionId?: string,
): string | undefined {
  if (!isObject(h)) {
    return "header is not a JSON object";
  }
  if (h.version !== 2) {
    return `header version is ${JSON.stringify(h.version)}, expected 2`;
  }
  for (const key of ["width", "height"]) {
    const v = h[key];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 10000) {
      return `header ${key} is ${
        JSON.stringify(v)
      }, expected an integer from 1 to 10000`;
    }
  }
  if (
    h.timestamp !== undefined &&
    (typeof h.timestamp !== "number" || !Number.isFinite(h.timestamp))
  ) {
    return "header timestamp is not a number";
  }
  if (sessionId !== undefined && h.sessionId !== sessionId) {
    return `header sessionId ${
      JSON.stringify(h.sessionId)
    } does not match the session id ${JSON.stringify(sessionId)}`;
  }
  for (const key of ["command", "srcNode", "srcNodeUser", "proxy"]) {
    if (h[key] !== undefined && typeof h[key] !== "string") {
      return `header ${key} is not a string`;
    }
  }
  if (
    h.srcNodeTags !== undefined &&
    !(Array.isArray(h.srcNodeTags) &&
      h.srcNodeTags.every((t) => typeof t === "string"))
  ) {
    return "header srcNodeTags is not an array of strings";
  }
  if (h.kubernetes !== undefined) {
    const k = h.kubernetes;
    if (
      !isObject(k) ||
      !["podName", "namespace", "container"].every((f) =>
        k[f] === undefined || typeof k[f] === "string"
      )
    ) {
      return "header kubernetes is not an object of strings";
    }
  }
  return undefined;
}
