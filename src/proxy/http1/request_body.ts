/**
 * A request body as a `ReadableStream` pulled from the connection: nothing
 * is read from the client until the consumer (the upstream request) asks, so
 * an upload goes no faster than the upstream takes it. `Content-Length` and
 * `chunked` framing; chunk-size lines and trailers are bounded, trailers are
 * read and dropped.
 *
 * @module
 */

import type { ByteSource } from "./byte_source.ts";
import { MAX_REQUEST_HEAD_BYTES } from "./request_head.ts";
import type { BodyFraming } from "./request_head.ts";

/** Longest chunk-size line (size and extensions) accepted. */
export const MAX_CHUNK_LINE_BYTES = 4096;

/** A body being read. */
export interface RequestBody {
  /** The bytes, pulled on demand (`highWaterMark` 0). */
  readonly stream: ReadableStream<Uint8Array>;
  /**
   * `"reading"` until the framing has been read to its end (`"done"`: the
   * connection is positioned at the next request) or given up (`"failed"`:
   * malformed, cut short or cancelled; the connection cannot be reused).
   */
  readonly state: "reading" | "done" | "failed";
}

const CR = 13;
const LF = 10;

/**
 * Reads one CRLF-terminated line from the source.
 * @returns The line without CRLF, as latin1 text.
 */
async function readLine(
  source: ByteSource,
  max: number,
  what: string,
): Promise<string> {
  let line = "";
  let prevCr = false;
  for (;;) {
    const chunk = await source.read();
    if (chunk === null) {
      throw new Error(
        `Cannot read chunked request body: the connection closed in a ${what}`,
      );
    }
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (prevCr) {
        if (b !== LF) {
          throw new Error(
            `Cannot read chunked request body: a CR without LF in a ${what}`,
          );
        }
        source.unread(chunk.subarray(i + 1));
        return line;
      }
      if (b === CR) {
        prevCr = true;
      } else if (b === LF) {
        throw new Error(
          `Cannot read chunked request body: a bare LF in a ${what}`,
        );
      } else {
        if (line.length >= max) {
          throw new Error(
            max === 0
              ? "Cannot read chunked request body: chunk data is longer than its size (no CRLF after it)"
              : `Cannot read chunked request body: a ${what} is longer than ${max} bytes`,
          );
        }
        line += String.fromCharCode(b);
      }
    }
  }
}

/**
 * Reads exactly `n` bytes' worth of pieces of at most `n` bytes.
 * @returns The next piece (a view; the rest is pushed back).
 */
async function readUpTo(source: ByteSource, n: number): Promise<Uint8Array> {
  const chunk = await source.read();
  if (chunk === null) {
    throw new Error(
      `Cannot read request body: the connection closed with ${n} bytes of the body still to come`,
    );
  }
  if (chunk.length <= n) return chunk;
  source.unread(chunk.subarray(n));
  return chunk.subarray(0, n);
}

/**
 * Builds the body stream of a request.
 * @param source The connection, positioned after the request head.
 * @param framing From the head.
 * @param onFirstRead Called once before the first byte is read (to send
 * `100 Continue`).
 * @returns The body.
 */
export function requestBody(
  source: ByteSource,
  framing: BodyFraming,
  onFirstRead?: () => Promise<void>,
): RequestBody {
  let state: RequestBody["state"] = framing.kind === "none"
    ? "done"
    : "reading";
  let started = false;
  // Chunked: bytes left in the current chunk; -1 before a size line.
  let left = framing.kind === "length" ? framing.length : -1;

  async function next(): Promise<Uint8Array | null> {
    if (framing.kind === "length") {
      if (left === 0) return null;
      const piece = await readUpTo(source, left);
      left -= piece.length;
      return piece;
    }
    if (left === 0) {
      await readLine(source, 0, "chunk's trailing CRLF");
      left = -1;
    }
    if (left < 0) {
      const line = await readLine(
        source,
        MAX_CHUNK_LINE_BYTES,
        "chunk-size line",
      );
      const m = /^([0-9a-fA-F]{1,12})[ \t]*(?:;.*)?$/.exec(line);
      if (!m) {
        throw new Error(
          `Cannot read chunked request body: chunk-size line ${
            JSON.stringify(line.slice(0, 80))
          } is not a hex size`,
        );
      }
      left = parseInt(m[1]!, 16);
      if (left === 0) {
        // Trailers: read and dropped.
        let budget = MAX_REQUEST_HEAD_BYTES;
        for (;;) {
          const t = await readLine(source, budget, "trailer section");
          if (t === "") return null;
          budget -= t.length + 2;
        }
      }
    }
    const piece = await readUpTo(source, left);
    left -= piece.length;
    return piece;
  }

  const stream = new ReadableStream<Uint8Array>({
    async pull(c) {
      if (state !== "reading") {
        c.close();
        return;
      }
      try {
        if (!started) {
          started = true;
          await onFirstRead?.();
        }
        const piece = await next();
        if (piece === null) {
          state = "done";
          c.close();
          return;
        }
        c.enqueue(piece);
        if (framing.kind === "length" && left === 0) {
          state = "done";
          c.close();
        }
      } catch (e) {
        state = "failed";
        c.error(e);
      }
    },
    cancel() {
      if (state === "reading") state = "failed";
    },
  }, { highWaterMark: 0 });
  return {
    stream,
    get state() {
      return state;
    },
  };
}
