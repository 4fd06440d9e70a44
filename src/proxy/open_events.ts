/**
 * Builds the proxy's {@linkcode RequestEvents} from its configuration:
 * recorder tags resolve to URLs as for recordings, each recorder list gets
 * one {@linkcode EventStream} over the same HTTP client and token as the
 * recordings' uploads.
 *
 * @module
 */

import {
  recorderCredentials,
  type RecorderCredentialsDeps,
} from "./recorder_credentials.ts";
import type { Logger } from "../log.ts";
import { EventStream } from "../recording/event_stream.ts";
import type { ProxyConfig } from "./config.ts";
import { RequestEvents } from "./events/request_events.ts";
import type { CounterChild } from "../metrics/counter.ts";
import type { GaugeChild } from "../metrics/gauge.ts";

/** Seams of {@linkcode openEvents}. */
export interface OpenEventsDeps extends RecorderCredentialsDeps {
  /** Where lost events are counted (the proxy's `metrics.events`). @default {none} */
  metrics?: { dropped: CounterChild; queued: GaugeChild };
}

/**
 * Builds the events of a proxy (nothing is sent until a grant enables them).
 * @param config Resolved proxy configuration.
 * @param logger Logger.
 * @param deps Seams.
 * @returns The events.
 */
export async function openEvents(
  config: ProxyConfig,
  logger: Logger,
  deps: OpenEventsDeps = {},
): Promise<RequestEvents> {
  // One raw HTTP/1.1 connection per upload (see http1_fetch.ts for the
  // measurement against the global fetch).
  const { token, fetch: doFetch } = await recorderCredentials(config, deps);
  // One stream per recorder list, kept for the count of events it lost.
  const opened: EventStream[] = [];
  deps.metrics?.dropped.collect(() =>
    opened.reduce((n, s) => n + s.stats.lost, 0)
  );
  deps.metrics?.queued.collect(() =>
    opened.reduce((n, s) => n + s.stats.queued, 0)
  );
  return new RequestEvents({
    proxyHostname: config.hostname,
    maxBodyBytes: config.events.maxBodyBytes,
    logger,
    recorderUrls(tags) {
      const urls: string[] = [];
      for (const tag of tags) {
        for (const u of config.recorders[tag] ?? []) {
          if (!urls.includes(u)) urls.push(u);
        }
      }
      return urls;
    },
    openStream: (urls) => {
      const stream = new EventStream({
        urls,
        proxyHostname: config.hostname,
        ...(token !== undefined ? { token } : {}),
        fetch: doFetch,
        connectTimeoutMs: config.recording.connectTimeoutMs,
        ackTimeoutMs: config.recording.ackTimeoutMs,
        maxQueueBytes: config.events.queueBytes,
        logger,
      });
      opened.push(stream);
      return stream;
    },
  });
}
