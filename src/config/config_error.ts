/**
 * The error a policy file (or an identity config file such as the token file)
 * raises when it cannot be used: it names the file, the JSON path and the
 * line:column of the problem.
 *
 * @module
 */

/**
 * An invalid policy or identity config file. Callers catch it to print the
 * message and refuse to start, or (on reload) to keep the last good policy.
 *
 * The message reads `FILE:LINE:COLUMN: PATH: DETAIL`, e.g.
 * `policy.hujson:12:7: grants[0].src[1]: group "group:nope" is not defined`.
 * The path part is left out for problems at the root or in the syntax.
 *
 * @example
 * ```ts
 * import { PolicyError } from "./policy_error.ts";
 * const e = new PolicyError("p.hujson", ["acls", 0, "action"], 3, 15, 'action "deny" is not supported');
 * if (e.message !== 'p.hujson:3:15: acls[0].action: action "deny" is not supported') throw new Error();
 * ```
 */
export class PolicyError extends Error {
  /** The file name as given to the parser. */
  readonly file: string;
  /** The JSON path of the problem, e.g. `grants[0].src[1]` (empty at the root). */
  readonly path: string;
  /** Line, 1-based. */
  readonly line: number;
  /** Column, 1-based. */
  readonly column: number;
  /** The description alone, without file, position and path. */
  readonly detail: string;

  /**
   * @param file File name.
   * @param path JSON path as keys and indexes, or already formatted.
   * @param line Line, 1-based.
   * @param column Column, 1-based.
   * @param detail What is wrong.
   * @param options Optional `cause`.
   */
  constructor(
    file: string,
    path: readonly (string | number)[] | string,
    line: number,
    column: number,
    detail: string,
    options?: ErrorOptions,
  ) {
    const formatted = typeof path === "string" ? path : formatJsonPath(path);
    super(
      `${file}:${line}:${column}: ${
        formatted ? `${formatted}: ` : ""
      }${detail}`,
      options,
    );
    this.name = "PolicyError";
    this.file = file;
    this.path = formatted;
    this.line = line;
    this.column = column;
    this.detail = detail;
  }
}

/**
 * Formats a JSON path the way a JavaScript reader would write it:
 * identifiers with dots, indexes and other keys in brackets.
 *
 * @param path Keys and indexes.
 * @returns E.g. `grants[1].app["tailscale.com/cap/kubernetes"][0].enforceRecorder`.
 * @example
 * ```ts
 * import { formatJsonPath } from "./policy_error.ts";
 * const p = formatJsonPath(["grants", 1, "app", "tailscale.com/cap/kubernetes", 0]);
 * if (p !== 'grants[1].app["tailscale.com/cap/kubernetes"][0]') throw new Error();
 * ```
 */
export function formatJsonPath(path: readonly (string | number)[]): string {
  let out = "";
  for (const step of path) {
    if (typeof step === "number") out += `[${step}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(step)) {
      out += out ? `.${step}` : step;
    } else out += `[${JSON.stringify(step)}]`;
  }
  return out;
}
