/**
 * Starts a proxy from its resolved configuration: reads the files it names,
 * builds the identity source, follows the policy file, opens recordings, and
 * serves. This is the edge where the Deno runtime comes in.
 *
 * The listener: Deno's own sockets ({@linkcode listenProxy}: back-pressure
 * both ways, a strict HTTP/1.1 reader, handshake, head and idle timeouts)
 * for the `tokens` and `tailscale` identities. The `mtls` identity needs
 * client certificates, which `Deno.listenTls` cannot ask for
 * (denoland/deno#26825), so it keeps the `node:https` server
 * ({@linkcode serveProxy}), with known weaker limits: a paused Node socket
 * under Deno keeps reading, so an upload is not slowed to the upstream's
 * pace, and the request head and handshake are bounded only by node's own
 * defaults, not by the `listen.*TimeoutMs` settings.
 *
 * @module
 */

import { createIdentitySource } from "../identity/mod.ts";
import { jsonLogger, type Logger } from "../log.ts";
import { evaluate, watchPolicy } from "../policy/mod.ts";
import type { PolicyWatcher } from "../policy/mod.ts";
import { createAuthorize } from "./authorize.ts";
import type { ProxyConfig } from "./config.ts";
import { listenProxy } from "../adapter/deno/listener.ts";
import { nodeSha256Of } from "../adapter/deno/sha256.ts";
import { type ServedProxy, serveProxy } from "./node_server.ts";
import { createProxy, type OpenTap } from "./proxy.ts";
import {
  inClusterUpstream,
  kubeconfigUpstream,
  type UpstreamConfig,
} from "./upstream_config.ts";
import { upstreamConnector, upstreamRequester } from "./upstream_connect.ts";
import {
  createProxyMetrics,
  type ProxyMetrics,
  type RecordingMetrics,
} from "../metrics/proxy_metrics.ts";
import { metricsHandler } from "../metrics/metrics_handler.ts";
import {
  type MetricsServer,
  parseHostPort,
  serveMetrics,
} from "../adapter/deno/metrics_server.ts";
import { openEvents } from "./open_events.ts";

/** Seams of {@linkcode startProxy}, each with a real default. */
export interface StartProxyDeps {
  /** Where the proxy, the policy watcher and the events log. @default {jsonLogger("proxy")} */
  logger?: Logger;
  /**
   * Reads the upstream's files (kubeconfig, or the in-cluster token and CA)
   * and the identity source's. @default {Deno.readTextFile}
   */
  readTextFile?: (path: string) => Promise<string>;
  /**
   * Environment variables; the in-cluster upstream reads
   * `KUBERNETES_SERVICE_HOST` and `KUBERNETES_SERVICE_PORT`.
   * @default {Deno.env.toObject()}
   */
  env?: Record<string, string | undefined>;
  /** Builds the recording opener from the config; none: nothing is recorded. */
  openTap?: (
    config: ProxyConfig,
    logger: Logger,
    deps: { metrics: RecordingMetrics },
  ) => Promise<OpenTap | undefined>;
  /** Where the proxy counts. @default {createProxyMetrics()} */
  metrics?: ProxyMetrics;
}

/** A running proxy. */
export interface RunningProxy extends ServedProxy {
  /** The resolved upstream. */
  upstream: UpstreamConfig;
  /** The proxy's metrics. */
  metrics: ProxyMetrics;
  /** Base URL of the metrics listener (`metricsAddress`), when on. */
  metricsUrl?: string;
}

/**
 * Starts the proxy.
 * @param config Resolved configuration.
 * @param deps Seams.
 * @returns The running proxy.
 * @throws {Error} A file is missing or invalid (policy errors carry file:line:column).
 */
export async function startProxy(
  config: ProxyConfig,
  deps: StartProxyDeps = {},
): Promise<RunningProxy> {
  const logger = deps.logger ?? jsonLogger("proxy");
  const read = deps.readTextFile ?? ((p: string) => Deno.readTextFile(p));
  const env = deps.env ?? Deno.env.toObject();
  const metrics = deps.metrics ?? createProxyMetrics();
  const upstream = "kubeconfig" in config.upstream
    ? await kubeconfigUpstream(
      config.upstream.kubeconfig,
      config.upstream.context,
      read,
    )
    : await inClusterUpstream(env, read);
  const source = await createIdentitySource(config.identity, {
    readTextFile: read,
    sha256: nodeSha256Of,
  });
  let watcher: PolicyWatcher | undefined;
  if (config.policy) {
    watcher = await watchPolicy(config.policy.file, {
      logger,
      onReload: () => metrics.policyReloads.ok.inc(),
      onError: () => metrics.policyReloads.failed.inc(),
    });
  }
  const self = { hostname: config.hostname, tags: config.tags };
  const authorize = createAuthorize(
    source,
    (id) => evaluate(watcher?.policy, id, self),
  );
  const events = await openEvents(config, logger, {
    metrics: metrics.events,
  });
  const proxy = createProxy({
    upstreamUrl: upstream.server,
    upstreamToken: upstream.token,
    authorize,
    upstreamRequest: upstreamRequester(upstream),
    connectUpstream: upstreamConnector(upstream),
    openTap: await deps.openTap?.(config, logger, {
      metrics: metrics.recording,
    }),
    logger,
    metrics,
    events,
  });
  const tls = config.tls
    ? {
      certPem: await read(config.tls.certFile),
      keyPem: await read(config.tls.keyFile),
    }
    : undefined;
  const served = config.identity.type === "mtls"
    ? await serveProxy(proxy, {
      host: config.listen.host,
      port: config.listen.port,
      tls: tls && { ...tls, clientCaPem: await read(config.identity.caFile) },
    })
    : await listenProxy(proxy, {
      host: config.listen.host,
      port: config.listen.port,
      tls,
      handshakeTimeoutMs: config.listen.handshakeTimeoutMs,
      headTimeoutMs: config.listen.headTimeoutMs,
      idleTimeoutMs: config.listen.idleTimeoutMs,
      logger,
    });
  let metricsServer: MetricsServer | undefined;
  // Ready from here (the API port listens, the policy is loaded) until close.
  let ready = true;
  if (config.metricsAddress) {
    try {
      metricsServer = await serveMetrics(
        metricsHandler(metrics.registry, { ready: () => ready }),
        parseHostPort(config.metricsAddress),
      );
    } catch (e) {
      await served.close();
      await watcher?.close();
      throw new Error(
        `Cannot serve metrics on metricsAddress ${
          JSON.stringify(config.metricsAddress)
        }: ${(e as Error).message}`,
      );
    }
  }
  logger.info("proxy listening", {
    url: served.url,
    upstream: upstream.server,
    identity: config.identity.type,
    listener: config.identity.type === "mtls" ? "node:https" : "deno",
    ...(metricsServer ? { metrics: metricsServer.url + "/metrics" } : {}),
  });
  return {
    ...served,
    upstream,
    metrics,
    ...(metricsServer ? { metricsUrl: metricsServer.url } : {}),
    close: async () => {
      ready = false;
      await served.close();
      await metricsServer?.close();
      await events.close();
      await watcher?.close();
    },
  };
}
