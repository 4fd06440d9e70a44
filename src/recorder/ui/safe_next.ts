/**
 * Where the login form may send a viewer back to: a page of this UI, never
 * another site (an open redirect would let a link to the recorder's login
 * forward a viewer anywhere).
 *
 * @module
 */

/** Where a refused `next` goes instead: the list of recordings. */
export const UI_HOME = "/ui";

/** Longest `next` accepted (a page URL with every filter filled). */
const MAX_NEXT_CHARS = 4096;

/**
 * Checks a `next` value from the login form: only a same-origin, relative
 * path of the UI (`/ui`, `/ui/…` or `/ui?…`) is kept, with its query string
 * and without its fragment. Anything else is refused and answered with
 * {@linkcode UI_HOME}: a scheme (`https://evil.example`), a network path
 * (`//evil.example`), a backslash (`/\evil.example`, which browsers read as
 * `//`), a control character, a path that leaves `/ui` once `.` and `..`
 * segments are resolved, or more than 4096 characters.
 * @param raw The submitted value (anything the client sent).
 * @returns A path and query to redirect to.
 * @example
 * ```ts
 * import { safeNextPath } from "./safe_next.ts";
 * if (safeNextPath("/ui?command=sh") !== "/ui?command=sh") throw new Error();
 * if (safeNextPath("//evil.example") !== "/ui") throw new Error();
 * if (safeNextPath("https://evil.example/ui") !== "/ui") throw new Error();
 * ```
 */
export function safeNextPath(raw: unknown): string {
  if (typeof raw !== "string" || raw.length > MAX_NEXT_CHARS) return UI_HOME;
  // deno-lint-ignore no-control-regex
  if (!/^\/ui(?:[/?#]|$)/.test(raw) || /[\\\x00-\x1f\x7f]/.test(raw)) {
    return UI_HOME;
  }
  const base = "http://recorder.invalid";
  let url: URL;
  try {
    url = new URL(raw, base);
  } catch {
    return UI_HOME;
  }
  if (
    url.origin !== base ||
    !(url.pathname === UI_HOME || url.pathname.startsWith(UI_HOME + "/"))
  ) {
    return UI_HOME;
  }
  return url.pathname + url.search;
}
