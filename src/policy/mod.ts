/**
 * The access policy: a Tailscale-shaped HuJSON file (`groups`, `acls`,
 * `grants` with `tailscale.com/cap/kubernetes` rules), its evaluation into a
 * {@linkcode Decision}, a watcher that reloads it, and the explanation behind
 * `execgate policy test`.
 *
 * @example
 * ```ts
 * import { evaluate, parsePolicy } from "./mod.ts";
 * const policy = parsePolicy(`{
 *   "acls": [{"action": "accept", "src": ["alice@example.com"], "dst": ["tag:k8s-proxy:443"]}],
 *   "grants": [{"src": ["alice@example.com"], "dst": ["tag:k8s-proxy"],
 *     "app": {"tailscale.com/cap/kubernetes": [{"recorder": ["tag:k8s-recorder"], "enforceRecorder": true}]}}],
 * }`, "policy.hujson");
 * const d = evaluate(policy,
 *   { hostname: "alice-laptop", nodeId: "n1", loginName: "alice@example.com", groups: [] },
 *   { hostname: "execgate", tags: ["tag:k8s-proxy"] });
 * if (!d.admitted || !d.enforceRecorder || d.recorders[0] !== "tag:k8s-recorder") throw new Error();
 * ```
 *
 * @module
 */

export type { Decision } from "./decision.ts";
export type { AclRule, DstPattern, GrantRule, Policy } from "./policy.ts";
export { KUBERNETES_CAP } from "./policy.ts";
export { parsePolicy, type PolicyFile } from "./parse_policy.ts";
export {
  ConfigError,
  formatJsonPath,
  PolicyError,
} from "../config/config_error.ts";
export type { Identity, KubernetesCapRule } from "../identity/identity.ts";
export { evaluate, matchDst, matchSrc, type ProxySelf } from "./evaluate.ts";
export {
  type PolicyWatcher,
  watchPolicy,
  type WatchPolicyOptions,
} from "./watch_policy.ts";
export {
  denoPolicyFs,
  type PolicyFs,
  type PolicyWatchHandle,
} from "./policy_fs.ts";
export {
  explainDecision,
  parsePolicyTestArgs,
  POLICY_TEST_USAGE,
  type PolicyTestArgs,
  runPolicyTest,
  type TestCaller,
} from "./explain.ts";
export {
  type HujsonMember,
  type HujsonNode,
  HujsonSyntaxError,
  locate,
  parseHujson,
  type Position,
  toPlainValue,
} from "../config/hujson.ts";
export {
  errorAt,
  type ParsedHujsonFile,
  parseHujsonFile,
  type ParseHujsonFileOptions,
} from "../config/hujson_file.ts";
export type { LogFields, Logger } from "../log.ts";
