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
  ProxyConfigSchema,
} from "./config.ts";
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
} from "./proxy.ts";
export { createAuthorize } from "./authorize.ts";
export { type ExecRequest, parseExecRequest } from "./exec_request.ts";
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
export type { RelayTap } from "./relay_tap.ts";
export type { ByteDuplex } from "./duplex.ts";
export {
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
