/**
 * An incremental parser for the head of an HTTP/1.1 response, used by the
 * upgrade relay to read the upstream's answer to an upgrade request without
 * consuming a single byte of what follows it.
 *
 * @module
 */

import { concatBytes } from "../bytes.ts";

/** A parsed response head. */
export interface ResponseHead {
  /** Status code, e.g. 101. */
  status: number;
  /** Reason phrase. */
  statusText: string;
  /** Header fields in wire order, names as sent. */
  rawHeaders: [string, string][];
  /** Bytes of the head, including the final CRLF CRLF. */
  headLength: number;
}

/** Largest response head accepted. */
export const MAX_HEAD_BYTES = 64 * 1024;

const CR = 13;
const LF = 10;

/**
 * Collects bytes until a full response head is present.
 *
 * @example
 * ```ts
 * import { ResponseHeadParser } from "./http_head.ts";
 * const p = new ResponseHeadParser();
 * const enc = new TextEncoder();
 * p.push(enc.encode("HTTP/1.1 101 Switching Protocols\r\nUpgrade: web"));
 * const r = p.push(enc.encode("socket\r\n\r\nDATA"));
 * if (r?.head.status !== 101 || r.rest.length !== 4) throw new Error();
 * ```
 */
export class ResponseHeadParser {
  #chunks: Uint8Array[] = [];
  #size = 0;
  /** How many bytes at the end of the buffer already matched of CRLF CRLF. */
  #scanned = 0;

  /**
   * Adds bytes.
   * @param chunk Bytes from upstream.
   * @returns `undefined` while the head is incomplete; then the head, all
   * bytes received so far (`raw`, for verbatim pass-through) and the bytes
   * after the head (`rest`).
   * @throws {SyntaxError} The head is malformed or longer than 64 KiB.
   */
  push(
    chunk: Uint8Array,
  ): { head: ResponseHead; raw: Uint8Array; rest: Uint8Array } | undefined {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    const buf = this.#chunks.length === 1 ? chunk : concatBytes(this.#chunks);
    this.#chunks = [buf];
    const end = findHeadEnd(buf, this.#scanned);
    if (end < 0) {
      this.#scanned = Math.max(0, buf.length - 3);
      if (buf.length > MAX_HEAD_BYTES) {
        throw new SyntaxError(
          `Cannot parse upstream response: head is longer than ${MAX_HEAD_BYTES} bytes`,
        );
      }
      return undefined;
    }
    const head = parseHead(new TextDecoder().decode(buf.subarray(0, end)));
    return {
      head: { ...head, headLength: end },
      raw: buf,
      rest: buf.subarray(end),
    };
  }
}

/** Returns the index just past CRLF CRLF, or -1. */
function findHeadEnd(buf: Uint8Array, from: number): number {
  for (let i = from; i + 3 < buf.length; i++) {
    if (
      buf[i] === CR && buf[i + 1] === LF && buf[i + 2] === CR &&
      buf[i + 3] === LF
    ) return i + 4;
  }
  return -1;
}

function parseHead(text: string): Omit<ResponseHead, "headLength"> {
  const lines = text.split("\r\n");
  const statusLine = lines[0] ?? "";
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
  if (!m) {
    throw new SyntaxError(
      `Cannot parse upstream response: status line ${
        JSON.stringify(statusLine.slice(0, 80))
      } is not HTTP/1.x`,
    );
  }
  const rawHeaders: [string, string][] = [];
  for (const line of lines.slice(1)) {
    if (line === "") continue;
    const colon = line.indexOf(":");
    if (colon <= 0) {
      throw new SyntaxError(
        `Cannot parse upstream response: header line ${
          JSON.stringify(line.slice(0, 80))
        } has no name`,
      );
    }
    rawHeaders.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return { status: Number(m[1]), statusText: m[2] ?? "", rawHeaders };
}

/**
 * Looks a header up case-insensitively.
 * @param head The parsed head.
 * @param name Header name.
 * @returns The first value, or undefined.
 */
export function headerOf(head: ResponseHead, name: string): string | undefined {
  const n = name.toLowerCase();
  return head.rawHeaders.find(([k]) => k.toLowerCase() === n)?.[1];
}
