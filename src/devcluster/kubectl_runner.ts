/**
 * Runs the real kubectl for tests: a fresh `HOME` (no discovery cache), an
 * explicit `--kubeconfig`, optional stdin, and optionally a terminal: under
 * util-linux `script -qfec`, with a size set by `stty` first, so `-it`
 * commands see a TTY. In TTY mode stdout is everything the terminal showed
 * (stdout and stderr, `\r\n` line ends, echoed input), and stdin stays open
 * until kubectl exits: closing it early would hand the terminal an EOF.
 *
 * @module
 */

import { shellQuote } from "../recording/shell_quote.ts";

/** The kubectl the project tests with (a dispatcher over 1.27–1.33). */
export const KUBECTL = "/usr/bin/kubectl";

/** How to run kubectl. */
export interface KubectlOptions {
  /** Path of the kubeconfig. */
  kubeconfig: string;
  /** `HOME` for kubectl (its discovery cache lives there). */
  home: string;
  /** Bytes or text for stdin. @default {no stdin} */
  stdin?: Uint8Array | string;
  /** Run under a pseudo-terminal of this size. @default {no terminal} */
  tty?: { cols: number; rows: number };
  /** Extra environment. @default {{}} */
  env?: Record<string, string>;
  /** Kill kubectl after this long (a safety net, not a wait). @default {60000} */
  timeoutMs?: number;
  /** kubectl binary. @default {KUBECTL} */
  kubectl?: string;
}

/** What a kubectl run produced. */
export interface KubectlResult {
  /** Exit code. */
  code: number;
  /** Stdout as text (in TTY mode: the terminal's output). */
  stdout: string;
  /** Stderr as text (empty in TTY mode). */
  stderr: string;
  /** Stdout bytes. */
  stdoutBytes: Uint8Array;
}

function command(args: string[], options: KubectlOptions): Deno.Command {
  const bin = options.kubectl ?? KUBECTL;
  const argv = [bin, "--kubeconfig", options.kubeconfig, ...args];
  const env = {
    HOME: options.home,
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    ...options.env,
  };
  const stdin = options.stdin !== undefined || options.tty ? "piped" : "null";
  if (!options.tty) {
    return new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      env,
      clearEnv: true,
      stdin,
      stdout: "piped",
      stderr: "piped",
    });
  }
  const { cols, rows } = options.tty;
  const line = `stty cols ${cols} rows ${rows}; exec ${shellQuote(argv)}`;
  return new Deno.Command("script", {
    args: ["-qfec", line, "/dev/null"],
    env: { ...env, SHELL: "/bin/sh", TERM: "xterm" },
    clearEnv: true,
    stdin,
    stdout: "piped",
    stderr: "piped",
  });
}

/**
 * Starts kubectl and leaves it running (for `-w`, `logs -f`, sessions).
 * @param args kubectl arguments (after `--kubeconfig`).
 * @param options Environment, stdin, terminal.
 * @returns The child process; stdin is piped when `stdin` or `tty` is set.
 */
export function spawnKubectl(
  args: string[],
  options: KubectlOptions,
): Deno.ChildProcess {
  return command(args, options).spawn();
}

/**
 * Runs kubectl to its end.
 * @param args kubectl arguments (after `--kubeconfig`).
 * @param options Environment, stdin, terminal, timeout.
 * @returns Exit code and output.
 * @throws {Error} kubectl ran longer than `timeoutMs`.
 */
export async function runKubectl(
  args: string[],
  options: KubectlOptions,
): Promise<KubectlResult> {
  const child = spawnKubectl(args, options);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }, options.timeoutMs ?? 60_000);
  let writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  if (options.stdin !== undefined || options.tty) {
    writer = child.stdin.getWriter();
    const data = typeof options.stdin === "string"
      ? new TextEncoder().encode(options.stdin)
      : options.stdin;
    // Written in the background: a large stdin may fill the pipe.
    (async () => {
      try {
        if (data && data.length > 0) await writer!.write(data);
        if (!options.tty) await writer!.close();
      } catch {
        // kubectl exited before reading everything.
      }
    })();
  }
  const [out, err, status] = await Promise.all([
    new Response(child.stdout).bytes(),
    new Response(child.stderr).bytes(),
    child.status,
  ]);
  clearTimeout(timer);
  if (options.tty) await writer?.close().catch(() => {});
  if (timedOut) {
    throw new Error(
      `kubectl ${args.join(" ")} ran longer than ${
        options.timeoutMs ?? 60_000
      } ms; output so far: ${new TextDecoder().decode(out).slice(-2000)}${
        new TextDecoder().decode(err).slice(-2000)
      }`,
    );
  }
  return {
    code: status.code,
    stdout: new TextDecoder().decode(out),
    stderr: new TextDecoder().decode(err),
    stdoutBytes: out,
  };
}
