/**
 * POSIX shell quoting of an argv, for the cast header's `command`.
 *
 * @module
 */

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * Joins an argv into one string a POSIX shell splits back into the same
 * words: safe words stay bare, others are single-quoted (a `'` becomes
 * `'\''`), an empty word is `''`.
 * @param argv The words.
 * @returns The quoted command line.
 * @example
 * ```ts
 * import { shellQuote } from "./shell_quote.ts";
 * const line = shellQuote(["sh", "-c", "echo 'hi' $HOME"]);
 * if (line !== `sh -c 'echo '\\''hi'\\'' $HOME'`) throw new Error(line);
 * ```
 */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((word) =>
    word === ""
      ? "''"
      : SAFE.test(word)
      ? word
      : `'${word.replaceAll("'", `'\\''`)}'`
  ).join(" ");
}
