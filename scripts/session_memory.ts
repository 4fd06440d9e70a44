/**
 * Measures the proxy's memory per recorded session: 200 fail-closed
 * WebSocket sessions through the real relay and recording tap, idle and then
 * active (1 MiB of stdout each, read by the clients), with the recorder and
 * the upstream in a child process so only the proxy side is measured.
 *
 * ```
 * npx -y deno@2 run -A --unstable-net scripts/session_memory.ts [sessions] [bytesPerSession]
 * ```
 *
 * Prints RSS and heap growth in total and per session, and the active
 * phase's throughput and the proxy process's CPU time per GiB. With
 * `EXECGATE_REAL_RECORDER=1` the recorder is the real one (`serveRecorder`,
 * disk storage in a temporary folder) instead of the in-memory fake (which
 * copies its whole buffer per chunk: use it for memory only). Not a test:
 * figures depend on the machine.
 *
 * @module
 */

import { encodeWsFrame } from "../src/k8s/ws_frame.ts";
import { connDuplex } from "../src/proxy/deno_socket.ts";
import { encodeRequestHead, relayUpgrade } from "../src/proxy/upgrade_relay.ts";
import { RecordingSession } from "../src/recording/recording_session.ts";
import { WindowBudget } from "../src/recording/window_budget.ts";
import { http1Fetch } from "../src/adapter/deno/http1_fetch.ts";

// As the proxy runs them: raw HTTP/1.1 uploads, one budget for all sessions.
const upload = http1Fetch();
const budget = new WindowBudget(64 * 1024 * 1024);
import { startFakeRecorder } from "../src/testing/fake_recorder.ts";
import { createHash } from "node:crypto";
import process from "node:process";

const enc = new TextEncoder();
/** `EXECGATE_UNRECORDED=1`: the same sessions without a recording tap. */
const UNRECORDED = Deno.env.get("EXECGATE_UNRECORDED") === "1";

async function child(bytes: number): Promise<void> {
  let recUrl: string;
  if (Deno.env.get("EXECGATE_REAL_RECORDER") === "1") {
    const { parseRecorderConfig, serveRecorder } = await import(
      "../src/recorder/mod.ts"
    );
    const dir = await Deno.makeTempDir({ prefix: "execgate-mem-" });
    const served = await serveRecorder(
      parseRecorderConfig({
        listen: { hostname: "127.0.0.1", port: 0 },
        auth: {
          uploaderTokens: ["t".repeat(24)],
          viewerTokens: ["v".repeat(24)],
        },
        storage: { kind: "disk", dir },
      }),
      {},
    );
    recUrl = served.url;
  } else recUrl = (await startFakeRecorder({ token: "t".repeat(24) })).url;
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log(
    JSON.stringify({ rec: recUrl, port: (l.addr as Deno.NetAddr).port }),
  );
  const frame = encodeWsFrame({
    opcode: 2,
    payload: new Uint8Array(16 * 1024 + 1).fill(0x61).fill(1, 0, 1),
  });
  for await (const conn of l) {
    (async () => {
      const buf = new Uint8Array(64 * 1024);
      let head = "";
      while (!head.includes("\r\n\r\n")) {
        const n = await conn.read(buf);
        if (n === null) return;
        head += new TextDecoder().decode(buf.subarray(0, n));
      }
      await conn.write(enc.encode(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n",
      ));
      // Any client byte starts the output.
      if (await conn.read(buf) === null) return;
      for (let sent = 0; sent < bytes; sent += 16 * 1024) {
        for (let off = 0; off < frame.length;) {
          off += await conn.write(frame.subarray(off));
        }
      }
      await conn.read(buf); // until the client closes
      conn.close();
    })().catch(() => {});
  }
}

function mib(n: number): string {
  return (n / 1024 / 1024).toFixed(1);
}

async function main(sessions: number, bytes: number): Promise<void> {
  const proc = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-net",
      import.meta.filename!,
      "--child",
      String(bytes),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const first = (await reader.read()).value!;
  const { rec, port } = JSON.parse(first.split("\n")[0]!);
  const head = encodeRequestHead("GET", "/exec", [["Host", "x"]]);
  const nativeSha256 = () => {
    const h = createHash("sha256");
    return {
      update: (d: Uint8Array) => h.update(d),
      hex: () => h.digest("hex"),
    };
  };
  const usage = () => Deno.memoryUsage();
  // Warm up the code paths with one session before the baseline.
  const clients: Deno.Conn[] = [];
  const relays: Promise<unknown>[] = [];
  const open = async (i: number) => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const [mine, peer] = await Promise.all([
      l.accept(),
      Deno.connect({
        hostname: "127.0.0.1",
        port: (l.addr as Deno.NetAddr).port,
      }),
    ]);
    l.close();
    const tap = UNRECORDED ? undefined : await RecordingSession.start({
      sessionId: `mem-${i}`,
      identity: { hostname: "h", nodeId: "n", userId: "u", groups: [] },
      kubernetes: {
        podName: "p",
        namespace: "n",
        container: "c",
        sessionType: "exec",
      },
      argv: ["sh"],
      tty: false,
      proxyHostname: "mem",
      recorderUrls: [rec],
      enforce: true,
      uploaderToken: "t".repeat(24),
      digest: nativeSha256,
      fetch: upload,
      limits: { budget },
      logger: { info() {}, warn() {}, error() {}, debug() {} } as never,
    });
    relays.push(relayUpgrade({
      client: connDuplex(mine),
      clientHead: new Uint8Array(0),
      requestHead: head,
      connect: async () =>
        connDuplex(await Deno.connect({ hostname: "127.0.0.1", port })),
      tap,
    }));
    const buf = new Uint8Array(4096);
    let got = "";
    while (!got.includes("\r\n\r\n")) {
      const n = await peer.read(buf);
      got += new TextDecoder().decode(buf.subarray(0, n ?? 0));
    }
    clients.push(peer);
  };
  (globalThis as { gc?: () => void }).gc?.();
  const base = usage();
  for (let i = 0; i < sessions; i++) await open(i);
  await new Promise((r) => setTimeout(r, 500));
  const idle = usage();
  const stdin = encodeWsFrame({
    opcode: 2,
    payload: new Uint8Array([0, 0x78]),
    mask: new Uint8Array([1, 2, 3, 4]),
  });
  let peak = idle.rss;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const sampler = setInterval(() => {
    peak = Math.max(peak, usage().rss);
  }, 20);
  const received = await Promise.all(clients.map(async (c) => {
    await c.write(stdin);
    const buf = new Uint8Array(256 * 1024);
    let got = 0;
    const want = bytes + Math.ceil(bytes / (16 * 1024)) * 4;
    while (got < want) {
      const n = await c.read(buf);
      if (n === null) break;
      got += n;
    }
    return got;
  }));
  clearInterval(sampler);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const active = usage();
  const moved = received.reduce((a, b) => a + b, 0);
  const per = (a: number, b: number) => ((a - b) / sessions / 1024).toFixed(0);
  console.log(JSON.stringify({
    sessions,
    recorded: !UNRECORDED,
    bytesPerSession: bytes,
    receivedBytes: moved,
    rssMiB: {
      base: mib(base.rss),
      idle: mib(idle.rss),
      peakActive: mib(peak),
      afterActive: mib(active.rss),
    },
    activeMBps: (moved / 1e6 / seconds).toFixed(0),
    cpuSecondsPerGiB: moved === 0
      ? undefined
      : ((cpu.user + cpu.system) / 1e6 / (moved / 2 ** 30)).toFixed(2),
    perSessionKiB: {
      idleRss: per(idle.rss, base.rss),
      idleHeap: per(idle.heapUsed, base.heapUsed),
      idleOutsideHeap: per(idle.rss - idle.heapUsed, base.rss - base.heapUsed),
      peakActiveRss: per(peak, base.rss),
    },
  }));
  for (const c of clients) c.close();
  const results = await Promise.allSettled(relays);
  const reasons = new Map<string, number>();
  for (const r of results) {
    const k = r.status === "fulfilled"
      ? `${(r.value as { reason: string }).reason} ${
        (r.value as { detail?: string }).detail ?? ""
      }`
      : String(r.reason);
    reasons.set(k, (reasons.get(k) ?? 0) + 1);
  }
  console.log(JSON.stringify({ ended: Object.fromEntries(reasons) }));
  proc.kill();
  await proc.status;
}

if (Deno.args[0] === "--child") await child(Number(Deno.args[1]));
else {
  await main(Number(Deno.args[0] ?? 200), Number(Deno.args[1] ?? 1024 * 1024));
}
