/**
 * Turns benchmark results into one table (paths as columns, ratio to direct
 * beside each value), a targets table (ratios to `kubectl proxy`, met or
 * missed), and `BENCHMARKS.md`.
 *
 * @module
 */

import type { ConcurrencyResult } from "./concurrency.ts";
import type { FrameParseResult } from "./frame_parse.ts";
import type { StdinPressureResult } from "./stdin_pressure.ts";
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
    settleMs?: number;
    stdinRate?: number;
    stdinSeconds?: number;
  };
  tuning: StackTuning;
  throughput: ThroughputSample[];
  latency: Record<string, number[]>;
  setup: Record<string, SetupSamples>;
  concurrency: ConcurrencyResult[];
  kubectl: Record<string, KubectlSamples>;
  /** Stdin back-pressure figure, per path. */
  stdin?: StdinPressureResult[];
  /** In-process decoder figure. */
  frameParse?: FrameParseResult;
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

/** Median CPU seconds per GiB of the serving process plus the recorder. */
function cpuPerGiB(r: BenchResults, p: PathName): number {
  return median(
    r.throughput.filter((s) => s.path === p && s.bytes > 0).map((s) =>
      (s.serverCpu + (s.recorderCpu ?? 0)) / (s.bytes / 2 ** 30)
    ),
  );
}

/** Median ms of the slower in-process decoder. */
function frameParseMs(r: BenchResults): number {
  const f = r.frameParse;
  return f ? Math.max(median(f.frameMs), median(f.channelMs)) : NaN;
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
      "   CPU s per GiB, serving process + recorder",
      (p) => cpuPerGiB(r, p),
      (v) => v.toFixed(2),
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
    textRow(r, "   failed sessions", (p) => {
      const c = conc(r, p);
      return c ? String(c.sessions - c.completed) : "–";
    }),
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
      "   serving process RSS settled after the burst vs idle before",
      (p) => {
        const c = conc(r, p);
        return c?.rssSettled
          ? `${fmtMiB(c.rssSettled)} vs ${fmtMiB(c.rssBefore)} (${
            fmtRatio(c.rssSettled, c.rssBefore)
          }, ${(c.settleMs / 1000).toFixed(0)} s after)`
          : "–";
      },
    ),
    textRow(
      r,
      `   stdin: pod reads ${((P.stdinRate ?? 0) / 1e6).toFixed(1)} MB/s for ${
        P.stdinSeconds ?? 0
      } s, client offers 1 GiB: serving process RSS growth (taken by the socket)`,
      (p) => {
        const x = r.stdin?.find((s) => s.path === p);
        return x
          ? `+${fmtMiB(Math.max(0, x.rssPeak - x.rssBefore))} (${
            (x.offered / 1e6).toFixed(0)
          } MB)`
          : "–";
      },
    ),
    textRow(
      r,
      "   16 MiB WebSocket frame in 256-byte chunks: parse ms, frame / channel parser (in-process)",
      (p) => {
        const f = r.frameParse;
        return f && p === "execgate"
          ? `${median(f.frameMs).toFixed(1)} / ${
            median(f.channelMs).toFixed(1)
          } (${f.copiesPerByte.toFixed(2)} bytes copied per byte)`
          : "–";
      },
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
 * The targets, as ratios to `kubectl proxy` in the same run ("recorded" is
 * the recorded-to-disk path; the others are in the main table).
 * @param r Results.
 * @returns Rows; `met` is undefined when a figure is missing.
 */
export function targets(r: BenchResults): TargetRow[] {
  const out: TargetRow[] = [];
  const K: PathName = "kubectl-proxy";
  const rec: PathName = "execgate+disk";
  const plain: PathName = "execgate";
  const add = (target: string, measured: string, met: boolean) =>
    out.push({
      target,
      measured,
      met: measured.includes("NaN") ? undefined : met,
    });
  const ratio = (v: number, base: number) =>
    `${fmtRatio(v, base)} kubectl proxy`;

  const kMbps = mbps(r, K);
  const recMbps = mbps(r, rec);
  const plainMbps = mbps(r, plain);
  add(
    "recorded-to-disk throughput ≥ 0.5× kubectl proxy (aim 1.0×)",
    `${recMbps.toFixed(0)} MB/s = ${ratio(recMbps, kMbps)}`,
    recMbps >= 0.5 * kMbps,
  );
  const kCpu = cpuPerGiB(r, K);
  const recCpu = cpuPerGiB(r, rec);
  const plainCpu = cpuPerGiB(r, plain);
  add(
    "recorded: proxy + recorder CPU s per GiB ≤ 4× kubectl proxy",
    `${recCpu.toFixed(2)} s = ${ratio(recCpu, kCpu)}`,
    recCpu <= 4 * kCpu,
  );
  add(
    "unrecorded throughput ≥ 0.9× kubectl proxy",
    `${plainMbps.toFixed(0)} MB/s = ${ratio(plainMbps, kMbps)}`,
    plainMbps >= 0.9 * kMbps,
  );
  add(
    "unrecorded CPU s per GiB ≤ 1.5× kubectl proxy",
    `${plainCpu.toFixed(2)} s = ${ratio(plainCpu, kCpu)}`,
    plainCpu <= 1.5 * kCpu,
  );
  const k99 = percentile(r.latency[K] ?? [], 99);
  const rec99 = percentile(r.latency[rec] ?? [], 99);
  add(
    "recorded echo RTT p99 ≤ 1.5× kubectl proxy",
    `${fmtMs(rec99)} = ${ratio(rec99, k99)}`,
    rec99 <= 1.5 * k99,
  );
  const kSetup = percentile(r.setup[K]?.firstByte ?? [], 99);
  const recSetup = percentile(r.setup[rec]?.firstByte ?? [], 99);
  add(
    "recorded setup → first byte p99 ≤ kubectl proxy + 3 ms",
    `${fmtMs(recSetup)} = kubectl proxy ${recSetup >= kSetup ? "+" : "−"}${
      fmtMs(Math.abs(recSetup - kSetup))
    }`,
    recSetup <= kSetup + 3,
  );
  const c = conc(r, rec);
  const kc = conc(r, K);
  if (c) {
    const n = c.sessions;
    add(
      `${n} recorded sessions at once: 0 failed`,
      `${n - c.completed} failed`,
      c.completed === n,
    );
    add(
      `${n} recorded sessions: ${n}/${n} recordings complete with matching SHA-256`,
      `${c.recordings?.verified ?? 0}/${n}`,
      c.recordings?.verified === n,
    );
    if (kc) {
      add(
        `${n} recorded sessions: wall time ≤ 2× kubectl proxy`,
        `${c.seconds.toFixed(1)} s = ${ratio(c.seconds, kc.seconds)}`,
        c.seconds <= 2 * kc.seconds,
      );
    }
    const perSession = (c.rssPeak - c.rssBefore) / n;
    add(
      `${n} recorded sessions: proxy RSS growth ≤ 128 KiB per session`,
      `${(perSession / 1024).toFixed(0)} KiB`,
      perSession <= 128 * 1024,
    );
    add(
      `${n} recorded sessions: proxy RSS ${
        (c.settleMs / 1000).toFixed(0)
      } s after within 20 % of before`,
      `${fmtMiB(c.rssSettled)} vs ${fmtMiB(c.rssBefore)} (${
        fmtRatio(c.rssSettled, c.rssBefore)
      })`,
      Math.abs(c.rssSettled - c.rssBefore) <= 0.2 * c.rssBefore,
    );
  }
  const stdin = (r.stdin ?? []).filter((s) => s.path.startsWith("execgate"));
  if (stdin.length) {
    const worst = Math.max(...stdin.map((s) => s.rssPeak - s.rssBefore));
    add(
      "stdin into a slow pod: proxy RSS growth ≤ 64 MiB (every execgate path)",
      stdin.map((s) =>
        `${LABEL[s.path]} +${fmtMiB(Math.max(0, s.rssPeak - s.rssBefore))}`
      ).join(", "),
      worst <= 64 * 2 ** 20,
    );
  }
  if (r.frameParse) {
    const ms = frameParseMs(r);
    add(
      "one 16 MiB frame in 256-byte chunks parsed in ≤ 50 ms",
      `${ms.toFixed(1)} ms (slower of the frame and channel parsers)`,
      ms <= 50,
    );
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
