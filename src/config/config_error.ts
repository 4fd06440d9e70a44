/**
 * The error every file execgate reads (proxy config, recorder config, token
 * file, policy) raises when it cannot be used: it names the file, the line
 * and column and the JSON path of the problem. A value that came from an
 * environment variable is named by the variable instead of a position.
 *
 * @module
 */

/**
 * An invalid config, token or policy file. Callers catch it to print the
 * message and refuse to start, or (on reload) to keep the last good policy.
 *
 * The message reads `FILE:LINE:COLUMN: PATH: DETAIL`, e.g.
 * `policy.hujson:12:7: grants[0].src[1]: group "group:nope" is not defined`.
 * The path part is left out for problems at the root or in the syntax. With
 * line 0 the "file" is where the value came from instead (an environment
 * variable) and has no position: `EXECGATE_RECORDER_PORT: listen.port: …`.
 *
 * @example
 * ```ts
 * import { ConfigError } from "./config_error.ts";
 * const e = new ConfigError("p.hujson", ["acls", 0, "action"], 3, 15, 'action "deny" is not supported');
 * if (e.message !== 'p.hujson:3:15: acls[0].action: action "deny" is not supported') throw new Error();
 * ```
 */
export class ConfigError extends Error {
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
   * Creates the error; its message is `FILE:LINE:COLUMN: PATH: DETAIL` (the
   * position left out when `line` is 0, the path when it is empty).
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
      `${line > 0 ? `${file}:${line}:${column}` : file}: ${
        formatted ? `${formatted}: ` : ""
      }${detail}`,
      options,
    );
    this.name = "ConfigError";
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
 * import { formatJsonPath } from "./config_error.ts";
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

/**
 * The name the policy module has always used for {@linkcode ConfigError}
 * (the same class: `instanceof PolicyError` holds for every config error).
 */
export const PolicyError: typeof ConfigError = ConfigError;
/** {@linkcode ConfigError}. */
export type PolicyError = ConfigError;
