/**
 * Built-in commands the simulated cluster runs in-process, so a pod is never
 * the bottleneck of a test or benchmark:
 *
 * - `execgate-gen BYTES [PATTERN]` writes BYTES bytes to stdout (PATTERN
 *   repeated, default `x`) as fast as the reader takes them, then exits 0.
 *   The output is pull-driven, so a slow socket slows it down (bounded memory).
 * - `execgate-echo` copies stdin to stdout until stdin ends, then exits 0.
 *   It ignores a TTY (no echo, no `\r\n`): a clean latency probe.
 *
 * @module
 */

import { PassThrough, Readable } from "node:stream";
import type { ContainerProcess } from "./container.ts";

/** Names of the built-in commands. */
export const BUILTIN_COMMANDS: readonly string[] = [
  "execgate-gen",
  "execgate-echo",
];

const CHUNK = 64 * 1024;

function endedProcess(
  stdout: Readable,
  stderr: Readable,
  code: () => number,
): Promise<number> {
  const ended = (r: Readable) =>
    new Promise<void>((resolve) => {
      if (r.readableEnded) resolve();
      else r.once("end", resolve).once("close", resolve);
    });
  return Promise.all([ended(stdout), ended(stderr)]).then(code);
}

function genProcess(args: string[]): ContainerProcess {
  const total = Number(args[0] ?? "0");
  const stderr = new PassThrough();
  if (!Number.isSafeInteger(total) || total < 0) {
    const stdout = Readable.from([]);
    stderr.end(
      `execgate-gen: byte count ${
        JSON.stringify(args[0])
      } is not a non-negative integer\n`,
    );
    return {
      stdin: null,
      stdout,
      stderr,
      resize() {},
      exited: endedProcess(stdout, stderr, () => 2),
      kill() {},
    };
  }
  const pattern = new TextEncoder().encode(args[1] ?? "x");
  const block = new Uint8Array(CHUNK);
  for (let i = 0; i < CHUNK; i++) block[i] = pattern[i % pattern.length]!;
  let sent = 0;
  let killed = false;
  const stdout = new Readable({
    highWaterMark: CHUNK,
    read() {
      if (killed || sent >= total) {
        this.push(null);
        return;
      }
      // Keep the pattern aligned across chunks.
      const offset = sent % pattern.length;
      const n = Math.min(CHUNK - offset, total - sent);
      this.push(block.slice(offset, offset + n));
      sent += n;
    },
  });
  stderr.end();
  return {
    stdin: null,
    stdout,
    stderr,
    resize() {},
    exited: endedProcess(stdout, stderr, () => (killed ? 137 : 0)),
    kill() {
      killed = true;
      stdout.destroy();
    },
  };
}

function echoProcess(withStdin: boolean): ContainerProcess {
  const pipe = new PassThrough();
  const stderr = new PassThrough();
  stderr.end();
  if (!withStdin) pipe.end();
  return {
    stdin: withStdin ? pipe : null,
    stdout: pipe,
    stderr,
    resize() {},
    exited: endedProcess(pipe, stderr, () => 0),
    kill() {
      pipe.destroy();
    },
  };
}

/**
 * The process of a built-in command, or undefined when `argv[0]` is none.
 * @param argv The command.
 * @param withStdin Whether the session has stdin.
 * @returns The in-process command, or undefined.
 */
export function builtinProcess(
  argv: string[],
  withStdin: boolean,
): ContainerProcess | undefined {
  switch (argv[0]) {
    case "execgate-gen":
      return genProcess(argv.slice(1));
    case "execgate-echo":
      return echoProcess(withStdin);
    default:
      return undefined;
  }
}

/**
 * The process of a command that is not on PATH: it prints what a container
 * runtime says on stderr and exits 127.
 * @param cmd The command name.
 * @returns A process that has already failed.
 */
export function missingCommandProcess(cmd: string): ContainerProcess {
  const stdout = Readable.from([]);
  const stderr = new PassThrough();
  stderr.end(
    `exec: ${JSON.stringify(cmd)}: executable file not found in $PATH\n`,
  );
  return {
    stdin: null,
    stdout,
    stderr,
    resize() {},
    exited: endedProcess(stdout, stderr, () => 127),
    kill() {},
  };
}
