/**
 * A strict, linear reader for the head of an HTTP/1.1 request (RFC 9112),
 * the part of the listener that sees every unauthenticated byte.
 *
 * It keeps the chunks it is given and scans each byte once, with a small
 * state machine that finds the end of the head across any chunk boundary;
 * the head is copied once, when it is complete. Anything a Go server (the
 * API server behind us) could read differently is refused rather than
 * guessed at: obs-fold, bare CR or LF, `Transfer-Encoding` next to
 * `Content-Length`, several differing lengths, codings other than
 * `chunked`, several `Host` headers. A head longer than
 * {@linkcode MAX_REQUEST_HEAD_BYTES} (what the recording format assumes) is
 * refused with 431.
 *
 * @module
 */

import { MAX_REQUEST_HEAD_BYTES } from "../../recording/wire.ts";

export { MAX_REQUEST_HEAD_BYTES };

/** How the request body is delimited. */
export type BodyFraming =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" };

/** A parsed, validated request head. */
export interface RequestHead {
  /** Method as sent (a token). */
  method: string;
  /** Request target, raw, as sent. */
  target: string;
  /** Protocol version. */
  version: "1.0" | "1.1";
  /** Header fields in wire order, names as sent, values trimmed of OWS. */
  rawHeaders: [string, string][];
  /** Body framing. */
  body: BodyFraming;
  /** Whether the connection may carry another request after this one. */
  keepAlive: boolean;
  /** `Connection: upgrade` with an `Upgrade` header. */
  upgrade: boolean;
  /** `Expect: 100-continue`. */
  expectContinue: boolean;
  /** Bytes of the head, leading empty lines and final CRLF CRLF included. */
  headLength: number;
}

/**
 * A request the reader refuses: the status to answer and why. The listener
 * answers it with a Kubernetes `Status` and closes the connection.
 */
export class HttpRefusal extends Error {
  override name = "HttpRefusal";
  /** HTTP status to answer. */
  readonly status: number;
  /**
   * @param status HTTP status (400, 431, 501, 505, 417).
   * @param message What was wrong, in sentence case.
   */
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

const CR = 13;
const LF = 10;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQUEST_LINE = /^([^ ]+) ([^ ]+) HTTP\/(\d)\.(\d)$/;
const TARGET = /^[\x21-\x7e]+$/;

function quote(s: string): string {
  return JSON.stringify(s.length > 80 ? s.slice(0, 80) + "…" : s);
}

/** Bytes to a string, one char per byte (HTTP field values are octets). */
function latin1(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 4096) {
    s += String.fromCharCode(...b.subarray(i, i + 4096));
  }
  return s;
}

/**
 * Collects the bytes of one request head.
 *
 * @example
 * ```ts
 * import { RequestHeadReader } from "./request_head.ts";
 * const r = new RequestHeadReader();
 * const enc = new TextEncoder();
 * r.push(enc.encode("GET /api HTTP/1.1\r\nHo"));
 * const done = r.push(enc.encode("st: x\r\n\r\nNEXT"));
 * if (done?.head.target !== "/api" || done.rest.length !== 4) throw new Error();
 * ```
 */
export class RequestHeadReader {
  #chunks: Uint8Array[] = [];
  /** Bytes scanned so far (all of them are in #chunks). */
  #size = 0;
  /** Offset where the request line starts (after leading empty lines). */
  #start = 0;
  /** Length of the current line so far, CR excluded. */
  #line = 0;
  /** The previous byte was CR. */
  #cr = false;
  /** The request line has been seen. */
  #started = false;
  #limit: number;

  /** @param limit Largest head accepted. @default {MAX_REQUEST_HEAD_BYTES} */
  constructor(limit: number = MAX_REQUEST_HEAD_BYTES) {
    this.#limit = limit;
  }

  /** Bytes held so far (never more than the limit). */
  get size(): number {
    return this.#size;
  }

  /**
   * Adds bytes.
   * @param chunk Bytes from the client.
   * @returns `undefined` while the head is incomplete; then the head and the
   * bytes after it (`rest`, a view of `chunk`).
   * @throws {HttpRefusal} The head is malformed (400, 501, 505, 417) or
   * longer than the limit (431).
   */
  push(
    chunk: Uint8Array,
  ): { head: RequestHead; rest: Uint8Array } | undefined {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (this.#cr) {
        if (b !== LF) {
          throw new HttpRefusal(
            400,
            `Cannot read request head: a CR at byte ${
              this.#size + i
            } is not followed by LF`,
          );
        }
        this.#cr = false;
        if (this.#line === 0) {
          if (this.#started) {
            const end = i + 1;
            this.#chunks.push(chunk.subarray(0, end));
            const size = this.#size + end;
            return { head: this.#finish(size), rest: chunk.subarray(end) };
          }
          // Empty lines before the request line are ignored (RFC 9112 2.2).
          this.#start = this.#size + i + 1;
        } else {
          this.#started = true;
          this.#line = 0;
        }
      } else if (b === CR) {
        this.#cr = true;
      } else if (b === LF) {
        throw new HttpRefusal(
          400,
          `Cannot read request head: a bare LF at byte ${
            this.#size + i
          } (lines must end with CRLF)`,
        );
      } else {
        this.#line++;
      }
      if (this.#size + i + 1 >= this.#limit) {
        throw new HttpRefusal(
          431,
          `Cannot read request head: it is longer than ${this.#limit} bytes`,
        );
      }
    }
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    return undefined;
  }

  #finish(size: number): RequestHead {
    const all = new Uint8Array(size);
    let off = 0;
    for (const c of this.#chunks) {
      all.set(c, off);
      off += c.length;
    }
    this.#chunks = [];
    // Without the final CRLF CRLF.
    const text = latin1(all.subarray(this.#start, size - 4));
    return parseHead(text.split("\r\n"), size);
  }
}

function parseHead(lines: string[], headLength: number): RequestHead {
  const requestLine = lines[0]!;
  const m = REQUEST_LINE.exec(requestLine);
  if (!m) {
    throw new HttpRefusal(
      400,
      `Cannot read request line ${
        quote(requestLine)
      }: expected METHOD SP target SP HTTP/1.x`,
    );
  }
  const [, method, target, major, minor] = m as unknown as string[];
  if (!TOKEN.test(method!)) {
    throw new HttpRefusal(
      400,
      `Cannot read request line: method ${quote(method!)} is not a token`,
    );
  }
  if (!TARGET.test(target!)) {
    throw new HttpRefusal(
      400,
      `Cannot read request line: target ${
        quote(target!)
      } has a byte outside visible ASCII`,
    );
  }
  if (major !== "1" || (minor !== "0" && minor !== "1")) {
    throw new HttpRefusal(
      505,
      `Cannot read request line: HTTP/${major}.${minor} is not supported (HTTP/1.1 and HTTP/1.0 are)`,
    );
  }
  const version = minor === "1" ? "1.1" : "1.0";
  const rawHeaders: [string, string][] = [];
  for (let n = 1; n < lines.length; n++) {
    rawHeaders.push(parseField(lines[n]!, n + 1));
  }
  const values = (name: string) =>
    rawHeaders.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v);
  const tokens = (name: string) =>
    values(name).flatMap((v) => v.split(",")).map((t) => t.trim().toLowerCase())
      .filter((t) => t !== "");

  const hosts = values("host");
  if (hosts.length > 1) {
    throw new HttpRefusal(
      400,
      `Cannot read request head: it has ${hosts.length} Host headers`,
    );
  }
  if (hosts.length === 0 && version === "1.1") {
    throw new HttpRefusal(
      400,
      "Cannot read request head: an HTTP/1.1 request needs a Host header",
    );
  }

  const te = values("transfer-encoding");
  const cl = values("content-length");
  let body: BodyFraming = { kind: "none" };
  if (te.length > 0) {
    if (cl.length > 0) {
      throw new HttpRefusal(
        400,
        "Cannot read request head: it has both Transfer-Encoding and Content-Length",
      );
    }
    if (version === "1.0") {
      throw new HttpRefusal(
        400,
        "Cannot read request head: Transfer-Encoding in an HTTP/1.0 request",
      );
    }
    const coding = te.join(", ");
    if (coding.trim().toLowerCase() !== "chunked") {
      throw new HttpRefusal(
        501,
        `Cannot read request head: Transfer-Encoding ${
          quote(coding)
        } is not supported (only "chunked" is)`,
      );
    }
    body = { kind: "chunked" };
  } else if (cl.length > 0) {
    const lengths = new Set(
      cl.flatMap((v) => v.split(",")).map((v) => v.trim()),
    );
    if (lengths.size > 1) {
      throw new HttpRefusal(
        400,
        `Cannot read request head: Content-Length values ${
          quote(cl.join(", "))
        } differ`,
      );
    }
    const [len] = [...lengths] as [string];
    if (!/^\d{1,15}$/.test(len)) {
      throw new HttpRefusal(
        400,
        `Cannot read request head: Content-Length ${
          quote(len)
        } is not a decimal length`,
      );
    }
    const length = Number(len);
    if (length > 0) body = { kind: "length", length };
  }

  const expect = values("expect");
  let expectContinue = false;
  if (expect.length > 0) {
    if (expect.length > 1 || expect[0]!.toLowerCase() !== "100-continue") {
      throw new HttpRefusal(
        417,
        `Cannot read request head: Expect ${
          quote(expect.join(", "))
        } is not supported (only "100-continue" is)`,
      );
    }
    expectContinue = version === "1.1";
  }

  const connection = tokens("connection");
  const keepAlive = !connection.includes("close") &&
    (version === "1.1" || connection.includes("keep-alive"));
  const upgrade = connection.includes("upgrade") &&
    values("upgrade").some((v) => v.trim() !== "");
  return {
    method: method!,
    target: target!,
    version,
    rawHeaders,
    body,
    keepAlive,
    upgrade,
    expectContinue,
    headLength,
  };
}

function parseField(line: string, lineNo: number): [string, string] {
  const c0 = line.charCodeAt(0);
  if (c0 === 0x20 || c0 === 0x09) {
    throw new HttpRefusal(
      400,
      `Cannot read request head: line ${lineNo} ${
        quote(line)
      } starts with whitespace (obs-fold is not accepted)`,
    );
  }
  const colon = line.indexOf(":");
  const name = colon < 0 ? line : line.slice(0, colon);
  if (colon <= 0 || !TOKEN.test(name)) {
    throw new HttpRefusal(
      400,
      `Cannot read request head: line ${lineNo} ${
        quote(line)
      } is not "name: value" with a token name`,
    );
  }
  const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) {
      throw new HttpRefusal(
        400,
        `Cannot read request head: header ${
          quote(name)
        } has a control character (0x${
          c.toString(16).padStart(2, "0")
        }) in its value`,
      );
    }
  }
  return [name, value];
}

/**
 * Looks a header up case-insensitively.
 * @param head The parsed head.
 * @param name Header name.
 * @returns The first value, or undefined.
 */
export function requestHeader(
  head: RequestHead,
  name: string,
): string | undefined {
  const n = name.toLowerCase();
  return head.rawHeaders.find(([k]) => k.toLowerCase() === n)?.[1];
}
