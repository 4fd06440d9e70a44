/**
 * Document numbers that sort like recordings: `⌊start⌋ · 2^20 + n`, so the
 * full-text index, read in descending document order, yields the newest
 * recordings first and a search stops after one page instead of collecting
 * every match. Within one second the order is arbitrary; the index reads
 * that whole second and sorts it exactly.
 *
 * Seconds are clamped to `[0, 2^33)` (up to the year 2242), which keeps
 * every number a safe integer (`2^53`) and the order monotonic.
 *
 * @module
 */

/** Document numbers per second. */
export const DOCS_PER_SECOND = 2 ** 20;

const MAX_SECOND = 2 ** 33 - 1;

/**
 * The second a start time files under.
 * @param start Unix seconds.
 * @returns `⌊start⌋` clamped to `[0, 2^33)` (0 for NaN).
 */
export function docSecond(start: number): number {
  if (!(start > 0)) return 0;
  return Math.min(MAX_SECOND, Math.floor(start));
}

/**
 * The FTS5 query of a needle of three or more characters: one quoted
 * phrase (quotes doubled, so `*`, `OR`, `NEAR`, `:` … are literal), which
 * the trigram tokenizer turns into consecutive trigrams, that is the
 * substring. Its case folding may find a few more texts than
 * `toLowerCase` would; the caller rechecks with `instr`.
 * @param needle The lowered needle.
 * @returns The MATCH expression, or `undefined` below three characters.
 */
export function trigramMatch(needle: string): string | undefined {
  if ([...needle].length < 3) return undefined;
  return `"${needle.replaceAll('"', '""')}"`;
}
