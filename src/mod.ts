/**
 * execgate as a library, runtime-neutral: the proxy core, the access
 * policy, identities, the recording of a session, the config reader, and
 * the wire formats. Nothing here loads `node:*`, the AWS SDK, a database
 * driver or the UI's assets, so the proxy can be embedded in any runtime
 * with web streams and `fetch`'s types.
 *
 * - {@linkcode createProxy}: the proxy, given its seams (who is calling,
 *   how to reach the API server, how to record);
 * - {@linkcode parsePolicy} / {@linkcode evaluate}: the access policy;
 * - {@linkcode createAuthorize}: an identity source and a policy as the
 *   proxy's `authorize`;
 * - {@linkcode RecordingSession}: recording one session;
 * - {@linkcode parseHujsonFile} / {@linkcode ConfigError}: reading config files.
 *
 * Runtime-specific entry points: `./proxy` (adds `startProxy`, the Deno
 * and `node:` listeners and upstream connectors), `./recorder` (the recorder
 * service: storage on disk or S3, SQLite or PostgreSQL index, web UI),
 * `./identity`, `./recording`, `./k8s` (the WebSocket and SPDY codecs),
 * `./devcluster` (the simulated API server for tests).
 *
 * @example Embedding the proxy core with an identity source of your own
 * ```ts
 * import { createAuthorize, createProxy, evaluate, type IdentitySource, parsePolicy } from "./mod.ts";
 *
 * // Callers present "X-Demo-User"; a real source would check a credential.
 * const source: IdentitySource = {
 *   name: "demo",
 *   identify: (peer) => {
 *     const login = peer.headers.get("x-demo-user");
 *     return Promise.resolve(login ? { hostname: login, nodeId: login, loginName: login, groups: [] } : undefined);
 *   },
 * };
 * const policy = parsePolicy(`{
 *   "acls": [{"action": "accept", "src": ["alice@example.com"], "dst": ["*:*"]}],
 *   "grants": [{"src": ["alice@example.com"], "dst": ["*"],
 *     "app": {"tailscale.com/cap/kubernetes": [{"impersonate": {"groups": ["viewers"]}}]}}],
 * }`, "policy.hujson");
 * const seen: [string, string][][] = [];
 * const proxy = createProxy({
 *   upstreamUrl: "https://kube.example",
 *   authorize: createAuthorize(source, (id) => evaluate(policy, id, { hostname: "execgate", tags: [] })),
 *   // The API server, here answered in-process.
 *   upstreamRequest: (init) => {
 *     seen.push(init.headers);
 *     return Promise.resolve(Response.json({ kind: "PodList", items: [] }));
 *   },
 *   connectUpstream: () => Promise.reject(new Error("no upgrades in this example")),
 *   logger: { info() {}, warn() {}, error() {} },
 * });
 * const peer = (user?: string) => ({
 *   remoteAddr: "127.0.0.1:40000",
 *   headers: new Headers(user ? { "x-demo-user": user } : {}),
 * });
 * const get = (user?: string) =>
 *   proxy.fetch(new Request("https://execgate/api/v1/namespaces/default/pods"), peer(user));
 *
 * const ok = await get("alice@example.com");
 * if (ok.status !== 200) throw new Error(`alice: ${ok.status}`);
 * // Upstream saw the caller impersonated, as the policy says.
 * const sent = new Map(seen[0]!.map(([k, v]) => [k.toLowerCase(), v]));
 * if (sent.get("impersonate-user") !== "alice@example.com") throw new Error("user");
 * if (sent.get("impersonate-group") !== "viewers") throw new Error("group");
 * if ((await get("mallory@example.com")).status !== 403) throw new Error("mallory");
 * if ((await get()).status !== 401) throw new Error("anonymous");
 * await ok.body?.cancel();
 * ```
 *
 * @module
 */

export {
  type Authorize,
  type Authorized,
  createProxy,
  type OpenTap,
  type Proxy,
  type ProxyDeps,
  type Refused,
  type SessionContext,
  SessionRefusedError,
  type UpgradeRequest,
} from "./proxy/proxy.ts";
export { createAuthorize } from "./proxy/authorize.ts";
export {
  loadProxyConfig,
  parseProxyConfig,
  type ProxyConfig,
} from "./proxy/config.ts";
export type { ByteDuplex } from "./proxy/duplex.ts";
export type {
  UpstreamRequest,
  UpstreamRequestInit,
} from "./proxy/upstream_connect.ts";
export {
  type Decision,
  evaluate,
  parsePolicy,
  type Policy,
  PolicyError,
} from "./policy/mod.ts";
export type {
  Identity,
  IdentitySource,
  KubernetesCapRule,
  PeerInfo,
} from "./identity/identity.ts";
export { RecordingRequiredError, RecordingSession } from "./recording/mod.ts";
export type { CastHeader, SessionEnd } from "./recording/wire.ts";
export { ConfigError, parseHujsonFile } from "./config/mod.ts";
export { jsonLogger, type LogFields, type Logger } from "./log.ts";
export type { OpenPortForwardTap, PortForwardContext } from "./proxy/proxy.ts";
export type { ExecRequest } from "./proxy/exec_request.ts";
export type { RelayTap } from "./recording/relay_tap.ts";
export type {
  EventedRequest,
  EventInFlight,
  RequestEvents,
  RequestEventsOptions,
} from "./proxy/events/request_events.ts";
export type {
  EventStream,
  EventStreamOptions,
  EventStreamStats,
} from "./recording/event_stream.ts";
export {
  type ProxyMetrics,
  RECORDING_FAILURE_REASONS,
  type RecordingFailureReason,
  type RecordingMetrics,
  SESSION_TYPES,
  type SessionType,
} from "./metrics/proxy_metrics.ts";
export type { Route, RouteKind } from "./proxy/routes.ts";
export type { QueryPair } from "./proxy/request_target.ts";
export type { Registry } from "./metrics/registry.ts";
export type { Counter, CounterChild } from "./metrics/counter.ts";
export type { Gauge, GaugeChild } from "./metrics/gauge.ts";
export type {
  Histogram,
  HistogramChild,
  HistogramOptions,
} from "./metrics/histogram.ts";
export type { Family, LabelValues, MetricOptions } from "./metrics/_family.ts";
export type { AclRule, DstPattern, GrantRule } from "./policy/policy.ts";
export type { ProxySelf } from "./policy/evaluate.ts";
export type { RecorderAttempt } from "./recording/recorder_client.ts";
export type {
  ChannelDigest,
  Continuation,
  EndReason,
  PortForwardHeader,
  PortForwardStreamSummary,
  PortForwardSummary,
  UpstreamRefusal,
} from "./recording/wire.ts";
export type {
  ParsedHujsonFile,
  ParseHujsonFileOptions,
} from "./config/hujson_file.ts";
export type { HujsonMember, HujsonNode, Position } from "./config/hujson.ts";
