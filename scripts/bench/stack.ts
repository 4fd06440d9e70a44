/**
 * The benchmark stack, every server in its own process on 127.0.0.1:
 *
 * ```
 *                         ┌────────────▶ upstream (child "cluster": the fast
 *                         │              exec server, or the simulated cluster)
 * load client ──direct────┤
 *  (this      ──kubectl proxy (Go, no recording) ──▶ cluster
 *   process)  ──proxy-disk (bob: not recorded; alice: recorded) ──▶ cluster
 *             │      └──upload──▶ recorder-disk (temp folder)
 *             └─proxy-s3 (alice: recorded) ──▶ cluster
 *                    └──upload──▶ recorder-s3 ──▶ s3rver (child "s3")
 * ```
 *
 * Identities and policy are the end-to-end tests' (`tests/testdata/`):
 * `bob-token` is not recorded, `alice-token` is recorded fail-closed.
 *
 * @module
 */

import { generateCa, issueCert } from "../../src/devcluster/certs.ts";
import { writeKubeconfig } from "../../src/devcluster/kubeconfig.ts";
import { type Child, spawnChild, spawnKubectlProxy } from "./child_process.ts";

/** Uploader token the proxies present to the recorders. */
export const UPLOADER_TOKEN = "bench-uploader-token-0123456789";
/** Viewer token of the recorders. */
export const VIEWER_TOKEN = "bench-viewer-token-0123456789ab";

/** Names of the measured paths, in table order. */
export const PATHS = [
  "direct",
  "kubectl-proxy",
  "execgate",
  "execgate+disk",
  "execgate+s3",
] as const;

/** A measured path. */
export type PathName = typeof PATHS[number];

/** Where a client goes for one path. */
export interface Endpoint {
  /** Base URL (https, or http for kubectl proxy). */
  url: string;
  /** CA to trust (https). */
  caPem?: string;
  /** Bearer token (none through kubectl proxy: it adds the cluster's). */
  token?: string;
  /** kubectl context of this path in {@linkcode Stack.kubeconfig}. */
  context: string;
}

/** Tuning of the product under test; absent fields keep the product defaults. */
export interface StackTuning {
  /** Proxy `recording.queueBytes`. */
  queueBytes?: number;
  /** Recorder `ackIntervalMs`. */
  ackIntervalMs?: number;
  /** Recorder S3 `segmentBytes`. */
  segmentBytes?: number;
  /** Recorder S3 `flushIntervalMs`. */
  flushIntervalMs?: number;
}

/** Options of {@linkcode startStack}. */
export interface StackOptions {
  /**
   * The upstream every path ends at: `fast` (`fast_upstream.ts`, a minimal
   * exec server, so a proxy's own cost shows) or `devcluster` (the simulated
   * kube-apiserver, which real kubectl needs for its discovery and pod
   * lookups).
   * @default {"fast"}
   */
  upstream?: "fast" | "devcluster";
}

/** The running stack. */
export interface Stack {
  /** Endpoint per path. */
  endpoints: Record<PathName, Endpoint>;
  /** Every child, by name: cluster, s3, recorder-disk, recorder-s3, proxy-disk, proxy-s3, kubectl-proxy. */
  children: Record<string, Child>;
  /** Kubeconfig with one context per path. */
  kubeconfig: string;
  /** HOME for kubectl. */
  home: string;
  /** Temporary folder (logs are in `DIR/logs`). */
  dir: string;
  /** The disk recorder's base URL. */
  diskRecorderUrl: string;
  /** Stops every child and removes the folder. */
  close(): Promise<void>;
}

const repo = new URL("../../", import.meta.url).pathname;

/**
 * Starts the stack.
 * @param tuning Product settings to override (none: the defaults).
 * @param options Which upstream serves the exec sessions.
 * @returns The running stack.
 */
export async function startStack(
  tuning: StackTuning = {},
  options: StackOptions = {},
): Promise<Stack> {
  const dir = await Deno.makeTempDir({ prefix: "execgate-bench-" });
  const logs = `${dir}/logs`;
  await Deno.mkdir(logs);
  const children: Record<string, Child> = {};
  const closeAll = async () => {
    for (const c of Object.values(children).reverse()) await c.stop();
  };
  try {
    const cluster = options.upstream === "devcluster"
      ? await spawnChild("cluster", {
        rootDir: `${dir}/pods`,
        // A session's process starts at the client's first message (see
        // docs/devcluster.md): the load client sends one (v5 "stdin closed")
        // right after the 101, kubectl -i does too at stdin's EOF, and the
        // concurrency test sends it once all its sessions are open, so that
        // they stream at the same time. Never start on a timer.
        startDelayMs: 120_000,
      }, logs)
      // The fast upstream starts `gen` at the client's first message too.
      : await spawnChild("fast", {}, logs, "cluster");
    children.cluster = cluster;
    const clusterCa = cluster.ready.caPem!;
    const upstream = await writeKubeconfig(`${dir}/upstream.kubeconfig`, {
      server: cluster.ready.url,
      caPem: clusterCa,
      users: [{ name: "execgate", token: cluster.ready.token! }],
    });
    const s3 = await spawnChild("s3", { dir: `${dir}/s3` }, logs);
    children.s3 = s3;
    const recorderBase = {
      listen: { hostname: "127.0.0.1", port: 0 },
      auth: { uploaderTokens: [UPLOADER_TOKEN], viewerTokens: [VIEWER_TOKEN] },
      ...(tuning.ackIntervalMs ? { ackIntervalMs: tuning.ackIntervalMs } : {}),
    };
    const [recDisk, recS3] = await Promise.all([
      spawnChild(
        "recorder",
        {
          ...recorderBase,
          storage: { kind: "disk", dir: `${dir}/recordings` },
        },
        logs,
        "recorder-disk",
      ),
      spawnChild(
        "recorder",
        {
          ...recorderBase,
          storage: {
            kind: "s3",
            bucket: "recordings",
            endpoint: s3.ready.url,
            region: "us-east-1",
            forcePathStyle: true,
            accessKeyId: "S3RVER",
            secretAccessKey: "S3RVER",
            createBucket: true,
            ...(tuning.segmentBytes
              ? { segmentBytes: tuning.segmentBytes }
              : {}),
            ...(tuning.flushIntervalMs
              ? { flushIntervalMs: tuning.flushIntervalMs }
              : {}),
          },
        },
        logs,
        "recorder-s3",
      ),
    ]);
    children["recorder-disk"] = recDisk;
    children["recorder-s3"] = recS3;

    const ca = await generateCa("execgate-bench-proxy-ca");
    const serving = await issueCert(ca, {
      commonName: "execgate",
      usage: "server",
    });
    await Deno.writeTextFile(`${dir}/proxy.crt`, serving.certPem);
    await Deno.writeTextFile(`${dir}/proxy.key`, serving.keyPem);
    const proxySpec = (recorderUrl: string) => ({
      hostname: "execgate-bench",
      tags: ["tag:k8s-proxy"],
      listen: { host: "127.0.0.1", port: 0 },
      tls: { certFile: `${dir}/proxy.crt`, keyFile: `${dir}/proxy.key` },
      upstream: { kubeconfig: upstream },
      identity: { type: "tokens", file: `${repo}tests/testdata/tokens.hujson` },
      policy: { file: `${repo}tests/testdata/policy.hujson` },
      recorders: { "tag:k8s-recorder": [recorderUrl] },
      recorderAuth: { token: UPLOADER_TOKEN },
      recording: tuning.queueBytes ? { queueBytes: tuning.queueBytes } : {},
    });
    const [proxyDisk, proxyS3] = await Promise.all([
      spawnChild("proxy", proxySpec(recDisk.ready.url), logs, "proxy-disk"),
      spawnChild("proxy", proxySpec(recS3.ready.url), logs, "proxy-s3"),
    ]);
    children["proxy-disk"] = proxyDisk;
    children["proxy-s3"] = proxyS3;

    const home = `${dir}/home`;
    await Deno.mkdir(home);
    const kproxy = await spawnKubectlProxy(upstream, home, logs);
    children["kubectl-proxy"] = kproxy;

    const endpoints: Record<PathName, Endpoint> = {
      direct: {
        url: cluster.ready.url,
        caPem: clusterCa,
        token: cluster.ready.token,
        context: "direct",
      },
      "kubectl-proxy": { url: kproxy.ready.url, context: "kubectl-proxy" },
      execgate: {
        url: proxyDisk.ready.url,
        caPem: ca.certPem,
        token: "bob-token",
        context: "execgate",
      },
      "execgate+disk": {
        url: proxyDisk.ready.url,
        caPem: ca.certPem,
        token: "alice-token",
        context: "execgate+disk",
      },
      "execgate+s3": {
        url: proxyS3.ready.url,
        caPem: ca.certPem,
        token: "alice-token",
        context: "execgate+s3",
      },
    };
    const kubeconfig = await writeKubeconfig(`${dir}/bench.kubeconfig`, {
      server: cluster.ready.url,
      caPem: clusterCa,
      users: Object.values(endpoints).map((e) => ({
        name: e.context,
        // kubectl sends no token over plain http; the kubeconfig needs one.
        token: e.token ?? "unused",
        server: e.url,
        caPem: e.caPem ?? clusterCa,
      })),
    });
    return {
      endpoints,
      children,
      kubeconfig,
      home,
      dir,
      diskRecorderUrl: recDisk.ready.url,
      async close() {
        await closeAll();
        // BENCH_KEEP=1 keeps the folder (logs, recordings) for a look.
        if (Deno.env.get("BENCH_KEEP") !== "1") {
          await Deno.remove(dir, { recursive: true }).catch(() => {});
        }
      },
    };
  } catch (e) {
    await closeAll();
    throw new Error(`Cannot start the bench stack (logs in ${logs})`, {
      cause: e,
    });
  }
}

/**
 * The child that serves a path's clients (whose memory is the path's cost).
 * @param path The path.
 * @returns A key of {@linkcode Stack.children}.
 */
export function serverOf(path: PathName): string {
  switch (path) {
    case "direct":
      return "cluster";
    case "kubectl-proxy":
      return "kubectl-proxy";
    case "execgate":
    case "execgate+disk":
      return "proxy-disk";
    case "execgate+s3":
      return "proxy-s3";
  }
}

/**
 * The recorder child a path uploads to, if any.
 * @param path The path.
 * @returns A key of {@linkcode Stack.children}, or undefined.
 */
export function recorderOf(path: PathName): string | undefined {
  return path === "execgate+disk"
    ? "recorder-disk"
    : path === "execgate+s3"
    ? "recorder-s3"
    : undefined;
}
