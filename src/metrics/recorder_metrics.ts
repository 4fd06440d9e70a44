/**
 * The recorder's metrics, registered once per recorder and bound to their
 * label values up front (a received chunk adds to a child it holds). Each is
 * documented in `docs/metrics.md`.
 *
 * @module
 */

import type { CounterChild } from "./counter.ts";
import type { GaugeChild } from "./gauge.ts";
import type { HistogramChild } from "./histogram.ts";
import { ACK_LATENCY_BUCKETS } from "./proxy_metrics.ts";
import { Registry } from "./registry.ts";

/** Upload outcomes (`status` label of `execgate_recordings_total`). */
export const RECORDING_STATUSES = [
  "complete",
  "partial",
  "refused",
  "rejected",
] as const;
/** An upload outcome. */
export type UploadOutcome = typeof RECORDING_STATUSES[number];

/** Index query kinds (`kind` label of `execgate_index_query_seconds`). */
export const INDEX_QUERY_KINDS = ["list", "text"] as const;
/** An index query kind: filters only, or with a text search (`q`). */
export type IndexQueryKind = typeof INDEX_QUERY_KINDS[number];

/** What the ingest of one upload reports, per received chunk. */
export interface IngestMetrics {
  /** `execgate_ingested_bytes_total`. */
  ingestedBytes: CounterChild;
  /** `execgate_recorder_ack_latency_seconds`: receipt to acknowledgement. */
  ackLatency: HistogramChild;
}

/** The recorder's metrics. */
export interface RecorderMetrics {
  /** Where they are registered (render it for `/metrics`). */
  readonly registry: Registry;
  /** `execgate_uploads_active` (read from the ingestor at scrape time). */
  readonly uploadsActive: GaugeChild;
  /** `execgate_recordings_total{status}`, bound per status. */
  readonly recordings: { readonly [S in UploadOutcome]: CounterChild };
  /** Per-chunk ingest metrics. */
  readonly ingest: IngestMetrics;
  /** `execgate_index_query_seconds{kind}`, bound per kind. */
  readonly indexQuery: { readonly [K in IndexQueryKind]: HistogramChild };
}

/** Buckets of index query durations, seconds (1 ms to 10 s). */
export const INDEX_QUERY_BUCKETS: readonly number[] = [
  0.001,
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
];

/**
 * Registers the recorder's metrics, every series bound and at zero.
 * @param registry Where. @default {a new Registry}
 * @returns The metrics.
 * @example
 * ```ts
 * import { createRecorderMetrics } from "./recorder_metrics.ts";
 * const m = createRecorderMetrics();
 * m.recordings.complete.inc();
 * if (!m.registry.render().includes('execgate_recordings_total{status="complete"} 1')) throw new Error();
 * ```
 */
export function createRecorderMetrics(
  registry: Registry = new Registry(),
): RecorderMetrics {
  const active = registry.gauge({
    name: "execgate_uploads_active",
    help: "Recording uploads being received now.",
  });
  const recordings = registry.counter({
    name: "execgate_recordings_total",
    help:
      "Recording uploads that ended, by status: complete, partial (kept, not whole), refused (header refused, nothing kept), rejected (not an upload, nothing kept).",
    labels: ["status"],
  });
  const ingested = registry.counter({
    name: "execgate_ingested_bytes_total",
    help: "Recording body bytes received from proxies.",
  });
  const ack = registry.histogram({
    name: "execgate_recorder_ack_latency_seconds",
    help:
      "Time from receiving a chunk of an upload to acknowledging it (stored), per chunk.",
    buckets: ACK_LATENCY_BUCKETS,
  });
  const query = registry.histogram({
    name: "execgate_index_query_seconds",
    help:
      "Recording list queries (GET /v1/recordings and the UI), by kind: list (filters only) or text (with q).",
    labels: ["kind"],
    buckets: INDEX_QUERY_BUCKETS,
  });
  return {
    registry,
    uploadsActive: active.labels({}),
    recordings: Object.fromEntries(
      RECORDING_STATUSES.map((status) => [
        status,
        recordings.labels({ status }),
      ]),
    ) as { [S in UploadOutcome]: CounterChild },
    ingest: {
      ingestedBytes: ingested.labels({}),
      ackLatency: ack.labels({}),
    },
    indexQuery: {
      list: query.labels({ kind: "list" }),
      text: query.labels({ kind: "text" }),
    },
  };
}
