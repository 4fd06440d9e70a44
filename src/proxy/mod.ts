/**
 * The execgate proxy: configuration, the runtime-neutral core
 * ({@linkcode createProxy}), the byte relay and its tap seam, and the Deno
 * adapters that serve it ({@linkcode startProxy}, {@linkcode serveProxy}).
 *
 * @example
 * ```ts
 * import { parseProxyConfig } from "./mod.ts";
 * const config = parseProxyConfig({
 *   identity: { type: "tokens", file: "tokens.hujson" },
 *   policy: { file: "policy.hujson" },
 *   upstream: { kubeconfig: "upstream.kubeconfig" },
 * });
 * if (config.recording.ackTimeoutMs !== 10_000) throw new Error();
 * ```
 *
 * @module
 */

export {
  loadProxyConfig,
  parseProxyConfig,
  type ProxyConfig,
} from "./config.ts";
export {
  type Authorize,
  type Authorized,
  createProxy,
  type OpenPortForwardTap,
  type OpenTap,
  type PortForwardContext,
  type Proxy,
  type ProxyDeps,
  type Refused,
  type SessionContext,
  SessionRefusedError,
  type UpgradeRequest,
} from "./proxy.ts";
export { createAuthorize } from "./authorize.ts";
export type { ExecRequest } from "./exec_request.ts";
export { parseExecRequest } from "./routes.ts";
export {
  canonicalTarget,
  type DroppedPair,
  kubeBool,
  parseRequestTarget,
  type QueryPair,
  queryValues,
  type RequestTarget,
  RequestTargetError,
} from "./request_target.ts";
export {
  classifyRoute,
  execRequestOf,
  portForwardPorts,
  type Route,
  type RouteKind,
} from "./routes.ts";
export {
  restrictUpgradeOffer,
  type UpgradeOffer,
  UpgradeOfferError,
} from "./upgrade_offer.ts";
export {
  type Impersonation,
  isCredentialHeader,
  type UpstreamHeaderOptions,
  upstreamHeaders,
} from "./impersonation.ts";
export type { RelayTap } from "../recording/relay_tap.ts";
export type { ByteDuplex } from "./duplex.ts";
export {
  type ByteCounter,
  encodeRequestHead,
  type RelayOptions,
  type RelayResult,
  relayUpgrade,
  writeRawResponse,
  writeResponse,
} from "./upgrade_relay.ts";
export {
  headerOf,
  type ResponseHead,
  ResponseHeadParser,
} from "./http_head.ts";
export {
  inClusterUpstream,
  kubeconfigUpstream,
  type ReadTextFile,
  type UpstreamConfig,
} from "./upstream_config.ts";
export {
  upstreamConnector,
  type UpstreamRequest,
  upstreamRequester,
  type UpstreamRequestInit,
} from "./upstream_connect.ts";
export {
  type ServedProxy,
  type ServeOptions,
  serveProxy,
} from "./node_server.ts";
export { type RunningProxy, startProxy, type StartProxyDeps } from "./start.ts";
export { openRecordings, type OpenRecordingsDeps } from "./open_recordings.ts";
export {
  recorderCredentials,
  type RecorderCredentialsDeps,
} from "./recorder_credentials.ts";
export {
  EventBodyRefusedError,
  type EventedRequest,
  type EventInFlight,
  EventRefusedError,
  RequestEvents,
  type RequestEventsOptions,
} from "./events/request_events.ts";
export {
  EventNotAcknowledgedError,
  EventStream,
  type EventStreamOptions,
  type EventStreamStats,
} from "../recording/event_stream.ts";
export type { LogFields, Logger } from "../log.ts";
export type {
  Identity,
  IdentitySource,
  KubernetesCapRule,
  PeerInfo,
} from "../identity/identity.ts";
export type { Decision } from "../policy/decision.ts";
export type { EndReason, UpstreamRefusal } from "../recording/wire.ts";
export {
  type ProxyMetrics,
  RECORDING_FAILURE_REASONS,
  type RecordingFailureReason,
  type RecordingMetrics,
  SESSION_TYPES,
  type SessionType,
} from "../metrics/proxy_metrics.ts";
export type { Registry } from "../metrics/registry.ts";
export type { Counter, CounterChild } from "../metrics/counter.ts";
export type { Gauge, GaugeChild } from "../metrics/gauge.ts";
export type {
  Histogram,
  HistogramChild,
  HistogramOptions,
} from "../metrics/histogram.ts";
export type { Family, LabelValues, MetricOptions } from "../metrics/_family.ts";
