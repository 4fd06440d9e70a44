/**
 * The real client: `kubectl exec -i demo -- execgate-gen BYTES` (stdin
 * empty) per path, the
 * paths taking turns, wall time per run (process start → exit).
 *
 * @module
 */

import { rotate } from "./rotate.ts";
import type { PathName, Stack } from "./stack.ts";

/** Samples of one path. */
export interface KubectlSamples {
  /** Wall times of successful runs, ms. */
  wallMs: number[];
  /** Runs that failed (exit code or wrong output), with a reason. */
  failures: string[];
  /** Runs retried once for client-go's "Unknown stream id" race. */
  retries: number;
}

/** Options of {@linkcode runKubectlSample}. */
export interface KubectlOptions {
  runs: number;
  bytes: number;
}

async function kubectlExec(stack: Stack, context: string, bytes: number) {
  const t0 = performance.now();
  const out = await new Deno.Command("/usr/bin/kubectl", {
    args: [
      "--kubeconfig",
      stack.kubeconfig,
      "--context",
      context,
      "exec",
      "-i", // stdin is empty: kubectl closes it, which starts the process
      "demo",
      "-c",
      "main",
      "--",
      "execgate-gen",
      String(bytes),
    ],
    env: { HOME: stack.home, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    ms: performance.now() - t0,
    code: out.code,
    bytes: out.stdout.length,
    stderr: new TextDecoder().decode(out.stderr).trim(),
  };
}

/**
 * Runs kubectl on every path; one unmeasured run per path first (fills the
 * discovery cache of the shared HOME).
 * @param stack The running stack.
 * @param paths Paths to measure.
 * @param o Runs per path and output size.
 * @returns Samples per path.
 */
export async function runKubectlSample(
  stack: Stack,
  paths: readonly PathName[],
  o: KubectlOptions,
): Promise<Record<string, KubectlSamples>> {
  const out: Record<string, KubectlSamples> = {};
  for (const p of paths) out[p] = { wallMs: [], failures: [], retries: 0 };
  for (let i = -1; i < o.runs; i++) {
    for (const p of rotate(paths, i + 1)) {
      const ctx = stack.endpoints[p].context;
      let r = await kubectlExec(stack, ctx, o.bytes);
      if (r.stderr.includes("Unknown stream id")) {
        // client-go's race (PROTOCOL-NOTES): retry once, and count it.
        out[p]!.retries++;
        r = await kubectlExec(stack, ctx, o.bytes);
      }
      if (i < 0) continue;
      if (r.code === 0 && r.bytes === o.bytes) out[p]!.wallMs.push(r.ms);
      else {
        out[p]!.failures.push(
          `exit ${r.code}, ${r.bytes} bytes: ${r.stderr.slice(0, 200)}`,
        );
      }
    }
  }
  return out;
}
