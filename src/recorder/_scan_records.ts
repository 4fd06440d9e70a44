/**
 * Reads a stored record stream back (for recovery): its header, the bytes up
 * to the last complete record, and its text index.
 *
 * @module
 */

import {
  RECORD_HEADER_BYTES,
  RecordDecoder,
  RecordFormatError,
  RecordType,
} from "../protocol/records.ts";
import type { CastHeader } from "../recording/wire.ts";
import { OutputTextIndex } from "./text_index.ts";

/** What {@linkcode scanRecords} found. */
export interface RecordsScan {
  /** The header, when the first record was a header holding a JSON object. */
  header?: CastHeader;
  /** Bytes up to the end of the last complete record. */
  completeBytes: number;
  /** Plain output text. */
  text: string;
  /** Whether the text stopped at its bound. */
  textTruncated: boolean;
}

/**
 * Scans a stored record stream. Stops at a torn or malformed record.
 * @param stream The bytes.
 * @param maxTextChars Bound of the text index.
 * @returns What was found.
 */
export async function scanRecords(
  stream: ReadableStream<Uint8Array>,
  maxTextChars: number,
): Promise<RecordsScan> {
  const d = new RecordDecoder();
  const text = new OutputTextIndex(maxTextChars);
  let header: CastHeader | undefined;
  let completeBytes = 0;
  const reader = stream.getReader();
  try {
    while (true) {
      const r = await reader.read();
      if (r.done) break;
      let recs;
      try {
        recs = d.push(r.value);
      } catch (e) {
        if (!(e instanceof RecordFormatError)) throw e;
        // The records the failing push completed before the bad one are
        // lost with the exception; a recorder never stores a bad record,
        // so this is damage: keep what scanned whole.
        break;
      }
      for (const rec of recs) {
        completeBytes = rec.offset + RECORD_HEADER_BYTES + rec.payload.length;
        if (rec.type === RecordType.HEADER) {
          try {
            const v = JSON.parse(new TextDecoder().decode(rec.payload));
            if (typeof v === "object" && v !== null && !Array.isArray(v)) {
              header = v as CastHeader;
            }
          } catch { /* no header */ }
        } else if (
          rec.type === RecordType.STDOUT || rec.type === RecordType.STDERR
        ) text.add(rec.type, rec.payload);
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return {
    ...(header ? { header } : {}),
    completeBytes,
    text: text.text(),
    textTruncated: text.truncated,
  };
}
