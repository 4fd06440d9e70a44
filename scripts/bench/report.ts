/**
 * Turns benchmark results into one table (paths as columns, ratio to direct
 * beside each value), a targets table (met or missed), and `BENCHMARKS.md`.
 *
 * @module
 */

import type { ConcurrencyResult } from "./concurrency.ts";
import type { KubectlSamples } from "./kubectl_sample.ts";
import type { Machine } from "./machine.ts";
import type { SetupSamples } from "./setup_time.ts";
import type { PathName, StackTuning } from "./stack.ts";
import { fmtMiB, fmtMs, fmtRatio, median, percentile } from "./stats.ts";
import type { ThroughputSample } from "./throughput.ts";

/** Everything a run measured. */
export interface BenchResults {
  paths: PathName[];
  params: {
    throughputBytes: number;
    throughputReps: number;
    roundTrips: number;
    setupSessions: number;
    concurrentSessions: number;
    concurrentBytes: number;
    kubectlRuns: number;
    kubectlBytes: number;
  };
  tuning: StackTuning;
  throughput: ThroughputSample[];
  latency: Record<string, number[]>;
  setup: Record<string, SetupSamples>;
  concurrency: ConcurrencyResult[];
  kubectl: Record<string, KubectlSamples>;
  /** The recorded-to-disk session with the product's default settings. */
  defaults?: ThroughputSample;
}

/** A target and whether it was met. */
export interface TargetRow {
  target: string;
  measured: string;
  met: boolean | undefined;
}

const LABEL: Record<PathName, string> = {
  direct: "direct",
  "kubectl-proxy": "kubectl proxy",
  execgate: "execgate (not recorded)",
  "execgate+disk": "execgate + disk",
  "execgate+s3": "execgate + S3",
};

/** Median MB/s of a path's throughput samples. */
function mbps(r: BenchResults, p: PathName): number {
  return median(r.throughput.filter((s) => s.path === p).map((s) => s.mbps));
}

function conc(r: BenchResults, p: PathName): ConcurrencyResult | undefined {
  return r.concurrency.find((c) => c.path === p);
}

/** One row: a value per path, with the ratio to direct. */
function row(
  r: BenchResults,
  name: string,
  value: (p: PathName) => number,
  fmt: (v: number) => string,
  ratio = true,
): string[] {
  const base = value("direct");
  return [
    name,
    ...r.paths.map((p) => {
      const v = value(p);
      if (!Number.isFinite(v)) return "–";
      return p === "direct" || !ratio
        ? fmt(v)
        : `${fmt(v)} (${fmtRatio(v, base)})`;
    }),
  ];
}

function textRow(r: BenchResults, name: string, f: (p: PathName) => string) {
  return [name, ...r.paths.map(f)];
}

/**
 * The main table: one row per figure, one column per path.
 * @param r Results.
 * @returns Rows, the first being the header.
 */
export function mainTable(r: BenchResults): string[][] {
  const P = r.params;
  const mb = (v: number) => v.toFixed(0);
  const rows: string[][] = [["figure", ...r.paths.map((p) => LABEL[p])]];
  rows.push(
    row(
      r,
      `1. throughput, MB/s, median of ${P.throughputReps} × ${
        fmtMiB(P.throughputBytes)
      }`,
      (p) => mbps(r, p),
      mb,
    ),
    textRow(r, "   all bytes arrived", (p) => {
      const s = r.throughput.filter((x) => x.path === p);
      return `${s.filter((x) => x.complete).length}/${s.length}`;
    }),
    row(
      r,
      "   serving process CPU s per GiB",
      (p) =>
        median(
          r.throughput.filter((s) => s.path === p).map((s) =>
            s.serverCpu / (s.bytes / 2 ** 30)
          ),
        ),
      (v) => v.toFixed(1),
    ),
    row(
      r,
      `2. interactive RTT median (${P.roundTrips} × 1 byte, TTY)`,
      (p) => median(r.latency[p] ?? []),
      fmtMs,
    ),
    row(
      r,
      "   interactive RTT p99",
      (p) => percentile(r.latency[p] ?? [], 99),
      fmtMs,
    ),
    row(
      r,
      `3. setup → first byte median (${P.setupSessions} sessions)`,
      (p) => median(r.setup[p]?.firstByte ?? []),
      fmtMs,
    ),
    row(
      r,
      "   setup → first byte p99",
      (p) => percentile(r.setup[p]?.firstByte ?? [], 99),
      fmtMs,
    ),
    row(
      r,
      "   setup → 101 median",
      (p) => median(r.setup[p]?.upgraded ?? []),
      fmtMs,
    ),
    textRow(
      r,
      `4. concurrency: ${P.concurrentSessions} × ${
        fmtMiB(P.concurrentBytes)
      } complete (peak open)`,
      (p) => {
        const c = conc(r, p);
        return c ? `${c.completed}/${c.sessions} (${c.peakOpen})` : "–";
      },
    ),
    textRow(
      r,
      "   recordings complete, SHA-256 match (not finished)",
      (p) => {
        const c = conc(r, p);
        const rec = c?.recordings;
        return rec && c
          ? `${rec.verified}/${c.sessions} (${rec.unfinished})`
          : "–";
      },
    ),
    row(
      r,
      "   wall time (first request → last close), s",
      (p) => conc(r, p)?.seconds ?? NaN,
      (v) => v.toFixed(1),
    ),
    row(
      r,
      "   of which streaming (all open → last close), s",
      (p) => conc(r, p)?.streamSeconds ?? NaN,
      (v) => v.toFixed(1),
    ),
    textRow(r, "   recorder: last close → every upload finalised", (p) => {
      const f = conc(r, p)?.finaliseSeconds;
      return f === undefined ? "–" : `${f.toFixed(1)} s`;
    }),
    textRow(r, "   serving process RSS idle → peak", (p) => {
      const c = conc(r, p);
      return c ? `${fmtMiB(c.rssBefore)} → ${fmtMiB(c.rssPeak)}` : "–";
    }),
    row(
      r,
      "   RSS per session (peak − idle) / N, KiB",
      (p) => {
        const c = conc(r, p);
        return c ? (c.rssPeak - c.rssBefore) / c.sessions / 1024 : NaN;
      },
      (v) => v.toFixed(0),
      false,
    ),
    textRow(
      r,
      `5. ${
        fmtMiB(P.throughputBytes)
      } session: serving process RSS before → peak → after`,
      (p) => {
        const s = r.throughput.find((x) => x.path === p);
        return s
          ? `${fmtMiB(s.server.before)} → ${fmtMiB(s.server.peak)} → ${
            fmtMiB(s.server.after)
          }`
          : "–";
      },
    ),
    textRow(r, "   recorder RSS before → peak → after", (p) => {
      const s = r.throughput.find((x) => x.path === p)?.recorder;
      return s
        ? `${fmtMiB(s.before)} → ${fmtMiB(s.peak)} → ${fmtMiB(s.after)}`
        : "–";
    }),
    row(
      r,
      `6. kubectl exec -i ${
        fmtMiB(P.kubectlBytes)
      }: wall median (${P.kubectlRuns} runs)`,
      (p) => median(r.kubectl[p]?.wallMs ?? []),
      fmtMs,
    ),
    row(
      r,
      "   kubectl wall p99",
      (p) => percentile(r.kubectl[p]?.wallMs ?? [], 99),
      fmtMs,
    ),
    textRow(r, "   kubectl failures / client-go retries", (p) => {
      const k = r.kubectl[p];
      return k ? `${k.failures.length} / ${k.retries}` : "–";
    }),
  );
  return rows;
}

/**
 * The targets, each with what was measured on the recorded-to-disk path
 * (the others are in the main table).
 * @param r Results.
 * @returns Rows.
 */
export function targets(r: BenchResults): TargetRow[] {
  const out: TargetRow[] = [];
  const has = (p: PathName) => r.paths.includes(p);
  const rec: PathName = "execgate+disk";
  if (has(rec) && has("direct") && has("kubectl-proxy")) {
    const d = mbps(r, "direct");
    const k = mbps(r, "kubectl-proxy");
    const v = mbps(r, rec);
    out.push({
      target: "recorded-to-disk throughput ≥ 0.8× direct and ≥ kubectl proxy",
      measured: `${v.toFixed(0)} MB/s = ${fmtRatio(v, d)} direct, ${
        fmtRatio(v, k)
      } kubectl proxy`,
      met: v >= 0.8 * d && v >= k,
    });
  }
  if (has("direct")) {
    const base99 = percentile(r.latency.direct ?? [], 99);
    const baseSetup = median(r.setup.direct?.firstByte ?? []);
    const execPaths = r.paths.filter((p) => p.startsWith("execgate"));
    const added99 = execPaths.map((p) =>
      [p, percentile(r.latency[p] ?? [], 99) - base99] as const
    );
    out.push({
      target: "added p99 interactive latency < 1 ms",
      measured: added99.map(([p, v]) => `${LABEL[p]} +${fmtMs(v)}`).join(
        ", ",
      ),
      met: added99.every(([, v]) => v < 1),
    });
    const addedSetup = execPaths.map((p) =>
      [p, median(r.setup[p]?.firstByte ?? []) - baseSetup] as const
    );
    out.push({
      target: "added setup time < 10 ms (median)",
      measured: addedSetup.map(([p, v]) => `${LABEL[p]} +${fmtMs(v)}`).join(
        ", ",
      ),
      met: addedSetup.every(([, v]) => v < 10),
    });
  }
  const c = conc(r, rec);
  if (c) {
    out.push({
      target:
        `${c.sessions} concurrent recorded sessions: all complete, recordings verified, proxy RSS < 256 MiB`,
      measured: `${c.completed}/${c.sessions} complete, ${
        c.recordings?.verified ?? 0
      }/${c.sessions} recordings verified, peak ${fmtMiB(c.rssPeak)}`,
      met: c.completed === c.sessions &&
        c.recordings?.verified === c.sessions && c.rssPeak < 256 * 2 ** 20,
    });
  }
  const long = r.throughput.find((s) => s.path === rec);
  if (long) {
    const growth = long.server.peak - long.server.before;
    const recGrowth = long.recorder
      ? long.recorder.peak - long.recorder.before
      : 0;
    out.push({
      target: `flat memory over a ${
        fmtMiB(r.params.throughputBytes)
      } recorded session (peak − idle < 64 MiB, proxy and recorder)`,
      measured: `proxy +${fmtMiB(growth)}, recorder +${fmtMiB(recGrowth)}`,
      met: growth < 64 * 2 ** 20 && recGrowth < 64 * 2 ** 20,
    });
  }
  return out;
}

/**
 * Renders rows as a Markdown table.
 * @param rows Rows, the first being the header.
 * @returns The table text.
 */
export function markdownTable(rows: string[][]): string {
  const [head, ...body] = rows;
  if (!head) return "";
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [
    line(head),
    line(head.map(() => "---")),
    ...body.map(line),
  ].join("\n");
}

/**
 * The targets as a Markdown table.
 * @param t Target rows.
 * @returns The table text.
 */
export function targetsTable(t: TargetRow[]): string {
  return markdownTable([
    ["target", "measured", "result"],
    ...t.map((x) => [
      x.target,
      x.measured,
      x.met === undefined ? "–" : x.met ? "met" : "**missed**",
    ]),
  ]);
}

/**
 * The header of `BENCHMARKS.md`: machine, date, command, settings.
 * @param m Machine facts.
 * @param r Results.
 * @param command The exact command line.
 * @param date ISO date and time.
 * @param seconds Total run time.
 * @param code The code measured, e.g. `commit abc1234`.
 * @returns Markdown.
 */
export function runFacts(
  m: Machine,
  r: BenchResults,
  command: string,
  date: string,
  seconds: number,
  code: string,
): string {
  const tuning = Object.keys(r.tuning).length
    ? Object.entries(r.tuning).map(([k, v]) => `\`${k}: ${v}\``).join(", ")
    : "none (product defaults)";
  return [
    `- **Machine:** ${m.nproc} CPUs (\`nproc\`), ${
      (m.memTotalBytes / 2 ** 30).toFixed(1)
    } GiB memory, CPU model "${m.cpuModel}" (/proc/cpuinfo), ${m.kernel}, \`ulimit -n\` ${m.fdLimit}`,
    `- **Software:** Deno ${m.deno} (V8 ${m.v8}), kubectl ${m.kubectl}`,
    `- **Date:** ${date}; the run took ${(seconds / 60).toFixed(1)} min`,
    `- **Command:** \`${command}\` (all processes on 127.0.0.1)`,
    `- **Code:** ${code}`,
    `- **Settings changed from the product defaults:** ${tuning}`,
  ].join("\n");
}
