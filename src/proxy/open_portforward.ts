/**
 * Joins the proxy to the port-forward recording: resolves the decision's
 * recorder tags to URLs from the configuration and starts a
 * {@linkcode PortForwardSession}, turning "no recorder reachable" under fail
 * closed into a refusal. Built by `openRecordings`, with the same token,
 * `fetch` and limits as exec recordings.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { IncrementalDigest } from "../recording/cast_encoder.ts";
import { RecordingRequiredError } from "../recording/failure_policy.ts";
import { PortForwardSession } from "../recording/portforward_session.ts";
import {
  type RecordingLimits,
  UnrecordedTap,
} from "../recording/recording_session.ts";
import type { ProxyConfig } from "./config.ts";
import { type OpenPortForwardTap, SessionRefusedError } from "./proxy.ts";

/** What exec and port-forward recordings share. */
export interface PortForwardOpenerDeps {
  /** Uploader token. */
  token?: string;
  /** Fetch towards recorders. */
  fetch: typeof fetch;
  /** The proxy's recording limits (one budget for every session). */
  limits: RecordingLimits;
  /** Native SHA-256. */
  digest: () => IncrementalDigest;
}

/**
 * The recorder URLs of a decision's tags, in order, without duplicates.
 * @param config The proxy configuration.
 * @param tags The decision's recorder tags.
 * @param warn Called for a tag with no URL.
 * @returns The URLs.
 */
export function recorderUrlsOf(
  config: ProxyConfig,
  tags: readonly string[],
  warn: (tag: string) => void,
): string[] {
  const urls: string[] = [];
  for (const tag of tags) {
    const list = config.recorders[tag];
    if (!list) warn(tag);
    for (const u of list ?? []) if (!urls.includes(u)) urls.push(u);
  }
  return urls;
}

/**
 * Builds the proxy's port-forward recording opener.
 * @param config Resolved proxy configuration.
 * @param logger Logger.
 * @param deps Token, fetch, limits and digest.
 * @returns The opener.
 */
export function portForwardOpener(
  config: ProxyConfig,
  logger: Logger,
  deps: PortForwardOpenerDeps,
): OpenPortForwardTap {
  return async function openPortForwardTap(ctx) {
    const { decision } = ctx;
    if (decision.recorders.length === 0) return undefined;
    const urls = recorderUrlsOf(
      config,
      decision.recorders,
      (tag) =>
        logger.warn("recorder tag has no URL in the proxy config", {
          sessionId: ctx.id,
          tag,
        }),
    );
    try {
      const tap = await PortForwardSession.start({
        sessionId: ctx.id,
        identity: ctx.identity,
        namespace: ctx.namespace,
        pod: ctx.pod,
        queryPorts: ctx.ports,
        transport: ctx.transport,
        proxyHostname: config.hostname,
        recorderUrls: urls,
        enforce: decision.enforceRecorder,
        recordContent: decision.recordPortForward === true,
        uploaderToken: deps.token,
        fetch: deps.fetch,
        logger,
        limits: deps.limits,
        digest: deps.digest,
      });
      // Fail open without a recorder: relayed unrecorded (the proxy logs it).
      return tap instanceof UnrecordedTap ? undefined : tap;
    } catch (e) {
      if (e instanceof RecordingRequiredError) {
        throw new SessionRefusedError(e.message);
      }
      throw e;
    }
  };
}
