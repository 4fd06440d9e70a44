/**
 * execgate as a library: a Kubernetes API server proxy that records
 * `kubectl exec` sessions, and the recorder that stores them.
 *
 * - {@linkcode startProxy} / {@linkcode createProxy}: the proxy;
 * - {@linkcode serveRecorder} / {@linkcode createRecorder}: the recorder;
 * - {@linkcode parsePolicy} / {@linkcode evaluate}: the access policy;
 * - {@linkcode RecordingSession}: recording one session;
 * - the wire codecs under `@execgate/execgate/k8s`.
 *
 * Narrower entry points: `./proxy`, `./policy`, `./identity`, `./recording`,
 * `./recorder`, `./k8s`, `./devcluster`.
 *
 * @example
 * ```ts
 * import { evaluate, parsePolicy } from "./mod.ts";
 * const policy = parsePolicy(`{
 *   "acls": [{"action": "accept", "src": ["*"], "dst": ["*"]}],
 * }`, "policy.hujson");
 * const d = evaluate(policy, { hostname: "h", nodeId: "n", loginName: "a@example.com", groups: [] },
 *   { hostname: "execgate", tags: [] });
 * if (!d.admitted || d.recorders.length !== 0) throw new Error();
 * ```
 *
 * @module
 */

export {
  createProxy,
  loadProxyConfig,
  openRecordings,
  parseProxyConfig,
  type ProxyConfig,
  serveProxy,
  startProxy,
} from "./proxy/mod.ts";
export {
  createRecorder,
  parseRecorderConfig,
  type RecorderConfig,
  runRecorder,
  serveRecorder,
} from "./recorder/mod.ts";
export {
  type Decision,
  evaluate,
  parsePolicy,
  type Policy,
  PolicyError,
  watchPolicy,
} from "./policy/mod.ts";
export {
  createIdentitySource,
  type Identity,
  type IdentitySource,
} from "./identity/mod.ts";
export { RecordingRequiredError, RecordingSession } from "./recording/mod.ts";
export type { CastHeader, SessionEnd } from "./recording/wire.ts";
