/**
 * `deno task bench`: throughput, CPU per GiB, interactive latency, setup
 * time, concurrency, stdin back-pressure and memory of execgate beside a
 * direct connection and the real `kubectl proxy`, every path measured in
 * turns on the same machine, against a minimal fast exec server
 * (`fast_upstream.ts`) so the proxies' own cost shows; the kubectl figure
 * runs against the simulated cluster. Targets are ratios to `kubectl proxy`
 * in the same run.
 *
 * ```
 * deno task bench                 full run, writes BENCHMARKS.md (~10 min on 2 cores)
 * deno task bench --quick         small sizes, prints the table only (BENCH_QUICK=1 too)
 * deno task bench --out FILE      write the report to FILE
 * deno task bench --no-write      print only
 * deno task bench --concurrency-only [--paths execgate+disk,…]
 *                                 only the concurrency figure, printed as JSON
 *                                 (a probe; BENCHMARKS.md is not written)
 * deno task bench --tuning JSON   override recording settings, e.g. '{"queueBytes":131072}'
 *                                 (keys of StackTuning; default: the product defaults)
 * ```
 *
 * @module
 */

import { runConcurrency } from "./concurrency.ts";
import { runFrameParse } from "./frame_parse.ts";
import { runKubectlSample } from "./kubectl_sample.ts";
import { runLatency } from "./latency.ts";
import { describeMachine } from "./machine.ts";
import {
  type BenchResults,
  mainTable,
  markdownTable,
  runFacts,
  targets,
  targetsTable,
} from "./report.ts";
import { runSetup } from "./setup_time.ts";
import { runStdinPressure } from "./stdin_pressure.ts";
import { type PathName, PATHS, type StackTuning, startStack } from "./stack.ts";
import { runThroughput } from "./throughput.ts";
import { renderMarkdown } from "./markdown.ts";

/** Settings of one benchmark run. */
export interface BenchPlan {
  throughputBytes: number;
  throughputReps: number;
  throughputCapMs: number;
  roundTrips: number;
  setupSessions: number;
  concurrentSessions: number;
  concurrentBytes: number;
  kubectlRuns: number;
  kubectlBytes: number;
  /** Wait after the concurrency burst before the settled RSS, ms. */
  settleMs: number;
  /** Stdin figure: bytes offered, pod read rate (B/s), seconds of writing. */
  stdinBytes: number;
  stdinRate: number;
  stdinSeconds: number;
}

const MiB = 2 ** 20;

/** The full run (about ten minutes on 2 cores). */
export const FULL: BenchPlan = {
  throughputBytes: 1024 * MiB,
  throughputReps: 3,
  throughputCapMs: 240_000,
  roundTrips: 2000,
  setupSessions: 200,
  concurrentSessions: 1000,
  concurrentBytes: MiB,
  kubectlRuns: 20,
  kubectlBytes: 10 * MiB,
  settleMs: 10_000,
  stdinBytes: 1024 * MiB,
  stdinRate: 1_000_000,
  stdinSeconds: 10,
};

/** The smoke run (about a minute of measuring, plus two stack starts). */
export const QUICK: BenchPlan = {
  throughputBytes: 64 * MiB,
  throughputReps: 1,
  throughputCapMs: 60_000,
  roundTrips: 200,
  setupSessions: 10,
  concurrentSessions: 100,
  concurrentBytes: MiB,
  kubectlRuns: 3,
  kubectlBytes: MiB,
  settleMs: 2_000,
  stdinBytes: 1024 * MiB,
  stdinRate: 1_000_000,
  stdinSeconds: 2,
};

/** Concurrency order: the recorded paths first (see main). */
const CONCURRENCY_ORDER = [
  "execgate+disk",
  "execgate+s3",
  "direct",
  "kubectl-proxy",
  "execgate",
] as const;

async function git(args: string[]): Promise<string> {
  const out = await new Deno.Command("git", {
    args,
    cwd: new URL("../../", import.meta.url).pathname,
    stdout: "piped",
    stderr: "null",
  }).output().catch(() => undefined);
  return out ? new TextDecoder().decode(out.stdout).trim() : "";
}

/** The commit measured and whether the product code differed from it. */
async function codeVersion(): Promise<string> {
  const head = await git(["rev-parse", "--short", "HEAD"]) || "unknown";
  const dirty = (await git(["status", "--porcelain", "--", "src", "main.ts"]))
    .split("\n").filter(Boolean).length;
  return `commit ${head}${
    dirty ? ` with ${dirty} uncommitted change(s) under src/ or main.ts` : ""
  }`;
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function main(args: string[]): Promise<void> {
  const quick = args.includes("--quick") || Deno.env.get("BENCH_QUICK") === "1";
  const base = quick ? QUICK : FULL;
  // BENCH_SESSIONS=N: another concurrency figure size (for probing).
  const sessions = Number(
    Deno.env.get("BENCH_SESSIONS") ?? base.concurrentSessions,
  );
  const plan = { ...base, concurrentSessions: sessions };
  const repo = new URL("../../", import.meta.url).pathname;
  const outFile = flag(args, "--out") ??
    (quick || args.includes("--no-write") ? undefined : `${repo}BENCHMARKS.md`);
  const tuningArg = flag(args, "--tuning");
  // Every setting as shipped unless --tuning says otherwise.
  const tuning: StackTuning = tuningArg ? JSON.parse(tuningArg) : {};
  const log = (line: string) =>
    console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
  const started = performance.now();
  const date = new Date().toISOString();
  const machine = await describeMachine();
  const code = await codeVersion();
  const paths = [...PATHS];

  // In-process first, on a quiet machine.
  const frameParse = runFrameParse();
  log(
    `16 MiB frame in 256-byte chunks: ${
      frameParse.frameMs.map((m) => m.toFixed(0)).join(", ")
    } ms (frame parser), ${
      frameParse.channelMs.map((m) => m.toFixed(0)).join(", ")
    } ms (channel parser)`,
  );
  log(
    `starting the stack on the fast upstream (${
      Object.keys(tuning).length
        ? `tuning ${JSON.stringify(tuning)}`
        : "every setting as shipped"
    })`,
  );
  if (args.includes("--concurrency-only")) {
    const only = flag(args, "--paths")?.split(",") as PathName[] | undefined;
    const probe = await startStack(tuning, { upstream: "fast" });
    try {
      for (const p of only ?? CONCURRENCY_ORDER) {
        const r = await runConcurrency(probe, p, {
          sessions: plan.concurrentSessions,
          bytes: plan.concurrentBytes,
          finaliseTimeoutMs: 180_000,
          settleMs: plan.settleMs,
          log,
        });
        console.log(JSON.stringify(r));
      }
    } finally {
      await probe.close();
    }
    return;
  }
  let stack = await startStack(tuning, { upstream: "fast" });
  let latency, setup, kubectl, throughput, stdin;
  const concurrency = [];
  try {
    log(`stack up in ${stack.dir}`);
    latency = await runLatency(stack, paths, {
      roundTrips: plan.roundTrips,
      block: 100,
      warmup: 50,
      log,
    });
    log("latency done");
    setup = await runSetup(stack, paths, {
      sessions: plan.setupSessions,
      warmup: 5,
    });
    log("setup done");
    // Recorded paths first: each proxy process starts this figure having
    // served only small sessions.
    for (const p of CONCURRENCY_ORDER) {
      concurrency.push(
        await runConcurrency(stack, p, {
          sessions: plan.concurrentSessions,
          bytes: plan.concurrentBytes,
          finaliseTimeoutMs: 180_000,
          settleMs: plan.settleMs,
          log,
        }),
      );
    }
    stdin = await runStdinPressure(stack, paths, {
      bytes: plan.stdinBytes,
      rate: plan.stdinRate,
      seconds: plan.stdinSeconds,
      log,
    });
    // Last: the GiB sessions leave the heaps grown.
    throughput = await runThroughput(stack, paths, {
      bytes: plan.throughputBytes,
      reps: plan.throughputReps,
      capMs: plan.throughputCapMs,
      log,
    });
  } finally {
    await stack.close();
  }
  // Real kubectl needs discovery and pod lookups: the simulated cluster.
  log("starting the stack on the simulated cluster (kubectl figure)");
  stack = await startStack(tuning, { upstream: "devcluster" });
  try {
    kubectl = await runKubectlSample(stack, paths, {
      runs: plan.kubectlRuns,
      bytes: plan.kubectlBytes,
    });
    log("kubectl done");
  } finally {
    await stack.close();
  }
  const results: BenchResults = {
    paths,
    params: {
      throughputBytes: plan.throughputBytes,
      throughputReps: plan.throughputReps,
      roundTrips: plan.roundTrips,
      setupSessions: plan.setupSessions,
      concurrentSessions: plan.concurrentSessions,
      concurrentBytes: plan.concurrentBytes,
      kubectlRuns: plan.kubectlRuns,
      kubectlBytes: plan.kubectlBytes,
      settleMs: plan.settleMs,
      stdinRate: plan.stdinRate,
      stdinSeconds: plan.stdinSeconds,
    },
    tuning,
    throughput,
    latency,
    setup,
    concurrency,
    kubectl,
    stdin,
    frameParse,
  };

  const seconds = (performance.now() - started) / 1000;
  const table = markdownTable(mainTable(results));
  const goals = targetsTable(targets(results));
  console.log(`\n${table}\n\n${goals}\n`);
  if (outFile) {
    const envPrefix = Deno.env.get("BENCH_SESSIONS")
      ? `BENCH_SESSIONS=${Deno.env.get("BENCH_SESSIONS")} `
      : "";
    const command = `${envPrefix}deno task bench${
      args.length ? " " + args.join(" ") : ""
    }`;
    const existing = await Deno.readTextFile(outFile).catch(() => "");
    await Deno.writeTextFile(
      outFile,
      renderMarkdown({
        facts: runFacts(machine, results, command, date, seconds, code),
        table,
        targets: goals,
        results,
      }, existing),
    );
    log(`wrote ${outFile}`);
  }
  log(`done in ${(seconds / 60).toFixed(1)} min`);
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    console.error(`bench: ${(e as Error).stack ?? e}`);
    if ((e as Error).cause) console.error("cause:", (e as Error).cause);
    Deno.exit(1);
  }
}
