/**
 * Setup time: request (before the TCP connect) → first stdout byte of
 * `execgate-gen 1` sessions with stdin (closed at once, as `kubectl exec -i`
 * with an empty stdin does), one at a time, the paths taking turns. Through
 * execgate this includes identity, policy and, when recorded, opening the
 * upload to the recorder.
 *
 * @module
 */

import { execPath, openSession } from "./exec_client.ts";
import { rotate } from "./rotate.ts";
import type { PathName, Stack } from "./stack.ts";

/** Setup samples of one path, ms. */
export interface SetupSamples {
  /** Request → first stdout byte. */
  firstByte: number[];
  /** Request → 101. */
  upgraded: number[];
}

/** Options of {@linkcode runSetup}. */
export interface SetupOptions {
  /** Sessions per path. */
  sessions: number;
  /** Unmeasured sessions per path first. */
  warmup: number;
}

/**
 * Measures setup times.
 * @param stack The running stack.
 * @param paths Paths to measure.
 * @param o Counts.
 * @returns Samples per path.
 * @throws {Error} A session failed or sent no stdout.
 */
export async function runSetup(
  stack: Stack,
  paths: readonly PathName[],
  o: SetupOptions,
): Promise<Record<string, SetupSamples>> {
  const out: Record<string, SetupSamples> = {};
  for (const p of paths) out[p] = { firstByte: [], upgraded: [] };
  const target = execPath(["execgate-gen", "1"], { stdin: true });
  for (let i = -o.warmup; i < o.sessions; i++) {
    for (const p of rotate(paths, i + o.warmup)) {
      const s = await openSession(stack.endpoints[p], { path: target });
      s.closeStdin(); // the process starts at the client's first message
      const r = await s.done;
      if (r.stdoutBytes !== 1) {
        throw new Error(
          `Setup session on ${p} got ${r.stdoutBytes} stdout bytes (status ${
            JSON.stringify(r.status)
          })`,
        );
      }
      if (i < 0) continue;
      out[p]!.firstByte.push(s.firstStdoutAt - s.sentAt);
      out[p]!.upgraded.push(s.openedAt - s.sentAt);
    }
  }
  return out;
}
