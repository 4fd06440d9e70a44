/**
 * Throughput: one session streaming `execgate-gen BYTES` per path and
 * repetition, interleaved. Also the long-session memory figure: RSS of the
 * serving process and of the recorder when idle before the session, at its
 * peak during it, and idle after it (recording finalised).
 *
 * @module
 */

import { execPath, openSession } from "./exec_client.ts";
import { readCpuSeconds, readMem, resetPeak, sampleRss } from "./proc_mem.ts";
import { waitRecorderIdle } from "./recordings.ts";
import { rotate } from "./rotate.ts";
import { type PathName, recorderOf, serverOf, type Stack } from "./stack.ts";

/** Memory of one process around a session, bytes. */
export interface MemAround {
  before: number;
  peak: number;
  after: number;
}

/** One throughput session. */
export interface ThroughputSample {
  path: PathName;
  rep: number;
  /** Stdout bytes received. */
  bytes: number;
  /** Request sent → connection closed. */
  seconds: number;
  /** Decimal MB/s (10^6 bytes per second). */
  mbps: number;
  /** All bytes and a `Success` status arrived (not cut by the time cap). */
  complete: boolean;
  /** CPU seconds of the serving process during the session. */
  serverCpu: number;
  /** CPU seconds of the recorder during the session and its finalisation. */
  recorderCpu: number;
  /** Recorded paths: the recorder finalised the upload within 60 s. */
  recorderIdle?: boolean;
  /** Serving process (cluster, kubectl proxy or execgate proxy). */
  server: MemAround;
  /** Recorder process, for recorded paths. */
  recorder?: MemAround;
}

/** Options of {@linkcode runThroughput}. */
export interface ThroughputOptions {
  /** Bytes per session. */
  bytes: number;
  /** Repetitions per path. */
  reps: number;
  /** Longest session; a longer one is closed and counted incomplete. */
  capMs: number;
  /** Progress lines. */
  log: (line: string) => void;
}

async function memAround(pid: number) {
  const before = (await readMem(pid)).rss;
  const reset = await resetPeak(pid);
  const sampler = sampleRss(pid, 100);
  return {
    async end(): Promise<MemAround> {
      const sampled = await sampler.stop();
      const m = await readMem(pid);
      return {
        before,
        peak: Math.max(sampled, reset ? m.hwm : 0),
        after: m.rss,
      };
    },
  };
}

/**
 * Runs the throughput sessions.
 * @param stack The running stack.
 * @param paths Paths to measure.
 * @param o Size, repetitions, cap.
 * @returns One sample per path and repetition.
 */
export async function runThroughput(
  stack: Stack,
  paths: readonly PathName[],
  o: ThroughputOptions,
): Promise<ThroughputSample[]> {
  const samples: ThroughputSample[] = [];
  for (let rep = 0; rep < o.reps; rep++) {
    for (const path of rotate(paths, rep)) {
      const server = stack.children[serverOf(path)]!;
      const recName = recorderOf(path);
      const recorder = recName ? stack.children[recName] : undefined;
      const serverMem = await memAround(server.pid);
      const recMem = recorder ? await memAround(recorder.pid) : undefined;
      const cpu0 = await readCpuSeconds(server.pid);
      const rcpu0 = recorder ? await readCpuSeconds(recorder.pid) : 0;
      const s = await openSession(stack.endpoints[path], {
        path: execPath(["execgate-gen", String(o.bytes)], { stdin: true }),
        readBytes: 256 * 1024,
      });
      s.closeStdin(); // the process starts at the client's first message
      const cap = setTimeout(() => s.close(), o.capMs);
      const r = await s.done;
      clearTimeout(cap);
      const cpu = await readCpuSeconds(server.pid) - cpu0;
      // A recording that never finalises is reported, not fatal.
      const recorderIdle = recorder
        ? await waitRecorderIdle(recorder.ready.url, 60_000).then(
          () => true,
          (e) => {
            o.log(`throughput ${path} rep ${rep}: ${(e as Error).message}`);
            return false;
          },
        )
        : undefined;
      const recorderCpu = recorder
        ? await readCpuSeconds(recorder.pid) - rcpu0
        : 0;
      const seconds = (r.closedAt - s.sentAt) / 1000;
      const sample: ThroughputSample = {
        path,
        rep,
        bytes: r.stdoutBytes,
        seconds,
        mbps: r.stdoutBytes / seconds / 1e6,
        complete: r.stdoutBytes === o.bytes && r.status.includes("Success"),
        serverCpu: cpu,
        recorderCpu,
        ...(recorderIdle === undefined ? {} : { recorderIdle }),
        server: await serverMem.end(),
        ...(recMem ? { recorder: await recMem.end() } : {}),
      };
      samples.push(sample);
      o.log(
        `throughput ${path} rep ${rep}: ${sample.mbps.toFixed(1)} MB/s, ${
          (sample.bytes / 1048576).toFixed(0)
        } MiB in ${seconds.toFixed(1)} s${
          sample.complete ? "" : " (INCOMPLETE)"
        }, server peak RSS ${(sample.server.peak / 1048576).toFixed(0)} MiB`,
      );
    }
  }
  return samples;
}
