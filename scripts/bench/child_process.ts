/**
 * Spawns the benchmark's servers as child processes: {@linkcode spawnChild}
 * for `child.ts` roles and {@linkcode spawnKubectlProxy} for the real
 * `kubectl proxy`. Each child's output goes to a log file; the first line it
 * prints tells where it listens.
 *
 * @module
 */

import type { ChildReady } from "./child.ts";

/** A running child process. */
export interface Child {
  /** Role name, for messages. */
  name: string;
  /** Process id (the server itself, never a wrapper). */
  pid: number;
  /** What it printed when ready. */
  ready: ChildReady;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
}

const CHILD = new URL("./child.ts", import.meta.url).pathname;

/**
 * Reads the first line of a stream, then copies the rest to a file.
 * @returns The first line.
 */
async function firstLineThenLog(
  stream: ReadableStream<Uint8Array>,
  log: Deno.FsFile,
  name: string,
  match: (line: string) => string | undefined,
): Promise<string> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const enc = new TextEncoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      throw new Error(
        `Bench child ${name} exited before it was ready; output: ${
          JSON.stringify(text.slice(-2000))
        }`,
      );
    }
    text += value;
    for (const line of text.split("\n").slice(0, -1)) {
      const got = match(line);
      if (got === undefined) continue;
      await log.write(enc.encode(text));
      (async () => {
        for (;;) {
          const r = await reader.read();
          if (r.done) return;
          await log.write(enc.encode(r.value));
        }
      })().catch(() => {});
      return got;
    }
  }
}

/**
 * A command whose stderr goes straight to a file: `sh` redirects, then
 * `exec`s the program, so the pid is the program's own.
 */
function withStderrTo(log: string, program: string, args: string[]) {
  return {
    cmd: "/bin/sh",
    args: ["-c", 'exec "$0" "$@" 2>>"$BENCH_LOG"', program, ...args],
    env: { BENCH_LOG: log },
  };
}

/**
 * Starts `child.ts ROLE SPEC` and waits until it listens.
 * @param role `cluster`, `proxy`, `recorder` or `s3`.
 * @param spec The role's JSON spec.
 * @param logDir Folder for `ROLE.log`.
 * @param name Name of the log file and in messages. @default {role}
 * @returns The running child.
 * @throws {Error} The child exited before printing its ready line.
 */
export async function spawnChild(
  role: string,
  spec: unknown,
  logDir: string,
  name = role,
): Promise<Child> {
  // BENCH_CPU_PROF=DIR: V8 CPU profiles of the proxies and recorders.
  const profDir = Deno.env.get("BENCH_CPU_PROF");
  const prof = profDir && (role === "proxy" || role === "recorder")
    ? [
      "--cpu-prof",
      `--cpu-prof-dir=${profDir}`,
      `--cpu-prof-name=${name}.cpuprofile`,
    ]
    : [];
  // BENCH_PROXY_V8_FLAGS=…: V8 flags of the proxies (e.g. a heap limit).
  const v8 = Deno.env.get("BENCH_PROXY_V8_FLAGS");
  const v8Flags = v8 && role === "proxy" ? [`--v8-flags=${v8}`] : [];
  const c = withStderrTo(`${logDir}/${name}.log`, Deno.execPath(), [
    "run",
    "-A",
    "--unstable-net",
    ...prof,
    ...v8Flags,
    CHILD,
    role,
    JSON.stringify(spec),
  ]);
  const proc = new Deno.Command(c.cmd, {
    args: c.args,
    env: c.env,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const log = await Deno.open(`${logDir}/${name}.out`, {
    write: true,
    create: true,
  });
  const line = await firstLineThenLog(
    proc.stdout,
    log,
    name,
    (l) => (l.startsWith("{") ? l : undefined),
  );
  return {
    name,
    pid: proc.pid,
    ready: JSON.parse(line) as ChildReady,
    async stop() {
      try {
        proc.kill("SIGTERM");
      } catch { /* gone */ }
      await proc.stdin.close().catch(() => {});
      await proc.status;
    },
  };
}

/**
 * Starts the real `kubectl proxy` on 127.0.0.1 (a free port), with exec
 * allowed, in front of the cluster a kubeconfig names.
 * @param kubeconfig Kubeconfig file pointing at the cluster.
 * @param home HOME for kubectl.
 * @param logDir Folder for `kubectl-proxy.log`.
 * @returns The child; `ready.url` is `http://127.0.0.1:PORT`.
 */
export async function spawnKubectlProxy(
  kubeconfig: string,
  home: string,
  logDir: string,
): Promise<Child> {
  const c = withStderrTo(`${logDir}/kubectl-proxy.log`, "/usr/bin/kubectl", [
    "--kubeconfig",
    kubeconfig,
    "proxy",
    "--address=127.0.0.1",
    "--port=0",
    "--reject-paths=^/nomatch$",
  ]);
  const proc = new Deno.Command(c.cmd, {
    args: c.args,
    env: {
      ...c.env,
      HOME: home,
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const log = await Deno.open(`${logDir}/kubectl-proxy.out`, {
    write: true,
    create: true,
  });
  const url = await firstLineThenLog(
    proc.stdout,
    log,
    "kubectl proxy",
    (l) => {
      const m = /Starting to serve on (\S+)/.exec(l);
      return m ? `http://${m[1]}` : undefined;
    },
  );
  return {
    name: "kubectl-proxy",
    pid: await mainPid(proc.pid),
    ready: { url },
    async stop() {
      try {
        proc.kill("SIGTERM");
      } catch { /* gone */ }
      await proc.status;
    },
  };
}

/**
 * `/usr/bin/kubectl` is a dispatcher that runs `kubectl.1.NN`: follow it to
 * the process that serves, for memory readings.
 */
async function mainPid(pid: number): Promise<number> {
  try {
    const children = (await Deno.readTextFile(
      `/proc/${pid}/task/${pid}/children`,
    )).trim().split(/\s+/).filter(Boolean);
    if (children.length === 1) return mainPid(Number(children[0]));
  } catch { /* no children file */ }
  return pid;
}
