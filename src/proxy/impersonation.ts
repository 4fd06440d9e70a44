/**
 * Rewrites a client's request headers for upstream: removes every credential
 * and impersonation header the client sent, removes hop-by-hop headers, and
 * adds the proxy's own credentials and the caller's impersonation.
 *
 * @module
 */

/** The impersonation to apply upstream. */
export interface Impersonation {
  /** `Impersonate-User`. */
  user: string;
  /** One `Impersonate-Group` each. */
  groups: string[];
}

/**
 * Whether a client-sent header must never reach upstream: `Authorization`,
 * `Proxy-Authorization` and every `Impersonate-*` (`-User`, `-Group`, `-Uid`,
 * `-Extra-*`).
 * @param name Header name, any case.
 * @returns True when it must be dropped.
 */
export function isCredentialHeader(name: string): boolean {
  const n = name.toLowerCase();
  return n === "authorization" || n === "proxy-authorization" ||
    n.startsWith("impersonate-");
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
]);

/** Options of {@linkcode upstreamHeaders}. */
export interface UpstreamHeaderOptions {
  /** The caller's impersonation. */
  impersonate: Impersonation;
  /** The proxy's bearer token upstream, if it uses one. */
  token?: string;
  /** `host:port` of the upstream, for the `Host` header. */
  host: string;
  /** Keep `Connection`/`Upgrade` (upgrade requests); else drop hop-by-hop. */
  upgrade: boolean;
}

/**
 * Builds the header list sent upstream, in the client's order.
 * @param raw The client's headers, names as sent.
 * @param opts Credentials and impersonation.
 * @returns Header pairs for upstream.
 * @example
 * ```ts
 * import { upstreamHeaders } from "./impersonation.ts";
 * const h = upstreamHeaders(
 *   [["Authorization", "Bearer client"], ["Impersonate-User", "admin"], ["Accept", "*"]],
 *   { impersonate: { user: "alice", groups: ["eng"] }, token: "proxy", host: "k8s:443", upgrade: false },
 * );
 * if (h.some(([k, v]) => v === "admin" || v === "Bearer client")) throw new Error();
 * ```
 */
export function upstreamHeaders(
  raw: Iterable<[string, string]>,
  opts: UpstreamHeaderOptions,
): [string, string][] {
  const out: [string, string][] = [["Host", opts.host]];
  const named = new Set<string>();
  const list = [...raw];
  if (!opts.upgrade) {
    for (const [k, v] of list) {
      if (k.toLowerCase() === "connection") {
        for (const t of v.split(",")) named.add(t.trim().toLowerCase());
      }
    }
  }
  for (const [k, v] of list) {
    const n = k.toLowerCase();
    if (isCredentialHeader(n)) continue;
    if (n === "host") continue;
    // No compression extension: the recording tap must read frames in the clear.
    if (n === "sec-websocket-extensions") continue;
    if (!opts.upgrade && (HOP_BY_HOP.has(n) || named.has(n))) continue;
    out.push([k, v]);
  }
  if (opts.token) out.push(["Authorization", `Bearer ${opts.token}`]);
  out.push(["Impersonate-User", opts.impersonate.user]);
  for (const g of opts.impersonate.groups) out.push(["Impersonate-Group", g]);
  return out;
}
