/**
 * A pod container's main process, running for the life of the container:
 * its output goes to the container log and to every attached session; its
 * stdin (when the spec asks for `stdin: true`) takes input from attached
 * sessions. An attached session that cannot keep up pauses the process's
 * output (back-pressure), as a blocked pty would.
 *
 * @module
 */

import type { Readable } from "node:stream";
import type { ContainerProcess } from "./container.ts";
import { LogBuffer } from "./log_buffer.ts";

/** One attached session's output side. */
export interface AttachSink {
  /**
   * Takes output.
   * @param stream 1 for stdout, 2 for stderr.
   * @param data Bytes.
   * @returns false when the sink is full.
   */
  write(stream: 1 | 2, data: Uint8Array): boolean;
  /** Calls `fn` once the sink has room again. */
  onDrain(fn: () => void): void;
}

/** A container's main process with its log and attached sessions. */
export class RunningContainer {
  /** Container name. */
  readonly name: string;
  /** The container's log. */
  readonly log: LogBuffer;
  /** Whether the spec gave the process a stdin. */
  readonly hasStdin: boolean;
  /** Whether the process runs on a pty. */
  readonly tty: boolean;
  /** Close stdin when the first attached session closes it. */
  readonly stdinOnce: boolean;
  /** Resolves with the exit code when the process has ended. */
  readonly exited: Promise<number>;
  #proc: ContainerProcess;
  #sinks = new Set<AttachSink>();
  #stdinClosed = false;
  #exitCode: number | undefined;

  /**
   * Wires a started process.
   * @param name Container name.
   * @param proc The process.
   * @param options Spec flags and the log to use.
   */
  constructor(
    name: string,
    proc: ContainerProcess,
    options: {
      tty: boolean;
      stdin: boolean;
      stdinOnce: boolean;
      log?: LogBuffer;
    },
  ) {
    this.name = name;
    this.#proc = proc;
    this.tty = options.tty;
    this.hasStdin = options.stdin && proc.stdin !== null;
    this.stdinOnce = options.stdinOnce;
    this.log = options.log ?? new LogBuffer();
    this.#pump(proc.stdout, 1);
    if (proc.stderr) this.#pump(proc.stderr, 2);
    this.exited = proc.exited.then((code) => {
      this.#exitCode = code;
      this.log.end();
      return code;
    });
  }

  /** The exit code once exited, else undefined. */
  get exitCode(): number | undefined {
    return this.#exitCode;
  }

  /** Number of attached sessions. */
  get attachedCount(): number {
    return this.#sinks.size;
  }

  /**
   * Writes container output as if the process had (used by tests and the
   * dev stack to feed logs).
   * @param stream 1 stdout, 2 stderr.
   * @param data Bytes.
   */
  emit(stream: 1 | 2, data: Uint8Array): void {
    this.log.append(data);
    for (const s of this.#sinks) s.write(stream, data);
  }

  /**
   * Attaches a session's output.
   * @param sink Where output goes from now on.
   * @returns Detach function.
   */
  attach(sink: AttachSink): () => void {
    this.#sinks.add(sink);
    return () => this.#sinks.delete(sink);
  }

  /**
   * Writes to the process's stdin.
   * @param data Bytes.
   * @param onDrain Called when a full stdin pipe has room again.
   * @returns false when the pipe is full (pause the source until `onDrain`).
   */
  writeStdin(data: Uint8Array, onDrain: () => void): boolean {
    const stdin = this.#proc.stdin;
    if (!this.hasStdin || this.#stdinClosed || !stdin || stdin.destroyed) {
      return true;
    }
    const ok = stdin.write(data);
    if (!ok) stdin.once("drain", onDrain);
    return ok;
  }

  /** Closes the process's stdin (EOF). */
  closeStdin(): void {
    if (this.#stdinClosed) return;
    this.#stdinClosed = true;
    this.#proc.stdin?.end();
  }

  /**
   * Resizes the pty.
   * @param cols Columns.
   * @param rows Rows.
   */
  resize(cols: number, rows: number): void {
    this.#proc.resize(cols, rows);
  }

  /** Kills the process. */
  kill(): void {
    this.#proc.kill();
  }

  #pump(readable: Readable, stream: 1 | 2): void {
    readable.on("data", (chunk: Uint8Array) => {
      this.log.append(chunk);
      let waiting = 0;
      for (const s of this.#sinks) {
        if (!s.write(stream, chunk)) {
          waiting++;
          s.onDrain(() => {
            if (--waiting === 0) readable.resume();
          });
        }
      }
      if (waiting > 0) readable.pause();
    });
  }
}
