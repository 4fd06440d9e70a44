/**
 * API events bench (issue 12): the latency `GET /api/v1/namespaces/default/pods`
 * gets through the proxy with events off (bob), fail open (dave) and fail
 * closed (alice) against a real recorder process (disk, SQLite index), modes
 * interleaved request by request so drift hits all three alike; then the
 * throughput of fail-closed requests with every event stored, from
 * `--concurrency` fetch loops.
 *
 * ```
 * nice deno run -A --unstable-net scripts/events_bench.ts --requests 2000 --seconds 10
 * ```
 *
 * Uses the end-to-end stack of `tests/` (the simulated cluster, tokens
 * identity, `tests/testdata/events_policy.hujson`).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startStack, USERS } from "../tests/_harness.ts";
import {
  spawnRecorderProcess,
  UPLOADER_TOKEN,
  VIEWER_TOKEN,
} from "../tests/_recorder.ts";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "2000" },
    seconds: { type: "string", default: "10" },
    concurrency: { type: "string", default: "16" },
  },
});
const requests = Number(values.requests);
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);

// The recorder is its own process (disk storage, the SQLite index), as in a
// deployment: its CPU is not the proxy's.
const recDir = await Deno.makeTempDir({ prefix: "execgate-events-bench-" });
await Deno.writeTextFile(
  `${recDir}/recorder.json`,
  JSON.stringify({
    listen: { hostname: "127.0.0.1", port: 0 },
    auth: { uploaderTokens: [UPLOADER_TOKEN], viewerTokens: [VIEWER_TOKEN] },
    storage: { kind: "disk", dir: `${recDir}/data` },
  }),
);
// BENCH_CPU_PROF=DIR: a V8 CPU profile of the recorder process (run the
// bench itself with --cpu-prof for the proxy's).
const profDir = Deno.env.get("BENCH_CPU_PROF");
const spawned = await spawnRecorderProcess(
  `${recDir}/recorder.json`,
  profDir
    ? [
      "--cpu-prof",
      `--cpu-prof-dir=${profDir}`,
      "--cpu-prof-name=recorder.cpuprofile",
    ]
    : [],
);
const rec = {
  url: spawned.url,
  async close() {
    spawned.child.kill("SIGTERM");
    await spawned.child.status;
    await Deno.remove(recDir, { recursive: true });
  },
};
const stack = await startStack({
  recorderUrls: [rec.url],
  recorderToken: UPLOADER_TOKEN,
  policyFile: new URL("../tests/testdata/events_policy.hujson", import.meta.url)
    .pathname,
});
const client = Deno.createHttpClient({ caCerts: [stack.proxyCaPem] });
const path = "/api/v1/namespaces/default/pods";

async function get(token: string): Promise<number> {
  const t = performance.now();
  const res = await fetch(stack.proxy.url + path, {
    headers: { authorization: `Bearer ${token}`, accept: "application/json" },
    client,
  });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`status ${res.status}`);
  return performance.now() - t;
}

const modes = [
  ["none", USERS.bob],
  ["fail open", USERS.dave],
  ["fail closed", USERS.alice],
] as const;
const times = new Map<string, number[]>(modes.map(([m]) => [m, []]));
// Warm up (connections, the events stream, JIT).
for (let i = 0; i < 50; i++) for (const [, tok] of modes) await get(tok);
for (let i = 0; i < requests; i++) {
  for (const [m, tok] of modes) times.get(m)!.push(await get(tok));
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}
const base = times.get("none")!;
console.log(`sequential, ${requests} requests per mode, interleaved`);
for (const [m] of modes) {
  const xs = times.get(m)!;
  console.log(
    `${m.padEnd(12)} p50 ${pct(xs, 0.5).toFixed(2)} ms  p99 ${
      pct(xs, 0.99).toFixed(2)
    } ms  added p50 ${
      (pct(xs, 0.5) - pct(base, 0.5)).toFixed(2)
    } ms  added p99 ${(pct(xs, 0.99) - pct(base, 0.99)).toFixed(2)} ms`,
  );
}

// Throughput: fail closed, every event acknowledged (stored and indexed).
const countEvents = async () => {
  let n = 0;
  let cursor = "";
  for (;;) {
    const res = await fetch(
      `${rec.url}/v1/events?limit=1000&user=alice%40example.com${
        cursor ? `&cursor=${cursor}` : ""
      }`,
      { headers: { authorization: `Bearer ${VIEWER_TOKEN}` } },
    );
    const page = await res.json();
    n += page.items.length;
    if (!page.next) return n;
    cursor = encodeURIComponent(page.next);
  }
};
// Throughput of each mode from the same loops: the "none" run is the
// ceiling of this one process (client, proxy and simulated cluster).
const throughput = async (token: string) => {
  let done = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await get(token);
        done++;
      }
    }),
  );
  return done;
};
// CPU seconds of this process (client, proxy, cluster) and of the
// recorder's, from /proc (user + system, clock ticks of 10 ms).
const cpuOf = async (pid: number | "self") => {
  const f = (await Deno.readTextFile(`/proc/${pid}/stat`)).split(") ")[1]!
    .split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
};
for (const [m, tok] of modes) {
  const before = m === "fail closed" ? await countEvents() : 0;
  const cpu0 = [await cpuOf("self"), await cpuOf(spawned.child.pid)];
  const done = await throughput(tok);
  const cpu1 = [await cpuOf("self"), await cpuOf(spawned.child.pid)];
  const stored = m === "fail closed"
    ? `; ${(await countEvents()) - before} events stored for ${done} requests`
    : "";
  const perReq = (i: number) =>
    ((cpu1[i]! - cpu0[i]!) * 1e6 / Math.max(1, done)).toFixed(0);
  console.log(
    `throughput ${m}: ${
      (done / seconds).toFixed(0)
    } requests/s over ${seconds} s from ${concurrency} loops${stored}; CPU µs per request: this process ${
      perReq(0)
    } (${(cpu1[0]! - cpu0[0]!).toFixed(1)} s), recorder ${perReq(1)} (${
      (cpu1[1]! - cpu0[1]!).toFixed(1)
    } s)`,
  );
}

client.close();
await stack.close();
await rec.close();
