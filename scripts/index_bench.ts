/**
 * Bench of the recording index (not a test): N generated recordings with
 * realistic distributions and ~2 KB of text each, put into a SqliteIndex
 * (a file in a temp folder) and, with `--postgres`, a PostgresIndex (a
 * throwaway PostgreSQL 15, `src/testing/postgres_server.ts`), then the
 * latency of list queries per filter kind and of full-text searches.
 *
 * ```
 * npx -y deno@2 run -A --unstable-net scripts/index_bench.ts [--n 100000] [--postgres] [--no-sqlite] [--queries 200] [--seed 1] [--slow ms]
 * ```
 *
 * Distributions (seeded, so every run sees the same data): 90 days of
 * sessions; 500 users and 40 CI tags picked with a Zipf-like skew (a tenth
 * of sessions come from tagged CI devices, without a user), 1–3 hosts per
 * user, 60 namespaces × 4–20 pods, 6 container names, ~40 command lines,
 * exit 0 mostly; statuses 90 % complete, 7 % partial, 3 % refused, the
 * newest 0.1 % recording. A text is log-like lines from a 6,000-word
 * vocabulary (60 common terminal words first, then words of one to three
 * of ~1,700 syllables; picked with a skew), paths, numbers and request ids
 * unique to the recording.
 *
 * Queries (limit 50, the first page unless said): each kind's values are
 * drawn uniformly from the values that exist, so rare users and pods count
 * as much as popular ones. `q` is 200 needles: a quarter frequent words, a
 * quarter rare words, a quarter ids that occur in exactly one text, a
 * quarter phrases of two words; `q2` is two-character needles.
 *
 * Prints a JSON summary, then a markdown table: p50/p99/max per kind, the
 * insert rate, the file size, and the process RSS (before opening the
 * index, after the inserts, after the queries, and the peak `VmHWM`; for
 * PostgreSQL that is the client side only). Run SQLite and PostgreSQL in
 * separate processes (`--no-sqlite`) for a peak RSS of one alone. `--slow ms` logs
 * every query slower than that to stderr.
 *
 * @module
 */

import { SqliteIndex } from "../src/recorder/index/sqlite_index.ts";
import { PostgresIndex } from "../src/recorder/index/postgres_index.ts";
import type { RecordingIndex } from "../src/recorder/index/recording_index.ts";
import { encodeCursor } from "../src/recorder/index/_cursor.ts";
import type { RecordingQuery } from "../src/recorder/query.ts";
import type {
  RecordingManifest,
  RecordingStatus,
} from "../src/recorder/storage.ts";
import type { CastHeader } from "../src/recording/wire.ts";
import { startPostgres } from "../src/testing/postgres_server.ts";

interface Args {
  n: number;
  slowMs: number;
  postgres: boolean;
  sqlite: boolean;
  queries: number;
  seed: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    n: 100_000,
    slowMs: Infinity,
    postgres: false,
    sqlite: true,
    queries: 200,
    seed: 1,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1) {
        throw new RangeError(
          `Argument ${JSON.stringify(k)} needs a positive integer, got ${
            JSON.stringify(argv[i])
          }`,
        );
      }
      return v;
    };
    if (k === "--n") a.n = num();
    else if (k === "--queries") a.queries = num();
    else if (k === "--seed") a.seed = num();
    else if (k === "--slow") a.slowMs = num();
    else if (k === "--postgres") a.postgres = true;
    else if (k === "--no-sqlite") a.sqlite = false;
    else throw new RangeError(`Unknown argument ${JSON.stringify(k)}`);
  }
  return a;
}

/** mulberry32: a small seeded PRNG. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Picks with a skew: index ⌊len·r^skew⌋ (skew 1 is uniform). */
function skewed<T>(r: () => number, list: readonly T[], skew = 2.5): T {
  return list[Math.floor(list.length * r() ** skew)]!;
}

function uniform<T>(r: () => number, list: readonly T[]): T {
  return list[Math.floor(list.length * r())]!;
}

/** Syllables: onset × vowel × coda, about 1,700 of them. */
const SYLLABLES = ((): string[] => {
  const onsets = [
    ..."bcdfghjklmnprstvwz",
    "ch",
    "sh",
    "th",
    "st",
    "tr",
    "pl",
    "gr",
    "",
  ];
  const vowels = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "y"];
  const codas = ["", "n", "r", "s", "t", "l", "ng", "ck"];
  return onsets.flatMap((o) =>
    vowels.flatMap((v) => codas.map((c) => o + v + c))
  );
})();

/** The words a terminal prints most, mixed into every text. */
const COMMON = (
  "the to of and a in is it for on error warning info debug failed ok done " +
  "connection refused timeout GET POST 200 404 500 user root file not found " +
  "permission denied starting stopped ready listening port pid process " +
  "memory disk cpu total used free request response status version"
).split(" ");

/** The fixed world the recordings are drawn from. */
class World {
  readonly vocab: string[] = [];
  readonly users: string[] = [];
  readonly hosts = new Map<string, string[]>();
  readonly tags: string[] = [];
  readonly namespaces: string[] = [];
  readonly pods = new Map<string, string[]>();
  readonly containers = [
    "main",
    "app",
    "sidecar",
    "istio-proxy",
    "init",
    "debug",
  ];
  readonly commands = [
    "sh",
    "bash",
    "bash -l",
    "sh -c 'cat /etc/os-release'",
    "ls -la /var/log",
    "cat /etc/resolv.conf",
    "tail -n 200 /var/log/app.log",
    "top -b -n 1",
    "ps aux",
    "env",
    "printenv PATH",
    "psql -U postgres -c 'select 1'",
    "redis-cli info",
    "mysql -e 'show processlist'",
    "curl -s localhost:8080/healthz",
    "wget -qO- http://localhost:9090/metrics",
    "python3 manage.py shell",
    "node -e 'console.log(process.versions)'",
    "java -version",
    "df -h",
    "du -sh /data",
    "netstat -tlnp",
    "ss -s",
    "dig kubernetes.default",
    "nslookup api.internal",
    "vim /etc/nginx/nginx.conf",
    "grep -r ERROR /var/log",
    "kill -HUP 1",
    "rm -rf /tmp/cache",
    "tar czf /tmp/dump.tgz /data",
    "pg_dump app > /tmp/app.sql",
    "etcdctl endpoint health",
    "nginx -s reload",
    "uptime",
    "free -m",
    "id",
    "whoami",
    "date",
    "cat /proc/meminfo",
    "journalctl -u app --since today",
  ];
  readonly commandNeedles = [
    "sh",
    "bash",
    "cat",
    "log",
    "psql",
    "redis",
    "curl",
    "/etc/",
    "python",
    "grep",
    "tail -n",
    "select 1",
    "healthz",
    "pg_dump",
    "etcdctl",
    "DF -H",
    "nomatch-cmd",
  ];
  readonly exits = [0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 126, 127, 130, 137, 143];

  constructor(r: () => number) {
    this.vocab.push(...COMMON);
    const seen = new Set<string>(COMMON);
    while (this.vocab.length < 6000) {
      let w = "";
      const parts = 1 + Math.floor(r() * 3);
      for (let i = 0; i < parts; i++) w += uniform(r, SYLLABLES);
      if (w.length >= 3 && !seen.has(w)) {
        seen.add(w);
        this.vocab.push(w);
      }
    }
    for (let i = 0; i < 500; i++) {
      const u = `${uniform(r, this.vocab)}.${i}@example.com`;
      this.users.push(u);
      const n = 1 + Math.floor(r() * 3);
      this.hosts.set(
        u,
        Array.from({ length: n }, (_, j) => `${u.split("@")[0]}-dev${j}`),
      );
    }
    for (let i = 0; i < 40; i++) this.tags.push(`tag:ci-${i}`);
    for (let i = 0; i < 60; i++) {
      const ns = i < 4
        ? ["default", "kube-system", "payments", "monitoring"][i]!
        : `team-${uniform(r, this.vocab)}-${i}`;
      this.namespaces.push(ns);
      const pods = 4 + Math.floor(r() * 17);
      this.pods.set(
        ns,
        Array.from(
          { length: pods },
          (_, j) =>
            `${uniform(r, this.vocab)}-${
              Math.floor(r() * 0xfffff).toString(16)
            }-${j}`,
        ),
      );
    }
  }

  allHosts(): string[] {
    return [...this.hosts.values()].flat().concat([
      "ci-runner-a",
      "ci-runner-b",
    ]);
  }

  allPods(): string[] {
    return [...this.pods.values()].flat();
  }
}

const DAY = 86_400;
const END = 1_790_000_000;
const START = END - 90 * DAY;

/** Recording `i` of `n`: a manifest and its text (deterministic per seed). */
function recording(
  world: World,
  seed: number,
  i: number,
  n: number,
): { manifest: RecordingManifest; text: string } {
  const r = rng(seed * 1_000_003 + i);
  const t = Math.round((START + (i / n) * 90 * DAY + r() * 60) * 1000) / 1000;
  const ci = r() < 0.1;
  const user = ci ? undefined : skewed(r, world.users, 2);
  const host = ci
    ? uniform(r, ["ci-runner-a", "ci-runner-b"])
    : uniform(r, world.hosts.get(user!)!);
  const ns = skewed(r, world.namespaces, 2);
  const pod = uniform(r, world.pods.get(ns)!);
  const command = skewed(r, world.commands, 2);
  const status: RecordingStatus = i >= n - Math.max(1, Math.floor(n / 1000))
    ? "recording"
    : r() < 0.9
    ? "complete"
    : r() < 0.7
    ? "partial"
    : "refused";
  const sessionId = Array.from(
    { length: 20 },
    () => "abcdefghijklmnopqrstuvwxyz234567"[Math.floor(r() * 32)],
  ).join("");
  const d = new Date(t * 1000);
  const id = `${d.getUTCFullYear()}/${
    String(d.getUTCMonth() + 1).padStart(2, "0")
  }/${String(d.getUTCDate()).padStart(2, "0")}/${sessionId}`;
  const header = {
    version: 2,
    width: 80,
    height: 24,
    timestamp: t,
    command,
    argv: command.split(" "),
    tty: r() < 0.6,
    srcNode: host,
    srcNodeID: `n-${host}`,
    ...(ci
      ? { srcNodeTags: [skewed(r, world.tags, 1.5)] }
      : { srcNodeUser: user, srcNodeUserID: `u-${user}` }),
    kubernetes: {
      podName: pod,
      namespace: ns,
      container: skewed(r, world.containers, 2),
      sessionType: r() < 0.95 ? "exec" : "attach",
    },
    proxy: "proxy-1",
    sessionId,
  } as CastHeader;
  const startedAt = Math.round(t * 1000) + 20;
  const manifest: RecordingManifest = {
    id,
    sessionId,
    status,
    format: "records",
    header,
    ...(status === "recording" ? {} : {
      end: {
        exitCode: uniform(r, world.exits),
      } as RecordingManifest["end"],
      finishedAt: startedAt + 60_000,
    }),
    castBytes: 4000 + Math.floor(r() * 100_000),
    startedAt,
    updatedAt: startedAt + 60_000,
  };
  let text = "";
  let line = 0;
  while (text.length < 2000) {
    const kind = r();
    if (kind < 0.1) {
      text += `/var/lib/${skewed(r, world.vocab)}/${
        skewed(r, world.vocab)
      }.log: ${Math.floor(r() * 100000)} bytes\n`;
    } else if (kind < 0.15) {
      text += `request id=${id.slice(11)}-${line} status=${
        uniform(r, [200, 200, 200, 404, 500])
      }\n`;
    } else {
      const words = 4 + Math.floor(r() * 10);
      const ws: string[] = [];
      for (let w = 0; w < words; w++) ws.push(skewed(r, world.vocab, 3));
      text += ws.join(" ") + "\n";
    }
    line++;
  }
  return { manifest, text };
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

interface Memory {
  rssMiB: number;
  peakMiB: number;
  heapMiB: number;
}

function rss(): Memory {
  const status = Deno.readTextFileSync("/proc/self/status");
  const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
  const mib = (b: number) => Math.round(b / 1048576 * 10) / 10;
  const m = Deno.memoryUsage();
  return {
    rssMiB: mib(m.rss),
    peakMiB: hwm ? mib(Number(hwm[1]) * 1024) : NaN,
    heapMiB: mib(m.heapUsed),
  };
}

type Kind = { name: string; make: (r: () => number) => RecordingQuery };

function kinds(world: World, args: Args): Kind[] {
  const hosts = world.allHosts();
  const pods = world.allPods();
  const recent = END - 30 * DAY;
  const limit = 50;
  const textOf = (i: number) => recording(world, args.seed, i, args.n).text;
  const idOf = (i: number) =>
    recording(world, args.seed, i, args.n).manifest.id.slice(11);
  return [
    { name: "latest (no filter)", make: () => ({ limit }) },
    { name: "user", make: (r) => ({ limit, user: uniform(r, world.users) }) },
    { name: "host", make: (r) => ({ limit, host: uniform(r, hosts) }) },
    { name: "tag", make: (r) => ({ limit, tag: uniform(r, world.tags) }) },
    {
      name: "namespace",
      make: (r) => ({ limit, namespace: uniform(r, world.namespaces) }),
    },
    { name: "pod", make: (r) => ({ limit, pod: uniform(r, pods) }) },
    {
      name: "container",
      make: (r) => ({ limit, container: uniform(r, world.containers) }),
    },
    {
      name: "command (substring)",
      make: (r) => ({ limit, command: uniform(r, world.commandNeedles) }),
    },
    {
      name: "from/to (1 day)",
      make: (r) => {
        const from = START + Math.floor(r() * 89) * DAY;
        return { limit, from, to: from + DAY };
      },
    },
    {
      name: "exit",
      make: (r) => ({
        limit,
        exit: uniform(r, [0, 1, 2, 126, 127, 130, 137, 143, 3]),
      }),
    },
    {
      name: "status",
      make: (r) => ({
        limit,
        status: uniform(r, ["complete", "partial", "refused", "recording"]),
      }),
    },
    {
      name: "user+status+from",
      make: (r) => ({
        limit,
        user: uniform(r, world.users),
        status: "complete",
        from: recent,
      }),
    },
    {
      name: "namespace+pod+container",
      make: (r) => {
        const ns = uniform(r, world.namespaces);
        return {
          limit,
          namespace: ns,
          pod: uniform(r, world.pods.get(ns)!),
          container: uniform(r, world.containers),
        };
      },
    },
    {
      name: "cursor (a page deep in the list)",
      make: (r) => ({
        limit,
        cursor: encodeCursor({ t: START + r() * 90 * DAY, id: "~" }),
      }),
    },
    {
      name: "q (full text)",
      make: (r) => {
        const k = r();
        if (k < 0.25) return { limit, q: world.vocab[Math.floor(r() * 30)]! };
        if (k < 0.5) return { limit, q: uniform(r, world.vocab.slice(3000)) };
        if (k < 0.75) {
          return { limit, q: `id=${idOf(Math.floor(r() * args.n))}` };
        }
        // Two consecutive words of some text.
        const words = textOf(Math.floor(r() * args.n)).split(/\s+/);
        const w = Math.floor(r() * (words.length - 2));
        return { limit, q: `${words[w]} ${words[w + 1]}` };
      },
    },
    {
      name: "q2 (two characters)",
      make: (r) => ({
        limit,
        q: uniform(r, ["ka", "zz", "qx", "lo", "40", "=5"]),
      }),
    },
    {
      name: "q + user",
      make: (r) => ({
        limit,
        user: uniform(r, world.users),
        q: world.vocab[Math.floor(r() * 100)]!,
      }),
    },
  ];
}

interface KindResult {
  kind: string;
  p50: number;
  p99: number;
  max: number;
  meanItems: number;
}

async function measure(
  index: RecordingIndex,
  world: World,
  args: Args,
): Promise<KindResult[]> {
  const out: KindResult[] = [];
  for (const kind of kinds(world, args)) {
    const r = rng(
      args.seed * 7919 + kind.name.length * 31 + kind.name.charCodeAt(0),
    );
    const times: number[] = [];
    let items = 0;
    for (let i = 0; i < args.queries; i++) {
      const q = kind.make(r);
      const t0 = performance.now();
      const page = await index.query(q);
      const ms = performance.now() - t0;
      times.push(ms);
      if (ms > args.slowMs) {
        console.error(`slow: ${ms.toFixed(1)} ms ${JSON.stringify(q)}`);
      }
      items += page.items.length;
    }
    times.sort((a, b) => a - b);
    const round = (x: number) => Math.round(x * 100) / 100;
    out.push({
      kind: kind.name,
      p50: round(pct(times, 0.5)),
      p99: round(pct(times, 0.99)),
      max: round(times[times.length - 1]!),
      meanItems: Math.round(items / args.queries * 10) / 10,
    });
  }
  return out;
}

async function load(
  index: RecordingIndex,
  world: World,
  args: Args,
  concurrency: number,
): Promise<{ seconds: number; perSecond: number }> {
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= args.n) return;
      const { manifest, text } = recording(world, args.seed, i, args.n);
      await index.put(manifest);
      if (manifest.status !== "recording") {
        await index.putText(manifest.id, text);
      }
      if ((i + 1) % 100_000 === 0) {
        console.error(
          `${index.describe}: ${i + 1} put in ${
            Math.round((performance.now() - t0) / 1000)
          } s`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  return {
    seconds: Math.round(seconds * 10) / 10,
    perSecond: Math.round(args.n / seconds),
  };
}

async function sizeOf(paths: string[]): Promise<number> {
  let n = 0;
  for (const p of paths) n += await Deno.stat(p).then((s) => s.size, () => 0);
  return n;
}

interface BackendResult {
  backend: string;
  n: number;
  insert: { seconds: number; perSecond: number };
  fileMiB?: number;
  memoryBefore: Memory;
  memoryAfterInsert: Memory;
  memoryAfterQueries: Memory;
  kinds: KindResult[];
  targets: Record<string, boolean>;
}

function targets(kinds: KindResult[], mem: { peakMiB: number }) {
  const lists = kinds.filter((k) => !k.kind.startsWith("q"));
  const text = kinds.filter((k) => k.kind.startsWith("q"));
  return {
    "list p99 <= 50 ms (every filter)": lists.every((k) => k.p99 <= 50),
    "full text p99 <= 200 ms": text.every((k) => k.p99 <= 200),
    "RSS <= 128 MiB (peak)": mem.peakMiB <= 128,
  };
}

async function main() {
  const args = parseArgs(Deno.args);
  const world = new World(rng(args.seed));
  const results: BackendResult[] = [];
  if (args.sqlite) {
    const dir = await Deno.makeTempDir({ prefix: "execgate-index-bench-" });
    const path = `${dir}/index.sqlite`;
    try {
      const memoryBefore = rss();
      const index = new SqliteIndex(path);
      const insert = await load(index, world, args, 1);
      const memoryAfterInsert = rss();
      const kinds = await measure(index, world, args);
      const memoryAfterQueries = rss();
      const fileMiB = Math.round(
        await sizeOf([path, `${path}-wal`]) / 1048576,
      );
      await index.close();
      results.push({
        backend: "sqlite",
        n: args.n,
        insert,
        fileMiB,
        memoryBefore,
        memoryAfterInsert,
        memoryAfterQueries,
        kinds,
        targets: targets(kinds, memoryAfterQueries),
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
  if (args.postgres) {
    const pg = await startPostgres();
    try {
      const memoryBefore = rss();
      const index = await PostgresIndex.open(pg.url, { max: 8 });
      const insert = await load(index, world, args, 8);
      const memoryAfterInsert = rss();
      await index.close();
      // Fresh statistics, as autovacuum would have gathered by then.
      const again = await PostgresIndex.open(pg.url, { max: 1 });
      const admin = (await import("postgres")).default(pg.url, { max: 1 });
      await admin`VACUUM ANALYZE`;
      await admin.end();
      const kinds = await measure(again, world, args);
      const memoryAfterQueries = rss();
      await again.close();
      results.push({
        backend: "postgres",
        n: args.n,
        insert,
        memoryBefore,
        memoryAfterInsert,
        memoryAfterQueries,
        kinds,
        targets: targets(kinds, memoryAfterQueries),
      });
    } finally {
      await pg.close();
    }
  }
  console.log(JSON.stringify({ args, results }, null, 2));
  for (const r of results) {
    console.log(
      `\n### ${r.backend}, ${r.n.toLocaleString("en")} recordings\n\n` +
        `insert ${r.insert.perSecond}/s (${r.insert.seconds} s)` +
        (r.fileMiB !== undefined ? `, file ${r.fileMiB} MiB` : "") +
        `; RSS before opening the index ${r.memoryBefore.rssMiB} MiB, after insert ${r.memoryAfterInsert.rssMiB} MiB, after queries ${r.memoryAfterQueries.rssMiB} MiB (JS heap ${r.memoryAfterQueries.heapMiB} MiB), process peak ${r.memoryAfterQueries.peakMiB} MiB\n\n` +
        "| query (limit 50) | p50 ms | p99 ms | max ms | mean items |\n" +
        "|---|---:|---:|---:|---:|\n" +
        r.kinds.map((k) =>
          `| ${k.kind} | ${k.p50} | ${k.p99} | ${k.max} | ${k.meanItems} |`
        ).join("\n") + "\n\n" +
        Object.entries(r.targets).map(([t, ok]) =>
          `- ${t}: ${ok ? "met" : "missed"}`
        ).join("\n"),
    );
  }
}

if (import.meta.main) await main();
