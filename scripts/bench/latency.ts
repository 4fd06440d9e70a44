/**
 * Interactive latency: one TTY session of `execgate-echo` per path; one byte
 * of stdin, wait for it on stdout, repeat. Round trips run in blocks, the
 * paths taking turns block by block.
 *
 * @module
 */

import { execPath, openSession, type Session } from "./exec_client.ts";
import { rotate } from "./rotate.ts";
import type { PathName, Stack } from "./stack.ts";

/** Options of {@linkcode runLatency}. */
export interface LatencyOptions {
  /** Round trips per path. */
  roundTrips: number;
  /** Round trips per block (paths alternate between blocks). */
  block: number;
  /** Unmeasured round trips per path first. */
  warmup: number;
  /** Progress lines. */
  log: (line: string) => void;
}

interface Probe {
  session: Session;
  rtt(): Promise<number>;
}

async function openProbe(stack: Stack, path: PathName): Promise<Probe> {
  let waiting: (() => void) | undefined;
  const session = await openSession(stack.endpoints[path], {
    path: execPath(["execgate-echo"], { stdin: true, tty: true }),
    onStdout: () => {
      const w = waiting;
      waiting = undefined;
      w?.();
    },
  });
  session.resize(80, 24); // a TTY session starts at the first resize
  const byte = new Uint8Array([0x61]);
  return {
    session,
    rtt() {
      return new Promise<number>((resolve, reject) => {
        const t0 = performance.now();
        const timer = setTimeout(
          () => reject(new Error(`${path}: no echo within 10 s`)),
          10_000,
        );
        waiting = () => {
          clearTimeout(timer);
          resolve(performance.now() - t0);
        };
        session.stdin(byte);
      });
    },
  };
}

/**
 * Measures round trips.
 * @param stack The running stack.
 * @param paths Paths to measure.
 * @param o Counts.
 * @returns Round-trip times in ms per path.
 */
export async function runLatency(
  stack: Stack,
  paths: readonly PathName[],
  o: LatencyOptions,
): Promise<Record<string, number[]>> {
  const probes = new Map<PathName, Probe>();
  for (const p of paths) probes.set(p, await openProbe(stack, p));
  for (const [, probe] of probes) {
    for (let i = 0; i < o.warmup; i++) await probe.rtt();
  }
  const out: Record<string, number[]> = {};
  for (const p of paths) out[p] = [];
  const blocks = Math.ceil(o.roundTrips / o.block);
  for (let b = 0; b < blocks; b++) {
    for (const p of rotate(paths, b)) {
      const probe = probes.get(p)!;
      const n = Math.min(o.block, o.roundTrips - b * o.block);
      for (let i = 0; i < n; i++) out[p]!.push(await probe.rtt());
    }
  }
  for (const [p, probe] of probes) {
    probe.session.closeStdin();
    const r = await probe.session.done;
    if (!r.status.includes("Success")) {
      o.log(`latency ${p}: session ended with ${JSON.stringify(r.status)}`);
    }
  }
  return out;
}
