/**
 * Evaluates the policy for one caller: admission, impersonation and
 * recording.
 *
 * Rules, in short:
 * - **Admission** comes from `acls`: an `accept` rule whose `src` matches the
 *   caller and whose `dst` matches this proxy (by tag, or `*`). In tailscale
 *   mode (`identity.capRules` defined), tailscaled has already applied the
 *   tailnet policy: a peer that whois knows is admitted.
 * - **Grants**: every grant whose `src` and `dst` match contributes its
 *   `tailscale.com/cap/kubernetes` rules (in tailscale mode: the rules from
 *   the whois answer). They merge: impersonation groups are unioned in order
 *   without duplicates, recorder tags likewise, and `enforceRecorder` is true
 *   if any rule says so (default: fail open); `allowProxySubresources`
 *   likewise (default: a recorded caller's `…/proxy` requests are refused).
 * - **Impersonated user**: the login name, or the hostname for a tagged
 *   device (or a device without a login name).
 * - **Impersonated groups**: the grants' groups, then the groups the
 *   identity source asserts (mTLS `O`, token file `groups`); a tagged device
 *   that got no grant groups is impersonated with its tags as groups.
 *
 * @module
 */

import type { Identity, KubernetesCapRule } from "../identity/identity.ts";
import type { Decision } from "./decision.ts";
import type { DstPattern, Policy } from "./policy.ts";

/** The proxy the caller is talking to. */
export interface ProxySelf {
  /** The proxy's hostname (for messages). */
  hostname: string;
  /** The proxy's own tags, e.g. `["tag:k8s-proxy"]`. */
  tags: readonly string[];
  /**
   * The port the caller connected to. When given, destinations with a port
   * list must include it; when absent, ports are not checked.
   */
  port?: number;
}

/**
 * Evaluates the policy for a caller of this proxy.
 *
 * @param policy The parsed policy (ignored in tailscale mode, when
 *   `identity.capRules` is defined; may then be undefined). Without a
 *   policy and without capRules nobody is admitted.
 * @param identity The caller.
 * @param proxy This proxy's hostname, tags and (optionally) port.
 * @returns The decision; `matched` lists the acls and grants that produced
 *   it (in tailscale mode: grant entries with `line: 0`, indexed by cap rule).
 * @example
 * ```ts
 * import { parsePolicy } from "./parse_policy.ts";
 * import { evaluate } from "./evaluate.ts";
 * const policy = parsePolicy(`{
 *   "acls": [{"action": "accept", "src": ["*"], "dst": ["tag:k8s-proxy:443"]}],
 *   "grants": [{"src": ["*"], "dst": ["tag:k8s-proxy"],
 *     "app": {"tailscale.com/cap/kubernetes": [{"impersonate": {"groups": ["viewers"]}}]}}],
 * }`, "p.hujson");
 * const d = evaluate(policy, { hostname: "bob-laptop", nodeId: "n1", loginName: "bob@example.com", groups: [] },
 *   { hostname: "execgate", tags: ["tag:k8s-proxy"] });
 * if (!d.admitted || d.groups[0] !== "viewers") throw new Error();
 * ```
 */
export function evaluate(
  policy: Policy | undefined,
  identity: Identity,
  proxy: ProxySelf,
): Decision {
  const tagged = (identity.tags?.length ?? 0) > 0;
  const user = identity.loginName && identity.loginName.length > 0
    ? identity.loginName
    : identity.hostname;

  let rules: KubernetesCapRule[];
  const matched: Decision["matched"] = [];
  if (identity.capRules !== undefined) {
    rules = identity.capRules;
    rules.forEach((_, index) =>
      matched.push({ kind: "grant", index, line: 0 })
    );
  } else if (policy === undefined) {
    return {
      admitted: false,
      reason: "no policy file is loaded and the identity carries no rules",
      user,
      groups: [],
      recorders: [],
      enforceRecorder: false,
      allowProxySubresources: false,
      matched: [],
    };
  } else {
    for (const acl of policy.acls) {
      if (
        acl.src.some((s) => matchSrc(s, identity, policy)) &&
        acl.dst.some((d) => matchDst(d, proxy))
      ) {
        matched.push({ kind: "acl", index: acl.index, line: acl.line });
      }
    }
    if (matched.length === 0) {
      return {
        admitted: false,
        // The file's name, not its path: this reason reaches the caller.
        reason: `no acl in ${
          JSON.stringify(policy.fileName.split("/").pop())
        } accepts ${describeCaller(identity)} to ${describeProxy(proxy)}`,
        user,
        groups: [],
        recorders: [],
        enforceRecorder: false,
        allowProxySubresources: false,
        matched: [],
      };
    }
    rules = [];
    for (const grant of policy.grants) {
      // A grant without Kubernetes rules (another app's capability) is no
      // part of this decision.
      if (grant.rules.length === 0) continue;
      if (
        grant.src.some((s) => matchSrc(s, identity, policy)) &&
        grant.dst.some((d) => matchDst(d, proxy))
      ) {
        matched.push({ kind: "grant", index: grant.index, line: grant.line });
        rules.push(...grant.rules);
      }
    }
  }

  const grantGroups = rules.flatMap((r) => r.impersonate?.groups ?? []);
  const groups = unique([
    ...(tagged && grantGroups.length === 0 ? identity.tags ?? [] : grantGroups),
    ...identity.groups,
  ]);
  return {
    admitted: true,
    user,
    groups,
    recorders: unique(rules.flatMap((r) => r.recorder ?? [])),
    enforceRecorder: rules.some((r) => r.enforceRecorder === true),
    // Only when set, so a decision without it reads as before.
    ...(rules.some((r) => r.recordPortForward === true)
      ? { recordPortForward: true }
      : {}),
    allowProxySubresources: rules.some((r) =>
      r.allowProxySubresources === true
    ),
    // Only when asked for: a decision without events stays as it was.
    ...(rules.some((r) => r.enableEvents === true)
      ? { enableEvents: true }
      : {}),
    matched,
  };
}

/**
 * Whether a source selector matches the caller.
 * @param src `*`, a login name, `group:…`, `tag:…`, `autogroup:member`
 *   (any caller with a login name and no tags) or `autogroup:tagged`.
 * @param identity The caller.
 * @param policy For group membership.
 * @returns True when it matches.
 */
export function matchSrc(
  src: string,
  identity: Identity,
  policy: Pick<Policy, "groups">,
): boolean {
  const login = identity.loginName?.toLowerCase();
  const tags = identity.tags ?? [];
  if (src === "*") return true;
  if (src === "autogroup:tagged") return tags.length > 0;
  if (src === "autogroup:member") {
    return login !== undefined && tags.length === 0;
  }
  if (src.startsWith("tag:")) return tags.includes(src);
  if (src.startsWith("group:")) {
    if (login === undefined) return false;
    return (policy.groups.get(src) ?? []).some((m) =>
      m.toLowerCase() === login
    );
  }
  return login !== undefined && src.toLowerCase() === login;
}

/**
 * Whether a destination matches this proxy.
 * @param dst The parsed destination.
 * @param proxy This proxy.
 * @returns True when it matches.
 */
export function matchDst(dst: DstPattern, proxy: ProxySelf): boolean {
  if (dst.tag !== undefined && !proxy.tags.includes(dst.tag)) return false;
  if (dst.ports === undefined || proxy.port === undefined) return true;
  const port = proxy.port;
  return dst.ports.some((r) => r.from <= port && port <= r.to);
}

function unique(items: string[]): string[] {
  return [...new Set(items)];
}

function describeCaller(identity: Identity): string {
  if (identity.loginName) return JSON.stringify(identity.loginName);
  if (identity.tags?.length) {
    return `${JSON.stringify(identity.hostname)} (${identity.tags.join(", ")})`;
  }
  return JSON.stringify(identity.hostname);
}

function describeProxy(proxy: ProxySelf): string {
  const tags = proxy.tags.length ? ` (${proxy.tags.join(", ")})` : " (no tags)";
  return `${JSON.stringify(proxy.hostname)}${tags}`;
}
