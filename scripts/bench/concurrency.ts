/**
 * Concurrency: N sessions of `execgate-gen BYTES` started at once on one
 * path. Counts sessions that completed, the most that were open at the same
 * time, the serving process's peak RSS, and for recorded paths checks every
 * recording (complete, stdout bytes and SHA-256).
 *
 * @module
 */

import { execPath, openSession } from "./exec_client.ts";
import { readMem, resetPeak, sampleRss } from "./proc_mem.ts";
import {
  fetchManifests,
  type RecordingCheck,
  recordingsFromLog,
  verifyRecordings,
  waitRecorderIdle,
} from "./recordings.ts";
import {
  type PathName,
  recorderOf,
  serverOf,
  type Stack,
  VIEWER_TOKEN,
} from "./stack.ts";

/** The outcome on one path. */
export interface ConcurrencyResult {
  path: PathName;
  sessions: number;
  /** Sessions with every byte and a `Success` status. */
  completed: number;
  /** Most sessions upgraded and not yet closed at one time. */
  peakOpen: number;
  /** First request → last close, seconds. */
  seconds: number;
  /** Release (all open) → last close, seconds. */
  streamSeconds: number;
  /** Sessions complete → recorder idle (every upload finalised), seconds. */
  finaliseSeconds?: number;
  /** Serving process RSS: idle before, peak. */
  rssBefore: number;
  rssPeak: number;
  /** Serving process RSS `settleMs` after the burst (recordings checked). */
  rssSettled: number;
  /** How long after the burst `rssSettled` was read, ms. */
  settleMs: number;
  /** Recorded paths: the recordings' check. */
  recordings?: RecordingCheck;
  /** Up to five session failures. */
  errors: string[];
}

/** Options of {@linkcode runConcurrency}. */
export interface ConcurrencyOptions {
  sessions: number;
  bytes: number;
  /** Longest wait for the recorder to finalise every upload. */
  finaliseTimeoutMs: number;
  /** Wait after the burst (and the recordings' check) before the settled RSS. */
  settleMs: number;
  log: (line: string) => void;
}

/**
 * Runs the concurrent sessions on one path.
 * @param stack The running stack.
 * @param path The path.
 * @param o Count and size.
 * @returns The outcome.
 */
export async function runConcurrency(
  stack: Stack,
  path: PathName,
  o: ConcurrencyOptions,
): Promise<ConcurrencyResult> {
  const server = stack.children[serverOf(path)]!;
  const recName = recorderOf(path);
  const recorder = recName ? stack.children[recName] : undefined;
  const rssBefore = (await readMem(server.pid)).rss;
  const reset = await resetPeak(server.pid);
  const sampler = sampleRss(server.pid, 50);
  const logFile = `${stack.dir}/logs/${serverOf(path)}.log`;
  const logStart = (await Deno.stat(logFile)).size;
  const t0 = performance.now();
  let open = 0;
  let peakOpen = 0;
  let completed = 0;
  const errors: string[] = [];
  const note = (e: string) => {
    if (errors.length < 5) errors.push(e.slice(0, 300));
  };
  const target = execPath(["execgate-gen", String(o.bytes)], { stdin: true });
  // Open every session first; their processes wait for the client's first
  // message, so all of them stream at the same time once released.
  const sessions = await Promise.all(
    Array.from({ length: o.sessions }, async () => {
      try {
        const s = await openSession(stack.endpoints[path], { path: target });
        open++;
        peakOpen = Math.max(peakOpen, open);
        return s;
      } catch (e) {
        note((e as Error).message);
        return undefined;
      }
    }),
  );
  const opened = performance.now();
  o.log(
    `concurrency ${path}: ${open} sessions open in ${
      ((opened - t0) / 1000).toFixed(1)
    } s; streaming`,
  );
  await Promise.all(sessions.map(async (s) => {
    if (!s) return;
    s.closeStdin();
    const r = await s.done;
    open--;
    if (r.stdoutBytes === o.bytes && r.status.includes("Success")) {
      completed++;
    } else note(`${r.stdoutBytes} bytes, status ${JSON.stringify(r.status)}`);
  }));
  const streamSeconds = (performance.now() - opened) / 1000;
  const seconds = (performance.now() - t0) / 1000;
  let recordings: RecordingCheck | undefined;
  let finaliseSeconds: number | undefined;
  if (recorder) {
    const t1 = performance.now();
    await waitRecorderIdle(recorder.ready.url, o.finaliseTimeoutMs).catch(
      (e) => note((e as Error).message),
    );
    finaliseSeconds = (performance.now() - t1) / 1000;
    // The proxy logs each recording it finished, with its id, once the
    // recorder's final ack reached it: wait (30 s at most) for one line per
    // opened session.
    const openedCount = sessions.filter(Boolean).length;
    const deadline = Date.now() + 30_000;
    let fromLog;
    for (;;) {
      const log = await Deno.readFile(logFile);
      fromLog = recordingsFromLog(
        new TextDecoder().decode(log.subarray(logStart)),
      );
      const seen = fromLog.ids.length + fromLog.failures.length;
      if (seen >= openedCount || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // Only this figure's sessions (an earlier small session may finish
    // its recording just after the log offset was taken).
    const manifests = (await fetchManifests(
      recorder.ready.url,
      VIEWER_TOKEN,
      fromLog.ids,
    )).filter((m) => m.header?.argv?.[1] === String(o.bytes));
    recordings = await verifyRecordings(manifests, o.bytes);
    recordings.unfinished = fromLog.failures.length;
    recordings.problems.push(...fromLog.failures.slice(0, 5));
  }
  const sampled = await sampler.stop();
  const m = await readMem(server.pid);
  await new Promise((r) => setTimeout(r, o.settleMs));
  const rssSettled = (await readMem(server.pid)).rss;
  const result: ConcurrencyResult = {
    path,
    sessions: o.sessions,
    completed,
    peakOpen,
    seconds,
    streamSeconds,
    ...(finaliseSeconds !== undefined ? { finaliseSeconds } : {}),
    rssBefore,
    rssPeak: Math.max(sampled, reset ? m.hwm : 0),
    rssSettled,
    settleMs: o.settleMs,
    ...(recordings ? { recordings } : {}),
    errors,
  };
  o.log(
    `concurrency ${path}: ${completed}/${o.sessions} complete, peak open ${peakOpen}, ${
      seconds.toFixed(1)
    } s (streaming ${streamSeconds.toFixed(1)} s${
      finaliseSeconds !== undefined
        ? `, recorder finalised in ${finaliseSeconds.toFixed(1)} s`
        : ""
    }), server RSS ${(rssBefore / 1048576).toFixed(0)} → peak ${
      (result.rssPeak / 1048576).toFixed(0)
    } → ${(rssSettled / 1048576).toFixed(0)} MiB ${o.settleMs / 1000} s after${
      recordings
        ? `, recordings verified ${recordings.verified}/${o.sessions} (${recordings.unfinished} not finished)`
        : ""
    }${errors.length ? `; errors: ${errors.join(" | ")}` : ""}${
      recordings?.problems.length
        ? `; recording problems: ${recordings.problems.join(" | ")}`
        : ""
    }`,
  );
  return result;
}
