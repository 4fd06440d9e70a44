import assert from "node:assert/strict";
import type { ConcurrencyResult } from "./concurrency.ts";
import { type BenchResults, mainTable, targets } from "./report.ts";
import { type PathName, PATHS } from "./stack.ts";
import type { ThroughputSample } from "./throughput.ts";

const GiB = 2 ** 30;

function tp(path: PathName, mbps: number, cpu: number): ThroughputSample {
  const m = { before: 0, peak: 0, after: 0 };
  return {
    path,
    rep: 0,
    bytes: GiB,
    seconds: GiB / mbps / 1e6,
    mbps,
    complete: true,
    serverCpu: cpu,
    recorderCpu: path === "execgate+disk" ? cpu : 0,
    server: m,
  };
}

function conc(path: PathName, seconds: number, extra = {}): ConcurrencyResult {
  return {
    path,
    sessions: 1000,
    completed: 1000,
    peakOpen: 1000,
    seconds,
    streamSeconds: seconds,
    rssBefore: 100 * 2 ** 20,
    rssPeak: 150 * 2 ** 20,
    rssSettled: 110 * 2 ** 20,
    settleMs: 10_000,
    recordings: { found: 1000, unfinished: 0, verified: 1000, problems: [] },
    errors: [],
    ...extra,
  };
}

function results(): BenchResults {
  const lat = (ms: number) => Array.from({ length: 100 }, () => ms);
  return {
    paths: [...PATHS],
    params: {
      throughputBytes: GiB,
      throughputReps: 1,
      roundTrips: 100,
      setupSessions: 100,
      concurrentSessions: 1000,
      concurrentBytes: 2 ** 20,
      kubectlRuns: 0,
      kubectlBytes: 0,
      settleMs: 10_000,
      stdinRate: 1e6,
      stdinSeconds: 10,
    },
    tuning: {},
    throughput: [
      tp("direct", 1000, 0.5),
      tp("kubectl-proxy", 600, 1),
      tp("execgate", 580, 1.4),
      tp("execgate+disk", 250, 1.5), // 3 s with the recorder
      tp("execgate+s3", 200, 2),
    ],
    latency: Object.fromEntries(
      PATHS.map((p) => [p, lat(p === "execgate+disk" ? 2 : 1)]),
    ),
    setup: Object.fromEntries(
      PATHS.map((
        p,
      ) => [p, {
        firstByte: lat(p === "execgate+disk" ? 5 : 3),
        upgraded: lat(1),
      }]),
    ),
    concurrency: [conc("kubectl-proxy", 1), conc("execgate+disk", 3)],
    kubectl: {},
    stdin: PATHS.map((path) => ({
      path,
      offered: 10e6,
      rssBefore: 100 * 2 ** 20,
      rssPeak: (path === "execgate+s3" ? 200 : 110) * 2 ** 20,
      rssAfter: 100 * 2 ** 20,
    })),
    frameParse: {
      bytes: 16 * 2 ** 20,
      chunk: 256,
      frameMs: [20, 30, 40],
      channelMs: [30, 30, 30],
      copiesPerByte: 2,
    },
  };
}

Deno.test("targets compares execgate with kubectl proxy of the same run", () => {
  const t = targets(results());
  const met = (prefix: string) =>
    t.find((x) => x.target.startsWith(prefix))?.met;
  assert.equal(met("recorded-to-disk throughput"), false); // 0.42x
  assert.equal(met("recorded: proxy + recorder CPU"), true); // 3x
  assert.equal(met("unrecorded throughput"), true); // 0.97x
  assert.equal(met("unrecorded CPU"), true); // 1.4x
  assert.equal(met("recorded echo RTT p99"), false); // 2x
  assert.equal(met("recorded setup"), true); // +2 ms
  assert.equal(met("1000 recorded sessions at once: 0 failed"), true);
  assert.equal(met("1000 recorded sessions: wall time"), false); // 3x
  assert.equal(met("1000 recorded sessions: proxy RSS growth"), true); // 51 KiB
  assert.equal(met("1000 recorded sessions: proxy RSS 10 s after"), true); // +10 %
  assert.equal(met("stdin into a slow pod"), false); // S3 proxy +100 MiB
  assert.equal(met("one 16 MiB frame"), true); // 30 ms
});

Deno.test("mainTable has one column per path and the new rows", () => {
  const rows = mainTable(results());
  assert.ok(rows.every((r) => r.length === PATHS.length + 1));
  const names = rows.map((r) => r[0]!);
  for (
    const want of [
      "CPU s per GiB, serving process + recorder",
      "failed sessions",
      "settled after the burst",
      "stdin:",
      "16 MiB WebSocket frame",
    ]
  ) assert.ok(names.some((n) => n.includes(want)), want);
});
