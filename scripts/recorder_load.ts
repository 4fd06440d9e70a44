/**
 * Load on the recorder alone: N fail-closed recording sessions opened at once
 * (the product's `RecordingSession`, raw HTTP/1.1 uploads, one shared window
 * budget) against a real recorder (`serveRecorder`, disk storage in a
 * temporary folder) in a child process, each then sending `bytes` of stdout
 * through its gate while a reader drains what the gate releases.
 *
 * ```
 * npx -y deno@2 run -A --unstable-net scripts/recorder_load.ts [sessions] [bytesPerSession]
 * ```
 *
 * Prints when headers were accepted (p50/p99/max), the wall time, how the
 * sessions ended, and the recorder's CPU. Not a test: figures depend on the
 * machine. `EXECGATE_PROF=file` runs the recorder under V8's `--prof`.
 *
 * @module
 */

import { encodeWsFrame } from "../src/k8s/ws_frame.ts";
import { RecordingSession } from "../src/recording/recording_session.ts";
import { WindowBudget } from "../src/recording/window_budget.ts";
import { http1Fetch } from "../src/adapter/deno/http1_fetch.ts";
import { nodeSha256 } from "../src/recorder/serve.ts";

const TOKEN = "t".repeat(24);

async function child(): Promise<void> {
  const { parseRecorderConfig, serveRecorder } = await import(
    "../src/recorder/mod.ts"
  );
  const dir = await Deno.makeTempDir({ prefix: "execgate-load-" });
  const served = await serveRecorder(
    parseRecorderConfig({
      listen: { hostname: "127.0.0.1", port: 0 },
      auth: { uploaderTokens: [TOKEN], viewerTokens: ["v".repeat(24)] },
      storage: { kind: "disk", dir },
    }),
    {},
  );
  console.log(JSON.stringify({ rec: served.url, pid: Deno.pid }));
  await served.finished;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? NaN;
}

async function cpuOf(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function main(sessions: number, bytes: number): Promise<void> {
  const prof = Deno.env.get("EXECGATE_PROF");
  const proc = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-net",
      ...(prof
        ? [`--v8-flags=--prof,--logfile=${prof},--no-logfile-per-isolate`]
        : []),
      import.meta.filename!,
      "--child",
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const { rec, pid } = JSON.parse((await reader.read()).value!.split("\n")[0]!);
  const upload = http1Fetch();
  const budget = new WindowBudget(64 * 1024 * 1024);
  const chunk = 16 * 1024;
  const frame = encodeWsFrame({
    opcode: 2,
    payload: new Uint8Array(chunk + 1).fill(0x61).fill(1, 0, 1),
  });
  const cpu0 = await cpuOf(pid);
  const self0 = await cpuOf(Deno.pid);
  const t0 = performance.now();
  const accepted: number[] = [];
  const ends = new Map<string, number>();
  // EXECGATE_LOAD_PHASED=1: every header accepted first, then all stream at
  // once (the bench's concurrency phase); otherwise each streams as soon as
  // its header is accepted.
  const phased = Deno.env.get("EXECGATE_LOAD_PHASED") === "1";
  let release = () => {};
  const released = new Promise<void>((r) => release = r);
  let started = 0;
  await Promise.all(Array.from({ length: sessions }, async (_, i) => {
    let tap: RecordingSession;
    try {
      tap = await RecordingSession.start({
        sessionId: `load-${i}`,
        identity: { hostname: "h", nodeId: "n", userId: "u", groups: [] },
        kubernetes: {
          podName: "p",
          namespace: "n",
          container: "c",
          sessionType: "exec",
        },
        argv: ["sh"],
        tty: false,
        proxyHostname: "load",
        recorderUrls: [rec],
        enforce: true,
        uploaderToken: TOKEN,
        digest: nodeSha256,
        fetch: upload,
        limits: { budget },
        logger: { info() {}, warn() {}, error() {}, debug() {} } as never,
      }) as RecordingSession;
    } catch (e) {
      const k = `start: ${(e as Error).message.slice(-80)}`;
      ends.set(k, (ends.get(k) ?? 0) + 1);
      if (phased && ++started === sessions) release();
      return;
    }
    accepted.push(performance.now() - t0);
    if (phased) {
      if (++started === sessions) release();
      await released;
    }
    tap.upgraded("v5.channel.k8s.io");
    const gate = tap.upstreamGate();
    const drained = (async () => {
      let n = 0;
      for await (const c of gate.readable) n += c.length;
      return n;
    })();
    const w = gate.writable.getWriter();
    try {
      for (let sent = 0; sent < bytes; sent += chunk) await w.write(frame);
      await w.close();
    } catch { /* the gate ended the session */ }
    await drained.catch(() => 0);
    await tap.end("normal");
    const k = tap.abortedWith ? tap.abortedWith.slice(0, 60) : "complete";
    ends.set(k, (ends.get(k) ?? 0) + 1);
  }));
  const wall = (performance.now() - t0) / 1000;
  const cpu = (await cpuOf(pid)) - cpu0;
  console.log(JSON.stringify({
    sessions,
    bytesPerSession: bytes,
    wallSeconds: wall.toFixed(1),
    headerAcceptedMs: {
      p50: pct(accepted, 0.5).toFixed(0),
      p99: pct(accepted, 0.99).toFixed(0),
      max: Math.max(...accepted).toFixed(0),
    },
    recorderCpuSeconds: cpu.toFixed(1),
    uploaderCpuSeconds: ((await cpuOf(Deno.pid)) - self0).toFixed(1),
    ended: Object.fromEntries(ends),
  }));
  proc.kill();
  await proc.status;
}

if (Deno.args[0] === "--child") await child();
else {
  await main(Number(Deno.args[0] ?? 1000), Number(Deno.args[1] ?? 1 << 20));
}
