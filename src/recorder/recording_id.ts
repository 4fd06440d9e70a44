/**
 * Recording ids: `YYYY/MM/DD/<session id>`, the storage key of one recording,
 * and `YYYY/MM/DD/<session id>~<part>` (part 2 to 99) for the later parts of
 * a session whose upload failed over to another recorder midway: a part's id
 * takes the date of the session's first part, so the parts sit together.
 *
 * An id is built only from a validated session id and a date, and parsed only
 * by a strict pattern, so that no id can ever name a path outside the storage
 * root (`..`, `/`, `\`, `%2e` and absolute paths never match).
 *
 * @module
 */

import { SESSION_ID_PATTERN } from "../recording/wire.ts";

/** The parts of a recording id. */
export interface RecordingId {
  /** Four-digit year (UTC) when the recorder received the upload. */
  year: string;
  /** Two-digit month. */
  month: string;
  /** Two-digit day. */
  day: string;
  /** The session id (matches `SESSION_ID_PATTERN`). */
  sessionId: string;
  /** The part (2 to 99) of a failed-over session; absent for the first. */
  part?: number;
  /** The joined id, `YYYY/MM/DD/<sessionId>` or `…/<sessionId>~<part>`. */
  id: string;
}

/** The largest part number of one session. */
export const MAX_PART = 99;

const ID_PATTERN =
  /^([0-9]{4})\/(0[1-9]|1[0-2])\/(0[1-9]|[12][0-9]|3[01])\/([A-Za-z0-9_-]{1,64})(?:~([2-9]|[1-9][0-9]))?$/;

/**
 * Builds the recording id of a session received at a given time.
 * @param sessionId The session id from the upload.
 * @param at When the upload started (the recorder's clock), UTC is used.
 * @returns The id and its parts.
 * @throws {RangeError} When the session id does not match `SESSION_ID_PATTERN`.
 * @example
 * ```ts
 * import { makeRecordingId } from "./recording_id.ts";
 * const id = makeRecordingId("abc", new Date(Date.UTC(2026, 10, 27)));
 * if (id.id !== "2026/11/27/abc") throw new Error(id.id);
 * ```
 */
export function makeRecordingId(sessionId: string, at: Date): RecordingId {
  if (!SESSION_ID_PATTERN.test(sessionId)) {
    throw new RangeError(
      `Cannot build a recording id: session id ${
        JSON.stringify(sessionId.slice(0, 80))
      } does not match ${SESSION_ID_PATTERN}`,
    );
  }
  const year = String(at.getUTCFullYear()).padStart(4, "0");
  const month = String(at.getUTCMonth() + 1).padStart(2, "0");
  const day = String(at.getUTCDate()).padStart(2, "0");
  return {
    year,
    month,
    day,
    sessionId,
    id: `${year}/${month}/${day}/${sessionId}`,
  };
}

/**
 * Parses a recording id, refusing anything but `YYYY/MM/DD/<session id>`
 * (with an optional `~<part>`, 2 to 99).
 * @param id The id, e.g. from a URL.
 * @returns The parts, or `undefined` when the id is not valid.
 * @example
 * ```ts
 * import { parseRecordingId } from "./recording_id.ts";
 * if (parseRecordingId("2026/11/27/abc")?.sessionId !== "abc") throw new Error();
 * if (parseRecordingId("2026/11/27/../x") !== undefined) throw new Error();
 * ```
 */
export function parseRecordingId(id: string): RecordingId | undefined {
  const m = ID_PATTERN.exec(id);
  if (!m) return undefined;
  const [, year, month, day, sessionId, part] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string | undefined,
  ];
  return part === undefined
    ? { year, month, day, sessionId, id }
    : { year, month, day, sessionId, part: Number(part), id };
}

/**
 * The id of part `part` of the session whose first part is `first`.
 * @param first The first part's id (a part's id names its first part too).
 * @param part 2 to {@linkcode MAX_PART}; 1 gives the first part's id.
 * @returns The id.
 * @throws {RangeError} When `part` is out of range.
 * @example
 * ```ts
 * import { parseRecordingId, partId } from "./recording_id.ts";
 * const first = parseRecordingId("2026/11/27/abc")!;
 * if (partId(first, 2).id !== "2026/11/27/abc~2") throw new Error();
 * if (partId(partId(first, 2), 1).id !== first.id) throw new Error();
 * ```
 */
export function partId(first: RecordingId, part: number): RecordingId {
  if (!Number.isInteger(part) || part < 1 || part > MAX_PART) {
    throw new RangeError(
      `Cannot name part ${part} of ${first.id}: parts are 1 to ${MAX_PART}`,
    );
  }
  const { year, month, day, sessionId } = first;
  const base = `${year}/${month}/${day}/${sessionId}`;
  return part === 1
    ? { year, month, day, sessionId, id: base }
    : { year, month, day, sessionId, part, id: `${base}~${part}` };
}
