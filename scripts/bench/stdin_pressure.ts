/**
 * Stdin back-pressure: per path, one session of `sink RATE` (the fast
 * upstream reads stdin at RATE bytes per second and no faster) while the
 * client offers `bytes` of stdin as fast as the socket takes them, for
 * `seconds`; then the client closes the connection. A proxy that respects
 * back-pressure holds a bounded amount, so its RSS barely grows; one that
 * queues what the client sends grows by what the pod did not read.
 *
 * @module
 */

import { execPath, openSession } from "./exec_client.ts";
import { readMem, resetPeak, sampleRss } from "./proc_mem.ts";
import { rotate } from "./rotate.ts";
import { waitRecorderIdle } from "./recordings.ts";
import { type PathName, recorderOf, serverOf, type Stack } from "./stack.ts";

/** The outcome on one path. */
export interface StdinPressureResult {
  path: PathName;
  /** Stdin bytes the client's socket accepted before it stopped. */
  offered: number;
  /** Serving process RSS before the session, bytes. */
  rssBefore: number;
  /** Its peak during the session, bytes. */
  rssPeak: number;
  /** Its RSS once the session is closed, bytes. */
  rssAfter: number;
  /** Recorded paths: the recorder had no live upload within 30 s after. */
  recorderIdle?: boolean;
}

/** Options of {@linkcode runStdinPressure}. */
export interface StdinPressureOptions {
  /** Stdin bytes to offer (the client stops earlier at `seconds`). */
  bytes: number;
  /** Rate the pod reads at, bytes per second. */
  rate: number;
  /** How long the client keeps writing. */
  seconds: number;
  log: (line: string) => void;
}

const FRAME = 64 * 1024;

/**
 * Runs one stdin session per path.
 * @param stack The running stack (fast upstream).
 * @param paths Paths to measure.
 * @param o Size, rate, duration.
 * @returns One result per path.
 */
export async function runStdinPressure(
  stack: Stack,
  paths: readonly PathName[],
  o: StdinPressureOptions,
): Promise<StdinPressureResult[]> {
  const out: StdinPressureResult[] = [];
  const chunk = new Uint8Array(FRAME).fill(0x73);
  for (const path of rotate(paths, 1)) {
    const server = stack.children[serverOf(path)]!;
    const rssBefore = (await readMem(server.pid)).rss;
    const reset = await resetPeak(server.pid);
    const sampler = sampleRss(server.pid, 50);
    const s = await openSession(stack.endpoints[path], {
      // The pod stops after `seconds` too, so that a proxy that queued what
      // the client sent does not feed it to the pod for minutes.
      path: execPath(["sink", String(o.rate), String(o.seconds)], {
        stdin: true,
      }),
    });
    const until = performance.now() + o.seconds * 1000;
    let offered = 0;
    let stop = false;
    const timer = setTimeout(() => (stop = true), o.seconds * 1000);
    while (!stop && offered < o.bytes && performance.now() < until) {
      // Resolves once the kernel took the frame; a write the proxy does not
      // drain stays pending and the timer ends the loop.
      await Promise.race([
        s.stdinAsync(chunk),
        new Promise((r) =>
          setTimeout(r, Math.max(0, until - performance.now()))
        ),
      ]);
      if (!stop) offered += FRAME;
    }
    clearTimeout(timer);
    s.close();
    await s.done;
    const sampled = await sampler.stop();
    const m = await readMem(server.pid);
    await new Promise((r) => setTimeout(r, 500));
    const rec = recorderOf(path);
    let recorderIdle: boolean | undefined;
    if (rec) {
      recorderIdle = await waitRecorderIdle(
        stack.children[rec]!.ready.url,
        30_000,
      ).then(() => true, (e) => {
        o.log(`stdin ${path}: ${(e as Error).message}`);
        return false;
      });
    }
    const r: StdinPressureResult = {
      path,
      ...(recorderIdle === undefined ? {} : { recorderIdle }),
      offered,
      rssBefore,
      rssPeak: Math.max(sampled, reset ? m.hwm : 0),
      rssAfter: (await readMem(server.pid)).rss,
    };
    out.push(r);
    o.log(
      `stdin ${path}: ${
        (offered / 1e6).toFixed(1)
      } MB taken by the socket in ${o.seconds} s (pod reads ${
        (o.rate / 1e6).toFixed(1)
      } MB/s), server RSS ${(rssBefore / 1048576).toFixed(0)} → peak ${
        (r.rssPeak / 1048576).toFixed(0)
      } MiB`,
    );
  }
  return out;
}
