/**
 * A container's process: a real local process (with a pseudo-terminal when
 * the session asks for a TTY) or an in-process built-in, behind one shape.
 *
 * The pseudo-terminal comes from util-linux `script -qfec CMD /dev/null`:
 * `script` opens a pty, runs CMD on it through `/bin/sh -c`, copies our stdin
 * pipe to the pty master and the master to our stdout, sends EOF to the pty
 * when our stdin ends, and with `-e` exits with the child's exit code. CMD is
 * a small wrapper that applies the initial size with `stty`, reports the
 * pty's path and its own pid on fd 3, then `exec`s the container argv. Later
 * resizes run `stty -F <pty> cols W rows H`, which makes the kernel send
 * SIGWINCH to the foreground job.
 *
 * Limits: with a TTY, stdout and stderr are one stream (as on a real pty);
 * the pty echoes input and turns `\n` into `\r\n` (as on a real pty); a resize
 * that arrives before the pty path is known is applied as soon as it is.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants as fsConstants, statSync } from "node:fs";
import { PassThrough } from "node:stream";
import { builtinProcess, missingCommandProcess } from "./builtins.ts";
import { shellQuote } from "../recording/shell_quote.ts";
import type { ContainerProcess } from "./container.ts";

export type { ContainerProcess } from "./container.ts";

/** How to start a container process. */
export interface SpawnContainerOptions {
  /** argv; `argv[0]` is looked up on PATH unless it is a built-in. */
  argv: string[];
  /** Working directory (the pod's scratch directory). */
  cwd: string;
  /** Extra environment variables. @default {{}} */
  env?: Record<string, string>;
  /** Allocate a pseudo-terminal. */
  tty: boolean;
  /** Give the process a stdin pipe (else it reads /dev/null). */
  stdin: boolean;
  /** Initial terminal size, with a TTY. */
  size?: { cols: number; rows: number };
}

function findExecutable(cmd: string, path: string, cwd: string): boolean {
  const candidates = cmd.includes("/")
    ? [cmd.startsWith("/") ? cmd : `${cwd}/${cmd}`]
    : path.split(":").filter((d) => d !== "").map((d) => `${d}/${cmd}`);
  return candidates.some((c) => {
    try {
      accessSync(c, fsConstants.X_OK);
      return statSync(c).isFile();
    } catch {
      return false;
    }
  });
}

function baseEnv(options: SpawnContainerOptions): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: options.cwd,
    SHELL: "/bin/sh",
    ...(options.tty ? { TERM: "xterm-256color" } : {}),
    ...options.env,
  };
}

function exitCodeOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.on("error", () => resolve(127));
    child.on("close", (code, signal) => {
      if (code !== null) resolve(code);
      else resolve(128 + signalNumber(signal));
    });
  });
}

function signalNumber(signal: NodeJS.Signals | null): number {
  const table: Record<string, number> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGKILL: 9,
    SIGPIPE: 13,
    SIGTERM: 15,
  };
  return signal ? table[signal] ?? 1 : 1;
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/**
 * Starts a container process: a built-in when `argv[0]` names one (see
 * `builtins.ts`), else a local process in `cwd`, under `script` for a TTY.
 * @param options What to run and how.
 * @returns The running process.
 * @example
 * ```ts
 * import { spawnContainerProcess } from "./container_process.ts";
 * const p = spawnContainerProcess({
 *   argv: ["sh", "-c", "exit 3"],
 *   cwd: "/tmp",
 *   tty: false,
 *   stdin: false,
 * });
 * p.stdout.resume();
 * p.stderr?.resume();
 * if ((await p.exited) !== 3) throw new Error("exit code");
 * ```
 */
export function spawnContainerProcess(
  options: SpawnContainerOptions,
): ContainerProcess {
  const builtin = builtinProcess(options.argv, options.stdin);
  if (builtin) return builtin;
  if (options.tty) return spawnWithPty(options);
  const [cmd, ...args] = options.argv;
  const env = baseEnv(options);
  if (!findExecutable(cmd!, env.PATH!, options.cwd)) {
    return missingCommandProcess(cmd!);
  }
  const child = spawn(cmd!, args, {
    cwd: options.cwd,
    env,
    stdio: [options.stdin ? "pipe" : "ignore", "pipe", "pipe"],
    detached: true,
  });
  const exited = exitCodeOf(child);
  child.stdin?.on("error", () => {}); // EPIPE when the process is gone.
  return {
    stdin: child.stdin,
    stdout: child.stdout!,
    stderr: child.stderr!,
    resize() {},
    exited,
    kill: () => killGroup(child.pid),
  };
}

function spawnWithPty(options: SpawnContainerOptions): ContainerProcess {
  const argv = shellQuote(options.argv);
  const size = options.size
    ? `stty cols ${options.size.cols} rows ${options.size.rows} 2>/dev/null; `
    : "";
  const wrapper = `${size}echo "$(tty) $$" >&3; exec ${argv} 3>&-`;
  const child = spawn("script", ["-qfec", wrapper, "/dev/null"], {
    cwd: options.cwd,
    env: baseEnv(options),
    // script needs a stdin pipe even when the session has none; we end it.
    stdio: ["pipe", "pipe", "pipe", "pipe"],
    detached: true,
  });
  const exited = exitCodeOf(child);
  const ptyIn = child.stdin!;
  ptyIn.on("error", () => {});
  // Input goes through a gate that is shut while a resize is being applied,
  // so bytes written after a resize reach the pty after the new size.
  const gate = new PassThrough();
  let resizing = 0;
  let ptyFull = false;
  const maybeResume = () => {
    if (resizing === 0 && !ptyFull) gate.resume();
  };
  gate.on("data", (chunk: Uint8Array) => {
    if (!ptyIn.write(chunk)) {
      ptyFull = true;
      gate.pause();
      ptyIn.once("drain", () => {
        ptyFull = false;
        maybeResume();
      });
    }
  });
  gate.on("end", () => ptyIn.end());
  if (!options.stdin) gate.end();
  let ttyPath: string | undefined;
  let sessionPid: number | undefined;
  let pendingSize: { cols: number; rows: number } | undefined;
  const applySize = (cols: number, rows: number) => {
    resizing++;
    gate.pause();
    const args = ["-F", ttyPath!, "cols", String(cols), "rows", String(rows)];
    const stty = spawn("stty", args, { stdio: "ignore" });
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      resizing--;
      maybeResume();
    };
    stty.on("error", finish);
    stty.on("close", finish);
  };
  let info = "";
  child.stdio[3]!.on("data", (d: Uint8Array) => {
    info += new TextDecoder().decode(d);
    const m = /^(\S+) (\d+)\n/.exec(info);
    if (m && ttyPath === undefined) {
      ttyPath = m[1]!;
      sessionPid = Number(m[2]);
      if (pendingSize) {
        resizing--;
        applySize(pendingSize.cols, pendingSize.rows);
      }
    }
  });
  child.stdio[3]!.on("error", () => {});
  // script's own diagnostics (rare) are dropped: stderr has no channel here.
  child.stderr!.resume();
  return {
    stdin: options.stdin ? gate : null,
    stdout: child.stdout!,
    stderr: null,
    resize(cols, rows) {
      if (ttyPath !== undefined) {
        applySize(cols, rows);
        return;
      }
      // Hold input until the pty is known and the size applied.
      if (pendingSize === undefined) {
        resizing++;
        gate.pause();
      }
      pendingSize = { cols, rows };
    },
    exited,
    kill() {
      killGroup(sessionPid);
      killGroup(child.pid);
    },
  };
}
