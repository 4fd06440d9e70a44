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
  listRecordings,
  type RecordingCheck,
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
  /** Serving process RSS: idle before, peak. */
  rssBefore: number;
  rssPeak: number;
  /** Recorded paths: the recordings' check. */
  recordings?: RecordingCheck;
  /** Up to five session failures. */
  errors: string[];
}

/** Options of {@linkcode runConcurrency}. */
export interface ConcurrencyOptions {
  sessions: number;
  bytes: number;
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
  const since = Date.now();
  const t0 = performance.now();
  let open = 0;
  let peakOpen = 0;
  let completed = 0;
  const errors: string[] = [];
  const target = execPath(["execgate-gen", String(o.bytes)]);
  await Promise.all(
    Array.from({ length: o.sessions }, async () => {
      try {
        const s = await openSession(stack.endpoints[path], { path: target });
        open++;
        peakOpen = Math.max(peakOpen, open);
        const r = await s.done;
        open--;
        if (r.stdoutBytes === o.bytes && r.status.includes("Success")) {
          completed++;
        } else if (errors.length < 5) {
          errors.push(
            `${r.stdoutBytes} bytes, status ${JSON.stringify(r.status)}`,
          );
        }
      } catch (e) {
        if (errors.length < 5) errors.push((e as Error).message.slice(0, 300));
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  let recordings: RecordingCheck | undefined;
  if (recorder) {
    await waitRecorderIdle(recorder.ready.url);
    recordings = await verifyRecordings(
      await listRecordings(recorder.ready.url, VIEWER_TOKEN, since),
      o.bytes,
    );
  }
  const sampled = await sampler.stop();
  const m = await readMem(server.pid);
  const result: ConcurrencyResult = {
    path,
    sessions: o.sessions,
    completed,
    peakOpen,
    seconds,
    rssBefore,
    rssPeak: Math.max(sampled, reset ? m.hwm : 0),
    ...(recordings ? { recordings } : {}),
    errors,
  };
  o.log(
    `concurrency ${path}: ${completed}/${o.sessions} complete, peak open ${peakOpen}, ${
      seconds.toFixed(1)
    } s, server RSS ${(rssBefore / 1048576).toFixed(0)} → peak ${
      (result.rssPeak / 1048576).toFixed(0)
    } MiB${
      recordings
        ? `, recordings verified ${recordings.verified}/${recordings.found}`
        : ""
    }${errors.length ? `; errors: ${errors.join(" | ")}` : ""}${
      recordings?.problems.length
        ? `; recording problems: ${recordings.problems.join(" | ")}`
        : ""
    }`,
  );
  return result;
}
