/**
 * The proxy's metrics, registered once per proxy and bound to their label
 * values up front: the hot paths (a relayed chunk, an acknowledgement) add
 * to a child they hold, never look a label set up. Each is documented in
 * `docs/metrics.md`.
 *
 * @module
 */

import type { CounterChild } from "./counter.ts";
import type { Counter } from "./counter.ts";
import type { Gauge, GaugeChild } from "./gauge.ts";
import type { HistogramChild } from "./histogram.ts";
import { Registry } from "./registry.ts";

/** Session types (`type` label). */
export const SESSION_TYPES = ["exec", "attach", "portforward"] as const;
/** A session type. */
export type SessionType = typeof SESSION_TYPES[number];

/**
 * Session outcomes (`outcome` label): how a session ended, or why it never
 * started. A recorded session's is its recording's end reason (`normal`
 * once the final `Status` was seen). The relay of an unrecorded one does not
 * read the session, so it says which side closed first: `upstream-closed`
 * (how an exec ends when its command exits, and also an API server that
 * broke off) or `client-closed` (kubectl went away first).
 */
export const SESSION_OUTCOMES = [
  "upstream-closed",
  "client-closed",
  "normal",
  "recording-failed",
  "protocol-error",
  "refused",
  "terminated",
  "recording-required",
  "setup-failed",
] as const;
/** A session outcome. */
export type SessionOutcome = typeof SESSION_OUTCOMES[number];

/**
 * The outcome of a relay that ended for `reason` (the relay's `EndReason`).
 * @param reason Why the relay ended.
 * @returns The `outcome` label value.
 */
export function sessionOutcome(reason: string): SessionOutcome {
  if (reason === "upstream-gone") return "upstream-closed";
  if (reason === "client-gone") return "client-closed";
  return (SESSION_OUTCOMES as readonly string[]).includes(reason)
    ? reason as SessionOutcome
    : "protocol-error";
}

/** Recording failure reasons (`reason` label). */
export const RECORDING_FAILURE_REASONS = [
  "unavailable",
  "recorder",
  "protocol",
  "unfinished",
] as const;
/** A recording failure reason. */
export type RecordingFailureReason = typeof RECORDING_FAILURE_REASONS[number];

/** What a recording session reports (`RecordingSession`'s `metrics` option). */
export interface RecordingMetrics {
  /** Body bytes the recorder acknowledged (`execgate_recorded_bytes_total`). */
  recordedBytes: CounterChild;
  /** Failures by reason (`execgate_recording_failures_total`). */
  failures: { readonly [R in RecordingFailureReason]: CounterChild };
  /** Time from writing bytes to their acknowledgement, seconds. */
  ackLatency: HistogramChild;
}

/** The proxy's metrics. */
export interface ProxyMetrics {
  /** Where they are registered (render it for `/metrics`). */
  readonly registry: Registry;
  /** `execgate_sessions_total{type,outcome}`. */
  readonly sessions: Counter<"type" | "outcome">;
  /** `execgate_sessions_active{type}`, bound per type. */
  readonly sessionsActive: { readonly [T in SessionType]: GaugeChild };
  /** `execgate_relayed_bytes_total{direction}`, bound per direction. */
  readonly relayedBytes: {
    readonly clientToUpstream: CounterChild;
    readonly upstreamToClient: CounterChild;
  };
  /** Recording sessions' metrics. */
  readonly recording: RecordingMetrics;
  /** API request events (the events stream reports here). */
  readonly events: {
    /** `execgate_events_queued`: events waiting for an acknowledgement. */
    readonly queued: GaugeChild;
    /** `execgate_events_dropped_total`: fail-open events dropped or lost. */
    readonly dropped: CounterChild;
  };
  /** `execgate_policy_reloads_total{result}`. */
  readonly policyReloads: {
    readonly ok: CounterChild;
    readonly failed: CounterChild;
  };
  /** `execgate_sessions_active` as a family (for tests and collectors). */
  readonly sessionsActiveFamily: Gauge<"type">;
}

/** Buckets of the upload acknowledgement latency, seconds (1 ms to 30 s). */
export const ACK_LATENCY_BUCKETS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
];

/**
 * Registers the proxy's metrics, every series bound and at zero.
 * @param registry Where. @default {a new Registry}
 * @returns The metrics.
 * @example
 * ```ts
 * import { createProxyMetrics } from "./proxy_metrics.ts";
 * const m = createProxyMetrics();
 * m.relayedBytes.upstreamToClient.inc(5);
 * if (!m.registry.render().includes('execgate_relayed_bytes_total{direction="upstream_to_client"} 5')) throw new Error();
 * ```
 */
export function createProxyMetrics(
  registry: Registry = new Registry(),
): ProxyMetrics {
  const sessions = registry.counter({
    name: "execgate_sessions_total",
    help:
      "Exec, attach and port-forward sessions by type and outcome (how the relay ended, or why it never started).",
    labels: ["type", "outcome"],
  });
  for (const type of SESSION_TYPES) {
    for (const outcome of SESSION_OUTCOMES) sessions.labels({ type, outcome });
  }
  const active = registry.gauge({
    name: "execgate_sessions_active",
    help: "Sessions being relayed now, by type.",
    labels: ["type"],
  });
  const relayed = registry.counter({
    name: "execgate_relayed_bytes_total",
    help:
      "Bytes relayed on upgraded sessions (exec, attach, port-forward), by direction.",
    labels: ["direction"],
  });
  const recorded = registry.counter({
    name: "execgate_recorded_bytes_total",
    help: "Recording body bytes the recorders acknowledged.",
  });
  const failures = registry.counter({
    name: "execgate_recording_failures_total",
    help:
      "Recordings that failed, by reason: unavailable (no recorder accepted at start), recorder (broke midway), protocol (the tap could not decode the session), unfinished (no final acknowledgement).",
    labels: ["reason"],
  });
  const ack = registry.histogram({
    name: "execgate_upload_ack_latency_seconds",
    help:
      "Time from writing recording bytes to the recorder's acknowledgement of them (one sample per round trip).",
    buckets: ACK_LATENCY_BUCKETS,
  });
  const queued = registry.gauge({
    name: "execgate_events_queued",
    help: "API request events queued or in flight, not yet acknowledged.",
  });
  const dropped = registry.counter({
    name: "execgate_events_dropped_total",
    help:
      "Fail-open API request events dropped at the queue bound or lost with a broken upload.",
  });
  const reloads = registry.counter({
    name: "execgate_policy_reloads_total",
    help: "Policy file reloads, by result (ok, failed: the old policy stays).",
    labels: ["result"],
  });
  const bindFailures = Object.fromEntries(
    RECORDING_FAILURE_REASONS.map((reason) => [
      reason,
      failures.labels({ reason }),
    ]),
  ) as { [R in RecordingFailureReason]: CounterChild };
  return {
    registry,
    sessions,
    sessionsActive: {
      exec: active.labels({ type: "exec" }),
      attach: active.labels({ type: "attach" }),
      portforward: active.labels({ type: "portforward" }),
    },
    sessionsActiveFamily: active,
    relayedBytes: {
      clientToUpstream: relayed.labels({ direction: "client_to_upstream" }),
      upstreamToClient: relayed.labels({ direction: "upstream_to_client" }),
    },
    recording: {
      recordedBytes: recorded.labels({}),
      failures: bindFailures,
      ackLatency: ack.labels({}),
    },
    events: {
      queued: queued.labels({}),
      dropped: dropped.labels({}),
    },
    policyReloads: {
      ok: reloads.labels({ result: "ok" }),
      failed: reloads.labels({ result: "failed" }),
    },
  };
}
