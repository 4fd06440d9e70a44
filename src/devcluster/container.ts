/**
 * What a running container process is to the dev cluster, whether a real
 * local process (`container_process.ts`) or a built-in (`builtins.ts`).
 *
 * @module
 */

import type { Readable, Writable } from "node:stream";

/** A running container process. */
export interface ContainerProcess {
  /** The process's stdin, or null when it has none (reads /dev/null). */
  readonly stdin: Writable | null;
  /** The process's stdout (with a TTY: the terminal's output). */
  readonly stdout: Readable;
  /** The process's stderr, or null with a TTY (merged into stdout). */
  readonly stderr: Readable | null;
  /**
   * Resizes the terminal; ignored without a TTY.
   * @param cols Columns.
   * @param rows Rows.
   */
  resize(cols: number, rows: number): void;
  /** Resolves with the exit code once the process exited and its output ended. */
  readonly exited: Promise<number>;
  /** Ends the process (and, with a TTY, its session) with SIGKILL. */
  kill(): void;
}
