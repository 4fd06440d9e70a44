/**
 * The opaque page cursor of `GET /v1/recordings`, in the very format
 * `runQuery` (`../query.ts`) issues (base64url of the JSON `{"t": start seconds,
 * "id": last id}`, unpadded), so a cursor from one index pages any other.
 *
 * `query.ts` keeps its own copy private; the index tests check that a cursor
 * from `runQuery` pages every index identically.
 *
 * @module
 */

/** Where a page ended: the start time and id of its last recording. */
export interface Cursor {
  /** Start time of the last recording, Unix seconds. */
  t: number;
  /** Id of the last recording. */
  id: string;
}

/**
 * Encodes a cursor.
 * @param c The last recording's start time and id.
 * @returns The opaque cursor string.
 * @example
 * ```ts
 * import { decodeCursor, encodeCursor } from "./_cursor.ts";
 * const s = encodeCursor({ t: 1.5, id: "2026/11/27/a" });
 * if (decodeCursor(s).id !== "2026/11/27/a") throw new Error(s);
 * ```
 */
export function encodeCursor(c: Cursor): string {
  return btoa(JSON.stringify({ t: c.t, id: c.id })).replaceAll("+", "-")
    .replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * Decodes a cursor.
 * @param s The opaque cursor string.
 * @returns The start time and id it names.
 * @throws {RangeError} When it is not a cursor this recorder issued.
 * @example
 * ```ts
 * import { decodeCursor } from "./_cursor.ts";
 * try {
 *   decodeCursor("nope");
 *   throw new Error("expected a RangeError");
 * } catch (e) {
 *   if (!(e instanceof RangeError)) throw e;
 * }
 * ```
 */
export function decodeCursor(s: string): Cursor {
  try {
    const c = JSON.parse(atob(s.replaceAll("-", "+").replaceAll("_", "/")));
    if (typeof c.t === "number" && typeof c.id === "string") {
      return { t: c.t, id: c.id };
    }
  } catch { /* fall through */ }
  throw new RangeError(
    `Parameter "cursor" is not a cursor this recorder issued`,
  );
}
