/**
 * A minimal structured logger: one JSON object per line.
 *
 * @module
 */

/** Log fields. */
export type LogFields = Record<string, unknown>;

/** What every component logs through (injectable). */
export interface Logger {
  /**
   * Logs an ordinary event.
   * @param msg What happened, a short sentence.
   * @param fields Facts about it (ids, sizes, addresses).
   */
  info(msg: string, fields?: LogFields): void;
  /**
   * Logs something that went wrong and was worked around.
   * @param msg What happened, a short sentence.
   * @param fields Facts about it (ids, sizes, addresses).
   */
  warn(msg: string, fields?: LogFields): void;
  /**
   * Logs a failure.
   * @param msg What happened, a short sentence.
   * @param fields Facts about it (ids, the error message).
   */
  error(msg: string, fields?: LogFields): void;
}

/**
 * A logger writing JSON lines through `write`.
 * @param write Line sink; default `console.error`.
 * @param component Added as `component` to every line.
 * @returns The logger.
 */
export function jsonLogger(
  component: string,
  write: (line: string) => void = (l) => console.error(l),
): Logger {
  const emit = (level: string, msg: string, fields?: LogFields) =>
    write(JSON.stringify({
      time: new Date().toISOString(),
      level,
      component,
      msg,
      ...fields,
    }));
  return {
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
  };
}

/** A logger that keeps lines in memory, for tests. */
export function memoryLogger(): Logger & { lines: LogFields[] } {
  const lines: LogFields[] = [];
  const push = (level: string) => (msg: string, fields?: LogFields) =>
    lines.push({ level, msg, ...fields });
  return {
    lines,
    info: push("info"),
    warn: push("warn"),
    error: push("error"),
  };
}
