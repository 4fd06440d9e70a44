/**
 * Joins the proxy to the recording session: resolves the decision's recorder
 * tags to URLs from the configuration, picks the tap for the transport
 * (WebSocket or SPDY), and turns "no recorder reachable" under fail-closed
 * into a refusal. The opener also opens port-forward recordings
 * (`portForward`, `open_portforward.ts`).
 *
 * @module
 */

import { nodeSha256 } from "../adapter/deno/sha256.ts";
import {
  recorderCredentials,
  type RecorderCredentialsDeps,
} from "./recorder_credentials.ts";
import { SpdyChannelTap } from "../k8s/spdy/spdy_channel_tap.ts";
import type { Logger } from "../log.ts";
import {
  RecordingRequiredError,
  RecordingSession,
  WindowBudget,
} from "../recording/mod.ts";
import type { ProxyConfig } from "./config.ts";
import type { RecordingMetrics } from "../metrics/proxy_metrics.ts";
import {
  type OpenTap,
  type SessionContext,
  SessionRefusedError,
} from "./proxy.ts";
import { portForwardOpener } from "./open_portforward.ts";

/** Seams of {@linkcode openRecordings}. */
export interface OpenRecordingsDeps extends RecorderCredentialsDeps {
  /** Where recordings are counted (the proxy's `metrics.recording`). @default {none} */
  metrics?: RecordingMetrics;
}

/**
 * Builds the proxy's recording opener.
 * @param config Resolved proxy configuration.
 * @param logger Logger.
 * @param deps Seams.
 * @returns The opener.
 */
export async function openRecordings(
  config: ProxyConfig,
  logger: Logger,
  deps: OpenRecordingsDeps = {},
): Promise<OpenTap> {
  // One raw HTTP/1.1 connection per upload (see http1_fetch.ts for the
  // measurement against the global fetch).
  const { token, fetch: doFetch } = await recorderCredentials(config, deps);
  const limits = {
    connectTimeoutMs: config.recording.connectTimeoutMs,
    ackTimeoutMs: config.recording.ackTimeoutMs,
    windowBytes: config.recording.windowBytes ?? config.recording.queueBytes,
    // One bound for every session of this proxy.
    budget: new WindowBudget(config.recording.budgetBytes),
    maxMessageBytes: config.recording.maxMessageBytes,
  };
  // Port-forwards are recorded with the same token, fetch and limits.
  const portForward = portForwardOpener(config, logger, {
    token,
    fetch: doFetch,
    limits,
    digest: nodeSha256,
  });
  return Object.assign(async function openTap(ctx: SessionContext) {
    const { decision, exec } = ctx;
    if (decision.recorders.length === 0) return undefined;
    const urls: string[] = [];
    for (const tag of decision.recorders) {
      const list = config.recorders[tag];
      if (!list) {
        logger.warn("recorder tag has no URL in the proxy config", {
          sessionId: ctx.id,
          tag,
        });
      }
      for (const u of list ?? []) if (!urls.includes(u)) urls.push(u);
    }
    try {
      return await RecordingSession.start({
        sessionId: ctx.id,
        identity: ctx.identity,
        kubernetes: {
          podName: exec.pod,
          namespace: exec.namespace,
          container: exec.container,
          sessionType: exec.sessionType,
        },
        argv: exec.command,
        tty: exec.tty,
        proxyHostname: config.hostname,
        recorderUrls: urls,
        enforce: decision.enforceRecorder,
        uploaderToken: token,
        fetch: doFetch,
        logger,
        limits,
        ...(deps.metrics ? { metrics: deps.metrics } : {}),
        // Native SHA-256: the TypeScript one caps a session near 100 MB/s.
        digest: nodeSha256,
        channelTap: ctx.transport === "spdy"
          ? (protocol, l) =>
            new SpdyChannelTap(protocol, { maxFramePayload: l.maxMessageBytes })
          : undefined,
      });
    } catch (e) {
      if (e instanceof RecordingRequiredError) {
        throw new SessionRefusedError(e.message);
      }
      throw e;
    }
  }, { portForward });
}
