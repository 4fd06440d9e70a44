/**
 * Shared setup of the devcluster tests: a cluster, a temporary directory with
 * a kubeconfig (admin token) and a fresh `HOME`, and helpers to read a
 * running kubectl's output until something shows up.
 *
 * @module
 */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeKubeconfig } from "./kubeconfig.ts";
import {
  type KubectlOptions,
  type KubectlResult,
  runKubectl,
} from "./kubectl_runner.ts";
import {
  type DevCluster,
  type DevClusterOptions,
  startDevCluster,
} from "./server.ts";

/** What a test gets. */
export interface Fixture {
  /** The cluster. */
  cluster: DevCluster;
  /** Temporary directory (removed after the test). */
  dir: string;
  /** Options for kubectl with the admin kubeconfig and a fresh HOME. */
  kube: KubectlOptions;
  /** Runs kubectl with `kube` plus `extra`. */
  kubectl(
    args: string[],
    extra?: Partial<KubectlOptions>,
  ): Promise<KubectlResult>;
}

/**
 * Runs `fn` with a fresh cluster and kubeconfig; cleans up after.
 * @param fn The test body.
 * @param options Cluster options.
 */
export async function withCluster(
  fn: (f: Fixture) => Promise<void>,
  options: DevClusterOptions = {},
): Promise<void> {
  const cluster = await startDevCluster(options);
  const dir = await mkdtemp(join(tmpdir(), "devcluster-test-"));
  try {
    const kubeconfig = await writeKubeconfig(join(dir, "kubeconfig"), {
      server: cluster.url,
      caPem: cluster.caPem,
      users: [{ name: "admin", token: cluster.token }],
    });
    const kube: KubectlOptions = { kubeconfig, home: join(dir, "home") };
    await fn({
      cluster,
      dir,
      kube,
      kubectl: (args, extra = {}) => runKubectl(args, { ...kube, ...extra }),
    });
  } finally {
    await cluster.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Runs kubectl; when client-go lost the first output to its own race
 * (`Unknown stream id`), runs it once more and says so.
 * @param f The fixture.
 * @param args kubectl arguments.
 * @param extra More options.
 * @returns The result of the last run.
 */
export async function kubectlRetryingClientRace(
  f: Fixture,
  args: string[],
  extra: Partial<KubectlOptions> = {},
): Promise<KubectlResult> {
  const first = await f.kubectl(args, extra);
  if (!first.stderr.includes("Unknown stream id")) return first;
  console.log(
    `kubectl ${
      args.join(" ")
    }: client-go dropped early output (Unknown stream id); retrying once`,
  );
  return await f.kubectl(args, extra);
}

/** Reads a byte stream as text, on demand. */
export class OutputReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #decoder = new TextDecoder();
  /** Everything read so far. */
  text = "";

  /** @param stream The stream to read. */
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  /**
   * Reads until `predicate(text)` holds.
   * @param predicate Condition on all text read so far.
   * @returns All text read so far.
   * @throws {Error} The stream ended first.
   */
  async until(predicate: (text: string) => boolean): Promise<string> {
    while (!predicate(this.text)) {
      const { done, value } = await this.#reader.read();
      if (done) {
        throw new Error(
          `Output ended before the expected text; got: ${
            JSON.stringify(this.text)
          }`,
        );
      }
      this.text += this.#decoder.decode(value, { stream: true });
    }
    return this.text;
  }

  /** Reads to the end. @returns All text. */
  async rest(): Promise<string> {
    while (true) {
      const { done, value } = await this.#reader.read();
      if (done) return this.text;
      this.text += this.#decoder.decode(value, { stream: true });
    }
  }

  /** Stops reading. */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

/**
 * Waits until `condition()` holds, checking after each timer tick (for
 * state that has no event, e.g. a follower count after a disconnect).
 * @param condition The condition.
 * @param what What is awaited, for the error.
 * @param limitMs Give up after this long.
 * @throws {Error} The condition did not hold within `limitMs`.
 */
export async function eventually(
  condition: () => boolean,
  what: string,
  limitMs = 10_000,
): Promise<void> {
  const end = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
