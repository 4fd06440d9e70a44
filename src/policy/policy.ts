/**
 * The parsed access policy: what {@linkcode parsePolicy} returns and
 * {@linkcode evaluate} reads.
 *
 * @module
 */

import type { KubernetesCapRule } from "../identity/identity.ts";

/** The capability name whose grants shape Kubernetes access. */
export const KUBERNETES_CAP = "tailscale.com/cap/kubernetes";

/** A destination pattern: which proxy (by tag, or any) and which ports. */
export interface DstPattern {
  /** The text as written. */
  text: string;
  /** The tag, or undefined for `*` (any proxy). */
  tag?: string;
  /** Port ranges, or undefined for `*`/absent (any port). */
  ports?: { from: number; to: number }[];
}

/** One entry of `acls`. */
export interface AclRule {
  /** Position in the `acls` array. */
  index: number;
  /** Line of the rule in the file. */
  line: number;
  /** Always `accept`. */
  action: "accept";
  /** Source selectors: `*`, login names, `group:…`, `tag:…`, `autogroup:…`. */
  src: string[];
  /** Destinations. */
  dst: DstPattern[];
}

/** One entry of `grants`. */
export interface GrantRule {
  /** Position in the `grants` array. */
  index: number;
  /** Line of the rule in the file. */
  line: number;
  /** Source selectors, as for acls. */
  src: string[];
  /** Destinations. */
  dst: DstPattern[];
  /** The `tailscale.com/cap/kubernetes` rules (possibly empty). */
  rules: KubernetesCapRule[];
}

/** A validated policy file. */
export interface Policy {
  /** The file name given to the parser (used in messages). */
  fileName: string;
  /** `group:name` → member login names. */
  groups: ReadonlyMap<string, readonly string[]>;
  /** Network admission rules, in file order. */
  acls: AclRule[];
  /** Capability grants, in file order. */
  grants: GrantRule[];
}
