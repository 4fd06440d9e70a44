/**
 * Metrics in the Prometheus text exposition format 0.0.4: counters, gauges
 * and histograms with labels, in a registry each service is handed (no
 * global). Runtime-neutral, and it imports nothing else of execgate.
 *
 * @example
 * ```ts
 * import { EXPOSITION_CONTENT_TYPE, Registry } from "./mod.ts";
 * const r = new Registry();
 * r.gauge({ name: "up_now", help: "Always 1." }).set(1);
 * const res = new Response(r.render(), { headers: { "content-type": EXPOSITION_CONTENT_TYPE } });
 * if (!(await res.text()).endsWith("up_now 1\n")) throw new Error();
 * ```
 *
 * @module
 */

export { EXPOSITION_CONTENT_TYPE } from "./_exposition.ts";
export {
  type Family,
  type LabelValues,
  type MetricOptions,
} from "./_family.ts";
export { Counter, CounterChild } from "./counter.ts";
export { Gauge, GaugeChild } from "./gauge.ts";
export {
  DEFAULT_BUCKETS,
  Histogram,
  HistogramChild,
  type HistogramOptions,
} from "./histogram.ts";
export { Registry } from "./registry.ts";
export {
  createProxyMetrics,
  type ProxyMetrics,
  RECORDING_FAILURE_REASONS,
  type RecordingFailureReason,
  type RecordingMetrics,
  SESSION_TYPES,
  type SessionType,
} from "./proxy_metrics.ts";
export {
  createRecorderMetrics,
  INDEX_QUERY_KINDS,
  type IndexQueryKind,
  type IngestMetrics,
  type RecorderMetrics,
  RECORDING_STATUSES,
  type UploadOutcome,
} from "./recorder_metrics.ts";
export {
  metricsHandler,
  type MetricsHandlerOptions,
} from "./metrics_handler.ts";
