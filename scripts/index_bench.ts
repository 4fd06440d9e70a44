/**
 * Bench of the recording index (not a test): N generated recordings with
 * realistic distributions and ~2 KB of text each, written through the
 * storage API (a `DiskStorage` in a temp folder: evidence, manifest, text,
 * as an upload and the text indexer leave them), then indexed by
 * `reindex` (what `execgate recorder reindex` runs) into a SqliteIndex (a
 * file in a temp folder) and, with `--postgres`, a PostgresIndex (a
 * throwaway PostgreSQL 15, `src/testing/postgres_server.ts`); then the
 * latency of list queries per filter kind, of full-text searches, and of
 * the puts of new live recordings on top of the N.
 *
 * ```
 * npx -y deno@2 run -A scripts/index_bench.ts [--n 100000] [--postgres] [--no-sqlite]
 *   [--direct] [--batch 500] [--storage-dir DIR] [--index-dir DIR]
 *   [--queries 200] [--live 1000] [--seed 1] [--slow ms]
 * ```
 *
 * `--direct` skips storage and puts the generated recordings straight into
 * the index, `--batch` at a time through `putMany` (`--batch 1`: one `put`
 * and one `putText` each, two transactions per recording). `--storage-dir`
 * keeps the generated storage (and reuses it on the next run with the same
 * `--n` and `--seed`); `--index-dir` keeps the SQLite file likewise (a run
 * with the same `--n`, `--seed`, `--direct` and `--batch` queries it again
 * instead of rebuilding it; the live recordings are removed at the end).
 *
 * Each phase runs in its own process, so each one's peak RSS (`VmHWM`) is
 * its own: the generator, the reindex (storage's `list()` and the batches),
 * and the recorder answering queries (the index file opened anew, as a
 * restarted recorder opens it; storage is not opened there, so the figure is
 * the index's and the runtime's, not storage's). For PostgreSQL the RSS is
 * the client side only.
 *
 * Distributions (seeded, so every run sees the same data): 90 days of
 * sessions; 500 users and 40 CI tags picked with a Zipf-like skew (a tenth
 * of sessions come from tagged CI devices, without a user), 1–3 hosts per
 * user, 60 namespaces × 4–20 pods, 6 container names, ~40 command lines,
 * exit 0 mostly; statuses 90 % complete, 7 % partial, 3 % refused, the
 * newest 0.1 % recording (through storage these are `partial`: the process
 * that wrote them stopped with their uploads open, and recovery says so). A
 * text is log-like lines from a 6,000-word vocabulary (60 common terminal
 * words first, then words of one to three of ~1,700 syllables; picked with
 * a skew), paths, numbers and request ids unique to the recording; the
 * evidence is a header record, the text as stdout records and an end record.
 *
 * Queries (limit 50, the first page unless said): each kind's values are
 * drawn uniformly from the values that exist, so rare users and pods count
 * as much as popular ones. `q` is 200 needles: a quarter frequent words, a
 * quarter rare words, a quarter ids that occur in exactly one text, a
 * quarter phrases of two words; `q2` is two-character needles. Then
 * `--live` new recordings each go through the upload path's calls: `put`
 * (live), `put` (finished), `putText`.
 *
 * Prints a JSON summary, then a markdown table: p50/p99/max per kind, the
 * write and reindex rates, the file size, and the RSS of each phase.
 * `--slow ms` logs every query slower than that to stderr.
 *
 * @module
 */

import { SqliteIndex } from "../src/recorder/index/sqlite_index.ts";
import { PostgresIndex } from "../src/recorder/index/postgres_index.ts";
import type {
  IndexEntry,
  RecordingIndex,
} from "../src/recorder/index/recording_index.ts";
import { reindex } from "../src/recorder/index/reindex.ts";
import { encodeCursor } from "../src/recorder/index/_cursor.ts";
import { DiskStorage } from "../src/recorder/disk_storage.ts";
import { parseRecordingId } from "../src/recorder/recording_id.ts";
import type { RecordingQuery } from "../src/recorder/query.ts";
import type {
  RecordingManifest,
  RecordingStatus,
} from "../src/recorder/storage.ts";
import type { CastHeader } from "../src/recording/wire.ts";
import { encodeRecord, RecordType } from "../src/protocol/records.ts";
import { jsonLogger } from "../src/log.ts";
import { startPostgres } from "../src/testing/postgres_server.ts";

interface Args {
  n: number;
  slowMs: number;
  postgres: boolean;
  sqlite: boolean;
  direct: boolean;
  batch: number;
  queries: number;
  live: number;
  seed: number;
  storageDir?: string;
  indexDir?: string;
  /** Internal: the phase a child process runs. */
  child?: "generate" | "reindex" | "query";
  /** Internal: `sqlite` or `postgres`. */
  backend?: string;
  /** Internal: the SQLite file or the PostgreSQL URL. */
  target?: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    n: 100_000,
    slowMs: Infinity,
    postgres: false,
    sqlite: true,
    direct: false,
    batch: 500,
    queries: 200,
    live: 1000,
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
    const str = () => {
      const v = argv[++i];
      if (v === undefined || v === "") {
        throw new RangeError(`Argument ${JSON.stringify(k)} needs a value`);
      }
      return v;
    };
    if (k === "--n") a.n = num();
    else if (k === "--queries") a.queries = num();
    else if (k === "--live") a.live = num();
    else if (k === "--seed") a.seed = num();
    else if (k === "--slow") a.slowMs = num();
    else if (k === "--batch") a.batch = num();
    else if (k === "--postgres") a.postgres = true;
    else if (k === "--no-sqlite") a.sqlite = false;
    else if (k === "--direct") a.direct = true;
    else if (k === "--storage-dir") a.storageDir = str();
    else if (k === "--index-dir") a.indexDir = str();
    else if (k === "--backend") a.backend = str();
    else if (k === "--target") a.target = str();
    else if (k === "--child") {
      const v = str();
      if (v !== "generate" && v !== "reindex" && v !== "query") {
        throw new RangeError(`Unknown phase ${JSON.stringify(v)}`);
      }
      a.child = v;
    } else throw new RangeError(`Unknown argument ${JSON.stringify(k)}`);
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
/** Splits a text into about `parts` pieces at line ends. */
function pieces(text: string, parts: number): string[] {
  const out: string[] = [];
  const size = Math.ceil(text.length / parts);
  let at = 0;
  while (at < text.length) {
    const nl = text.indexOf("\n", at + size);
    const end = nl < 0 ? text.length : nl + 1;
    out.push(text.slice(at, end));
    at = end;
  }
  return out;
}

/** What the generator did. */
interface GenerateResult {
  n: number;
  seed: number;
  seconds: number;
  perSecond: number;
  storageMiB: number;
  files: number;
  peakMiB: number;
}

const MARKER = "bench-storage.json";
const INDEX_MARKER = "bench-index.json";

/**
 * Writes N recordings through the storage API, as an upload and the text
 * indexer do: `create` with the header record, the output as stdout
 * records, the end record, `finish` with the final manifest, `writeText`.
 */
async function generate(
  world: World,
  args: Args,
  dir: string,
): Promise<GenerateResult> {
  const storage = new DiskStorage({ dir });
  const enc = new TextEncoder();
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= args.n) return;
      const { manifest, text } = recording(world, args.seed, i, args.n);
      const id = parseRecordingId(manifest.id);
      if (id === undefined) {
        throw new Error(
          `Generated an invalid id ${JSON.stringify(manifest.id)}`,
        );
      }
      const live: RecordingManifest = {
        ...manifest,
        status: "recording",
        castBytes: 0,
      };
      delete live.end;
      delete live.finishedAt;
      const startUs = manifest.startedAt * 1000;
      const w = await storage.create(
        id,
        live,
        encodeRecord(
          RecordType.HEADER,
          startUs,
          enc.encode(JSON.stringify(manifest.header)),
        ),
      );
      let us = 0;
      for (const piece of pieces(text, 4)) {
        us += 1_000_000 + Math.floor(manifest.castBytes % 997) * 1000;
        await w.write(encodeRecord(RecordType.STDOUT, us, enc.encode(piece)));
      }
      // The newest were live when their recorder stopped: recovery finds
      // them partial (and derives their text).
      const final: RecordingManifest = manifest.status === "recording"
        ? {
          ...live,
          status: "partial",
          partialReason:
            "the recording has no final manifest (its upload stopped)",
        }
        : manifest;
      if (final.end !== undefined) {
        await w.write(
          encodeRecord(
            RecordType.END,
            us + 1000,
            enc.encode(JSON.stringify(final.end)),
          ),
        );
      }
      await w.finish(final);
      await storage.writeText(id, text);
      if ((i + 1) % 100_000 === 0) {
        console.error(
          `storage: ${i + 1} written in ${
            Math.round((performance.now() - t0) / 1000)
          } s`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  const seconds = (performance.now() - t0) / 1000;
  await storage.close();
  const du = await new Deno.Command("du", { args: ["-sk", dir] }).output();
  const kib = Number(new TextDecoder().decode(du.stdout).split("\t")[0]);
  return {
    n: args.n,
    seed: args.seed,
    seconds: Math.round(seconds * 10) / 10,
    perSecond: Math.round(args.n / seconds),
    storageMiB: Math.round(kib / 1024),
    files: 3 * args.n,
    peakMiB: rss().peakMiB,
  };
}

/** The generated storage in `dir`: reused when its marker says it is ours. */
async function ensureStorage(
  args: Args,
  dir: string,
): Promise<GenerateResult & { reused: boolean }> {
  const marker = await Deno.readTextFile(`${dir}/${MARKER}`).then(
    (t) => JSON.parse(t) as GenerateResult,
    () => undefined,
  );
  if (marker !== undefined) {
    if (marker.n === args.n && marker.seed === args.seed) {
      return { ...marker, reused: true };
    }
    throw new Error(
      `Cannot use the storage in ${
        JSON.stringify(dir)
      }: it holds ${marker.n} recordings of seed ${marker.seed}, not ${args.n} of seed ${args.seed}; remove it or pick another --storage-dir`,
    );
  }
  await Deno.mkdir(dir, { recursive: true });
  for await (const _ of Deno.readDir(dir)) {
    throw new Error(
      `Cannot generate recordings in ${
        JSON.stringify(dir)
      }: it is not empty and holds no ${MARKER}`,
    );
  }
  const generated = await phase(args, "generate", [
    "--storage-dir",
    dir,
  ]) as GenerateResult;
  await Deno.writeTextFile(`${dir}/${MARKER}`, JSON.stringify(generated));
  return { ...generated, reused: false };
}

async function openIndex(args: Args): Promise<RecordingIndex> {
  if (args.backend === "sqlite") return new SqliteIndex(args.target!);
  if (args.backend === "postgres") {
    return await PostgresIndex.open(args.target!, { max: 1 });
  }
  throw new RangeError(`Unknown backend ${JSON.stringify(args.backend)}`);
}

/** What loading the index did. */
interface LoadResult {
  mode: string;
  recordings: number;
  texts: number;
  seconds: number;
  perSecond: number;
  /** `storage.list()`, included in `seconds`. */
  listSeconds?: number;
  /** Reading the texts (`textOf`), included in `seconds`. */
  textSeconds?: number;
  /** In `putMany` (or `put` and `putText`), included in `seconds`. */
  indexSeconds: number;
  /** Closing the index afterwards (SQLite: `PRAGMA optimize`). */
  closeSeconds: number;
  memoryBefore: Memory;
  memoryAfter: Memory;
  /** An earlier run's index (`--index-dir`), queried again. */
  reused?: boolean;
}

/** A DiskStorage whose `list()` is timed. */
class TimedStorage extends DiskStorage {
  listMs = 0;
  override async list(): Promise<RecordingManifest[]> {
    const t0 = performance.now();
    const all = await super.list();
    this.listMs = performance.now() - t0;
    return all;
  }
}

/** Fills the index: `reindex` from storage, or straight (`--direct`). */
async function loadPhase(world: World, args: Args): Promise<LoadResult> {
  const memoryBefore = rss();
  const index = await openIndex(args);
  let indexMs = 0;
  for (const name of ["put", "putText", "putMany"] as const) {
    const call = index[name].bind(index) as (...a: unknown[]) => Promise<void>;
    (index as unknown as Record<string, unknown>)[name] = async (
      ...a: unknown[]
    ) => {
      const t = performance.now();
      try {
        return await call(...a);
      } finally {
        indexMs += performance.now() - t;
      }
    };
  }
  const t0 = performance.now();
  let recordings = 0;
  let texts = 0;
  let listSeconds: number | undefined;
  let textMs = 0;
  let mode: string;
  if (args.direct) {
    mode = args.batch === 1
      ? "direct, put and putText each"
      : `direct, putMany of ${args.batch}`;
    let entries: IndexEntry[] = [];
    for (let i = 0; i < args.n; i++) {
      const { manifest, text } = recording(world, args.seed, i, args.n);
      const withText = manifest.status !== "recording";
      if (args.batch === 1) {
        await index.put(manifest);
        if (withText) await index.putText(manifest.id, text);
      } else {
        entries.push(withText ? { manifest, text } : { manifest });
        if (entries.length >= args.batch) {
          await index.putMany(entries);
          entries = [];
        }
      }
      recordings++;
      if (withText) texts++;
      if ((i + 1) % 100_000 === 0) {
        console.error(
          `${index.describe}: ${i + 1} put in ${
            Math.round((performance.now() - t0) / 1000)
          } s`,
        );
      }
    }
    if (entries.length > 0) await index.putMany(entries);
  } else {
    mode = `reindex from DiskStorage, putMany of ${args.batch}`;
    const storage = new TimedStorage({ dir: args.storageDir! });
    const r = await reindex(
      storage,
      index,
      async (id) => {
        const t = performance.now();
        try {
          return await storage.readText(parseRecordingId(id)!);
        } finally {
          textMs += performance.now() - t;
        }
      },
      {
        batch: args.batch,
        progressEvery: 100_000,
        log: jsonLogger("index-bench"),
      },
    );
    await storage.close();
    recordings = r.recordings;
    texts = r.texts;
    listSeconds = Math.round(storage.listMs / 100) / 10;
  }
  const seconds = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  await index.close();
  return {
    mode,
    recordings,
    texts,
    seconds: Math.round(seconds * 10) / 10,
    perSecond: Math.round(recordings / seconds),
    ...(listSeconds !== undefined ? { listSeconds } : {}),
    ...(args.direct ? {} : { textSeconds: Math.round(textMs / 100) / 10 }),
    indexSeconds: Math.round(indexMs / 100) / 10,
    closeSeconds: Math.round((performance.now() - t1) / 100) / 10,
    memoryBefore,
    memoryAfter: rss(),
  };
}

/** p50/p99/max of one call of the upload path, ms. */
interface Timing {
  p50: number;
  p99: number;
  max: number;
}

function timing(times: number[]): Timing {
  times.sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    p50: round(pct(times, 0.5)),
    p99: round(pct(times, 0.99)),
    max: round(times[times.length - 1] ?? NaN),
  };
}

/** What the recorder answering queries measured. */
interface QueryResult {
  memoryBefore: Memory;
  memoryAfterQueries: Memory;
  memoryAfterLive: Memory;
  kinds: KindResult[];
  live: {
    count: number;
    put: Timing;
    putFinished: Timing;
    putText: Timing;
    remove: Timing;
  };
}

/**
 * The index opened anew: the queries, then `--live` new recordings through
 * the upload path's calls (newer than every one of the N).
 */
async function queryPhase(world: World, args: Args): Promise<QueryResult> {
  const memoryBefore = rss();
  const index = await openIndex(args);
  try {
    const kinds = await measure(index, world, args);
    const memoryAfterQueries = rss();
    const put: number[] = [];
    const putFinished: number[] = [];
    const putText: number[] = [];
    for (let j = 0; j < args.live; j++) {
      const { manifest, text } = recording(
        world,
        args.seed,
        args.n + j,
        args.n,
      );
      let t = performance.now();
      await index.put(manifest);
      put.push(performance.now() - t);
      const final: RecordingManifest = {
        ...manifest,
        status: "complete",
        end: { exitCode: 0 } as RecordingManifest["end"],
        finishedAt: manifest.startedAt + 60_000,
      };
      t = performance.now();
      await index.put(final);
      putFinished.push(performance.now() - t);
      t = performance.now();
      await index.putText(final.id, text);
      putText.push(performance.now() - t);
    }
    // Gone again (as retention removes), so a kept index stays the N.
    const remove: number[] = [];
    for (let j = 0; j < args.live; j++) {
      const { manifest } = recording(world, args.seed, args.n + j, args.n);
      const t = performance.now();
      await index.remove(manifest.id);
      remove.push(performance.now() - t);
    }
    return {
      memoryBefore,
      memoryAfterQueries,
      memoryAfterLive: rss(),
      kinds,
      live: {
        count: args.live,
        put: timing(put),
        putFinished: timing(putFinished),
        putText: timing(putText),
        remove: timing(remove),
      },
    };
  } finally {
    await index.close();
  }
}

/** Runs a phase in a child process of this script; its last stdout line. */
async function phase(
  args: Args,
  name: NonNullable<Args["child"]>,
  extra: string[],
): Promise<unknown> {
  const argv = [
    "run",
    "-A",
    import.meta.filename!,
    "--child",
    name,
    "--n",
    String(args.n),
    "--seed",
    String(args.seed),
    "--queries",
    String(args.queries),
    "--live",
    String(args.live),
    "--batch",
    String(args.batch),
    ...(Number.isFinite(args.slowMs) ? ["--slow", String(args.slowMs)] : []),
    ...(args.direct ? ["--direct"] : []),
    ...extra,
  ];
  const out = await new Deno.Command(Deno.execPath(), {
    args: argv,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) {
    throw new Error(`Bench phase ${name} failed (exit code ${out.code})`);
  }
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return JSON.parse(lines[lines.length - 1]!);
}

async function sizeOf(paths: string[]): Promise<number> {
  let n = 0;
  for (const p of paths) n += await Deno.stat(p).then((s) => s.size, () => 0);
  return n;
}

interface BackendResult {
  backend: string;
  n: number;
  load: LoadResult;
  fileMiB?: number;
  queries: QueryResult;
  targets: Record<string, boolean>;
}

function targets(kinds: KindResult[], mem: { peakMiB: number }) {
  const lists = kinds.filter((k) => !k.kind.startsWith("q"));
  const text = kinds.filter((k) => k.kind.startsWith("q"));
  return {
    "list p99 <= 50 ms (every filter)": lists.every((k) => k.p99 <= 50),
    "full text p99 <= 200 ms": text.every((k) => k.p99 <= 200),
    "RSS <= 128 MiB (peak of the recorder answering queries)":
      mem.peakMiB <= 128,
  };
}

async function backend(
  args: Args,
  name: "sqlite" | "postgres",
  storageDir: string | undefined,
): Promise<BackendResult> {
  const extra = [
    "--backend",
    name,
    ...(storageDir !== undefined ? ["--storage-dir", storageDir] : []),
  ];
  if (name === "sqlite") {
    // --index-dir keeps the file, and a later run with the same recordings
    // and mode queries it again instead of rebuilding it.
    const dir = args.indexDir ??
      await Deno.makeTempDir({ prefix: "execgate-index-bench-" });
    const path = `${dir}/index.sqlite`;
    const marker = `${dir}/${INDEX_MARKER}`;
    const key = JSON.stringify({
      n: args.n,
      seed: args.seed,
      direct: args.direct,
      batch: args.batch,
    });
    try {
      await Deno.mkdir(dir, { recursive: true });
      const kept = await Deno.readTextFile(marker).then(
        (t) => JSON.parse(t) as { key: string; load: LoadResult },
        () => undefined,
      );
      let load: LoadResult;
      if (kept !== undefined && kept.key === key) {
        load = { ...kept.load, reused: true };
      } else {
        await Deno.remove(marker).catch(() => {});
        for (const side of ["", "-wal", "-shm"]) {
          await Deno.remove(path + side).catch(() => {});
        }
        load = await phase(args, "reindex", [
          ...extra,
          "--target",
          path,
        ]) as LoadResult;
        if (args.indexDir !== undefined) {
          await Deno.writeTextFile(marker, JSON.stringify({ key, load }));
        }
      }
      const fileMiB = Math.round(
        await sizeOf([path, `${path}-wal`]) / 1048576,
      );
      const queries = await phase(args, "query", [
        ...extra,
        "--target",
        path,
      ]) as QueryResult;
      return {
        backend: name,
        n: args.n,
        load,
        fileMiB,
        queries,
        targets: targets(queries.kinds, queries.memoryAfterLive),
      };
    } finally {
      if (args.indexDir === undefined) {
        await Deno.remove(dir, { recursive: true });
      }
    }
  }
  const pg = await startPostgres();
  try {
    const load = await phase(args, "reindex", [...extra, "--target", pg.url]);
    // Fresh statistics, as autovacuum would have gathered by then.
    const admin = (await import("postgres")).default(pg.url, { max: 1 });
    await admin`VACUUM ANALYZE`;
    await admin.end();
    const queries = await phase(args, "query", [
      ...extra,
      "--target",
      pg.url,
    ]) as QueryResult;
    return {
      backend: name,
      n: args.n,
      load: load as LoadResult,
      queries,
      targets: targets(queries.kinds, queries.memoryAfterLive),
    };
  } finally {
    await pg.close();
  }
}

function markdown(
  r: BackendResult,
  generated: (GenerateResult & { reused: boolean }) | undefined,
): string {
  const l = r.load;
  const q = r.queries;
  const t = (x: Timing) => `${x.p50}/${x.p99}/${x.max}`;
  return `\n### ${r.backend}, ${r.n.toLocaleString("en")} recordings\n\n` +
    (generated
      ? `- storage: ${generated.perSecond} recordings/s written through DiskStorage (${generated.seconds} s${
        generated.reused ? ", an earlier run's, reused" : ""
      }), ${generated.storageMiB} MiB on disk in ${generated.files} files, generator peak RSS ${generated.peakMiB} MiB\n`
      : "") +
    `- load (${l.mode}${
      l.reused ? ", an earlier run's file, reused" : ""
    }): ${l.perSecond}/s (${l.seconds} s${
      l.listSeconds !== undefined
        ? `: storage.list() ${l.listSeconds} s, reading texts ${l.textSeconds} s,`
        : ":"
    } in the index ${l.indexSeconds} s; close ${l.closeSeconds} s), ${l.texts} texts` +
    (r.fileMiB !== undefined ? `, file ${r.fileMiB} MiB` : "") +
    `, peak RSS ${l.memoryAfter.peakMiB} MiB\n` +
    `- recorder answering queries: RSS before opening the index ${q.memoryBefore.rssMiB} MiB, after the queries ${q.memoryAfterQueries.rssMiB} MiB (JS heap ${q.memoryAfterQueries.heapMiB} MiB), after the live puts ${q.memoryAfterLive.rssMiB} MiB, peak ${q.memoryAfterLive.peakMiB} MiB\n` +
    `- ${q.live.count} new recordings through the upload path's calls, p50/p99/max ms: put (live) ${
      t(q.live.put)
    }, put (finished) ${t(q.live.putFinished)}, putText ${
      t(q.live.putText)
    }, remove ${t(q.live.remove)}\n\n` +
    "| query (limit 50) | p50 ms | p99 ms | max ms | mean items |\n" +
    "|---|---:|---:|---:|---:|\n" +
    q.kinds.map((k) =>
      `| ${k.kind} | ${k.p50} | ${k.p99} | ${k.max} | ${k.meanItems} |`
    ).join("\n") + "\n\n" +
    Object.entries(r.targets).map(([t, ok]) =>
      `- ${t}: ${ok ? "met" : "missed"}`
    ).join("\n");
}

async function main() {
  const args = parseArgs(Deno.args);
  const world = new World(rng(args.seed));
  if (args.child !== undefined) {
    const out = args.child === "generate"
      ? await generate(world, args, args.storageDir!)
      : args.child === "reindex"
      ? await loadPhase(world, args)
      : await queryPhase(world, args);
    console.log(JSON.stringify(out));
    return;
  }
  let storageDir = args.storageDir;
  let temporary = false;
  let generated: (GenerateResult & { reused: boolean }) | undefined;
  const results: BackendResult[] = [];
  try {
    if (!args.direct) {
      if (storageDir === undefined) {
        storageDir = await Deno.makeTempDir({
          prefix: "execgate-index-bench-storage-",
        });
        temporary = true;
      }
      generated = await ensureStorage(args, storageDir);
    }
    if (args.sqlite) results.push(await backend(args, "sqlite", storageDir));
    if (args.postgres) {
      results.push(await backend(args, "postgres", storageDir));
    }
  } finally {
    if (temporary && storageDir !== undefined) {
      await Deno.remove(storageDir, { recursive: true });
    }
  }
  console.log(JSON.stringify({ args, generated, results }, null, 2));
  for (const r of results) console.log(markdown(r, generated));
}

if (import.meta.main) await main();
