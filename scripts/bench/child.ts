/**
 * One server of the benchmark stack in its own process, so its CPU and memory
 * (`/proc/PID/status`) are its own and never the load client's:
 *
 * ```
 * deno run -A --unstable-net scripts/bench/child.ts ROLE SPEC_JSON
 * ```
 *
 * ROLE is `cluster` (the simulated kube-apiserver), `fast` (the minimal exec
 * server of `fast_upstream.ts`), `proxy` (execgate's proxy
 * with recording), `recorder` (the recorder service) or `s3` (s3rver). The
 * child prints one JSON line on stdout once it listens (`{"url": …}` plus
 * role facts), then runs until SIGTERM or until its stdin closes (the parent
 * died). Logs go to stderr.
 *
 * @module
 */

// Each role imports only its own code (a child loads nothing it does not run).

/** What a child prints once it is ready. */
export interface ChildReady {
  /** Base URL of the server. */
  url: string;
  /** Cluster only: its CA (PEM) and a token it accepts. */
  caPem?: string;
  token?: string;
}

/** The spec of a `cluster` child. */
export interface ClusterSpec {
  /** Scratch folder of the pods. */
  rootDir: string;
  /** See `DevClusterOptions.startDelayMs`. */
  startDelayMs: number;
}

/** The spec of a `fast` child (scripts/bench/fast_upstream.ts). */
export interface FastSpec {
  /** Stdout payload per frame. @default {32768} */
  frameBytes?: number;
  /** TLS server (see `FastUpstreamOptions.tls`). @default {"node"} */
  tls?: "node" | "deno";
}

/** The token a `fast` child reports (it accepts any). */
const FAST_TOKEN = "fast-upstream-token";

function stopped(): Promise<void> {
  return new Promise((resolve) => {
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
      Deno.addSignalListener(sig, () => resolve());
    }
    // The parent holds our stdin open; EOF means it is gone.
    (async () => {
      for await (const _ of Deno.stdin.readable) { /* drain */ }
      resolve();
    })();
  });
}

function ready(info: ChildReady): void {
  console.log(JSON.stringify(info));
}

async function run(role: string, spec: unknown): Promise<void> {
  switch (role) {
    case "cluster": {
      const s = spec as ClusterSpec;
      const { startDevCluster } = await import(
        "../../src/devcluster/server.ts"
      );
      const cluster = await startDevCluster({
        rootDir: s.rootDir,
        startDelayMs: s.startDelayMs,
      });
      ready({ url: cluster.url, caPem: cluster.caPem, token: cluster.token });
      await stopped();
      await cluster.close();
      return;
    }
    case "fast": {
      const s = spec as FastSpec;
      const { generateCa, issueCert } = await import(
        "../../src/devcluster/certs.ts"
      );
      const { startFastUpstream } = await import("./fast_upstream.ts");
      const ca = await generateCa("execgate-bench-fast-upstream-ca");
      const leaf = await issueCert(ca, {
        commonName: "fast-upstream",
        usage: "server",
      });
      const up = await startFastUpstream({
        certPem: leaf.certPem,
        keyPem: leaf.keyPem,
        ...(s.frameBytes ? { frameBytes: s.frameBytes } : {}),
        ...(s.tls ? { tls: s.tls } : {}),
      });
      ready({ url: up.url, caPem: ca.certPem, token: FAST_TOKEN });
      await stopped();
      await up.close();
      return;
    }
    case "proxy": {
      const { jsonLogger } = await import("../../src/log.ts");
      const { parseProxyConfig } = await import("../../src/proxy/config.ts");
      const { openRecordings } = await import(
        "../../src/proxy/open_recordings.ts"
      );
      const { startProxy } = await import("../../src/proxy/start.ts");
      const proxy = await startProxy(parseProxyConfig(spec, "bench proxy"), {
        logger: jsonLogger("proxy"),
        openTap: openRecordings,
      });
      ready({ url: proxy.url });
      await stopped();
      await proxy.close();
      return;
    }
    case "recorder": {
      const { parseRecorderConfig, serveRecorder } = await import(
        "../../src/recorder/mod.ts"
      );
      const config = parseRecorderConfig(spec, {});
      const served = await serveRecorder(config, {
        // One line per upload outcome, as `execgate recorder` logs.
        onUpload: (r) => console.error(JSON.stringify({ msg: "upload", ...r })),
      });
      ready({ url: served.url });
      await stopped();
      await served.close();
      return;
    }
    case "s3": {
      const s = spec as { dir: string };
      const { default: S3rver } = await import("s3rver");
      const server = new S3rver({
        address: "127.0.0.1",
        port: 0,
        directory: s.dir,
        silent: true,
      });
      const addr = await server.run() as unknown as { port: number };
      ready({ url: `http://127.0.0.1:${addr.port}` });
      await stopped();
      await server.close();
      return;
    }
  }
  throw new TypeError(`Unknown bench child role ${JSON.stringify(role)}`);
}

if (import.meta.main) {
  const [role = "", specJson = "{}"] = Deno.args;
  try {
    await run(role, JSON.parse(specJson));
    Deno.exit(0);
  } catch (e) {
    console.error(`bench child ${role}: ${(e as Error).stack ?? e}`);
    Deno.exit(1);
  }
}
