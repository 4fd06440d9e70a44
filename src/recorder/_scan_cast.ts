/**
 * Reads a stored `.cast` back (for recovery): its header, the bytes up to
 * the last complete line, and its text index.
 *
 * @module
 */

import type { CastHeader } from "../recording/wire.ts";
import { type CastLine, LineSplitter } from "./cast_lines.ts";
import { TextIndexBuilder } from "./text_index.ts";

/** What {@linkcode scanCast} found. */
export interface CastScan {
  /** The header, when the first line was a complete JSON object. */
  header?: CastHeader;
  /** Bytes up to and including the last `\n`. */
  completeBytes: number;
  /** Plain output text. */
  text: string;
  /** Whether the text stopped at its bound. */
  textTruncated: boolean;
}

const decoder = new TextDecoder();

/**
 * Scans a `.cast` stream.
 * @param stream The bytes.
 * @param maxTextChars Bound of the text index.
 * @returns What was found.
 */
export async function scanCast(
  stream: ReadableStream<Uint8Array>,
  maxTextChars: number,
): Promise<CastScan> {
  const splitter = new LineSplitter(Number.MAX_SAFE_INTEGER);
  const text = new TextIndexBuilder(maxTextChars);
  let header: CastHeader | undefined;
  let completeBytes = 0;
  const take = (line: CastLine) => {
    completeBytes += line.bytes.length;
    let v: unknown;
    try {
      v = JSON.parse(decoder.decode(line.bytes));
    } catch {
      return;
    }
    if (line.number === 1) {
      if (typeof v === "object" && v !== null && !Array.isArray(v)) {
        header = v as CastHeader;
      }
    } else if (
      Array.isArray(v) && v[1] === "o" && typeof v[2] === "string"
    ) text.add(v[2]);
  };
  for await (const chunk of stream) {
    for (const line of splitter.push(chunk)) take(line);
  }
  return {
    header,
    completeBytes,
    text: text.text(),
    textTruncated: text.truncated,
  };
}
