/**
 * "Newer" and "Older" links of the recordings list, as plain URLs (no
 * script, no browser history).
 *
 * The query has only a forward cursor (`cursor`, to the next, older page),
 * so the way back is carried in the URL: each `prev` parameter is the
 * cursor of a page before this one, oldest first, an empty value standing
 * for the first page. "Older" pushes the current cursor, "Newer" pops the
 * last one. The list keeps the last {@linkcode MAX_PREV_CURSORS}; beyond
 * that, "Newer" goes to the newest page.
 *
 * @module
 */

/** How many previous cursors a URL carries at most. */
export const MAX_PREV_CURSORS = 20;

/** The navigation of one page of results (query strings, without `?`). */
export interface PageLinks {
  /** The page before (newer recordings), when this is not the first page. */
  newer?: string;
  /** The page after (older recordings), when there is one. */
  older?: string;
  /** The first page, when this is not it. */
  newest?: string;
}

/**
 * Builds the links of a page.
 * @param params The page's query parameters (filters, `cursor`, `prev`).
 * @param nextCursor The cursor of the next page, when the query returned one.
 * @returns The links; every filter is kept in each.
 * @example
 * ```ts
 * import { pageLinks } from "./page_links.ts";
 * // Page 2 of a `pod=db-0` query, reached from page 1.
 * const links = pageLinks(new URLSearchParams("pod=db-0&cursor=c2&prev="), "c3");
 * if (links.older !== "pod=db-0&prev=&prev=c2&cursor=c3") throw new Error(links.older);
 * if (links.newer !== "pod=db-0") throw new Error(links.newer);
 * ```
 */
export function pageLinks(
  params: URLSearchParams,
  nextCursor: string | undefined,
): PageLinks {
  const current = params.get("cursor") ?? "";
  const prevs = params.getAll("prev").slice(-MAX_PREV_CURSORS);
  const base = new URLSearchParams(params);
  base.delete("cursor");
  base.delete("prev");
  const build = (cursor: string, stack: string[]) => {
    const p = new URLSearchParams(base);
    for (const c of stack) p.append("prev", c);
    if (cursor !== "") p.set("cursor", cursor);
    return p.toString();
  };
  const links: PageLinks = {};
  if (nextCursor !== undefined) {
    links.older = build(
      nextCursor,
      [...prevs, current].slice(-MAX_PREV_CURSORS),
    );
  }
  if (current !== "") {
    links.newest = build("", []);
    links.newer = prevs.length > 0
      ? build(prevs.at(-1)!, prevs.slice(0, -1))
      : links.newest;
  }
  return links;
}
