/**
 * `deno task bench`: throughput, interactive latency, setup time,
 * concurrency and memory of execgate beside a direct connection and the real
 * `kubectl proxy`, every path measured in turns on the same machine.
 *
 * ```
 * deno task bench                 full run, writes BENCHMARKS.md (~10 min on 2 cores)
 * deno task bench --quick         small sizes, prints the table only (BENCH_QUICK=1 too)
 * deno task bench --out FILE      write the report to FILE
 * deno task bench --no-write      print only
 * deno task bench --tuning JSON   override recording settings of the main run
 * ```
 *
 * @module
 */

import { runConcurrency } from "./concurrency.ts";
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
import { PATHS, type StackTuning, startStack } from "./stack.ts";
import { runThroughput, type ThroughputSample } from "./throughput.ts";
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
  /** Bytes of the one session run with the product defaults. */
  defaultsBytes: number;
  defaultsCapMs: number;
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
  defaultsBytes: 256 * MiB,
  defaultsCapMs: 30_000,
};

/** The smoke run (about a minute). */
export const QUICK: BenchPlan = {
  throughputBytes: 64 * MiB,
  throughputReps: 1,
  throughputCapMs: 60_000,
  roundTrips: 200,
  setupSessions: 20,
  concurrentSessions: 100,
  concurrentBytes: MiB,
  kubectlRuns: 3,
  kubectlBytes: MiB,
  defaultsBytes: 16 * MiB,
  defaultsCapMs: 10_000,
};

/**
 * Recording settings of the main run. The product defaults pace a recorded
 * stream by the recorder's ack timer (`ackIntervalMs` 1000 with a 1 MiB
 * window: about 1 MB/s), which would make a 1 GiB session last 17 minutes;
 * the defaults are measured separately (see BENCHMARKS.md).
 */
export const TUNING: StackTuning = {
  ackIntervalMs: 10,
  queueBytes: 8 * MiB,
  segmentBytes: 5 * MiB,
  flushIntervalMs: 100,
};

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
  const plan = quick ? QUICK : FULL;
  const repo = new URL("../../", import.meta.url).pathname;
  const outFile = flag(args, "--out") ??
    (quick || args.includes("--no-write") ? undefined : `${repo}BENCHMARKS.md`);
  const tuningArg = flag(args, "--tuning");
  const tuning: StackTuning = tuningArg ? JSON.parse(tuningArg) : TUNING;
  const log = (line: string) =>
    console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
  const started = performance.now();
  const date = new Date().toISOString();
  const machine = await describeMachine();
  const code = await codeVersion();
  const paths = [...PATHS];

  // Stack 1, every setting as shipped: latency, setup, concurrency, and one
  // recorded stream to show what the defaults do to throughput.
  log("stack 1: product defaults");
  const plain = await startStack({});
  let latency, setup, defaults: ThroughputSample | undefined;
  const concurrency = [];
  try {
    log(`stack up in ${plain.dir}`);
    latency = await runLatency(plain, paths, {
      roundTrips: plan.roundTrips,
      block: 100,
      warmup: 50,
      log,
    });
    log("latency done");
    setup = await runSetup(plain, paths, {
      sessions: plan.setupSessions,
      warmup: 5,
    });
    log("setup done");
    for (const p of paths) {
      concurrency.push(
        await runConcurrency(plain, p, {
          sessions: plan.concurrentSessions,
          bytes: plan.concurrentBytes,
          finaliseTimeoutMs: 600_000,
          log,
        }),
      );
    }
    [defaults] = await runThroughput(plain, ["execgate+disk"], {
      bytes: plan.defaultsBytes,
      reps: 1,
      capMs: plan.defaultsCapMs,
      log,
    });
  } finally {
    await plain.close();
  }

  // Stack 2, recording flow tuned so that GiB streams finish: kubectl and
  // throughput (with the long-session memory readings).
  log(`stack 2: tuning ${JSON.stringify(tuning)}`);
  const tuned = await startStack(tuning);
  let kubectl, throughput;
  try {
    log(`stack up in ${tuned.dir}`);
    kubectl = await runKubectlSample(tuned, paths, {
      runs: plan.kubectlRuns,
      bytes: plan.kubectlBytes,
    });
    log("kubectl done");
    throughput = await runThroughput(tuned, paths, {
      bytes: plan.throughputBytes,
      reps: plan.throughputReps,
      capMs: plan.throughputCapMs,
      log,
    });
  } finally {
    await tuned.close();
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
      defaultsBytes: plan.defaultsBytes,
      defaultsCapMs: plan.defaultsCapMs,
    },
    tuning,
    throughput,
    latency,
    setup,
    concurrency,
    kubectl,
    defaults,
  };

  const seconds = (performance.now() - started) / 1000;
  const table = markdownTable(mainTable(results));
  const goals = targetsTable(targets(results));
  console.log(`\n${table}\n\n${goals}\n`);
  if (outFile) {
    const command = `deno task bench${args.length ? " " + args.join(" ") : ""}`;
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
