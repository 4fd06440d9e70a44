/**
 * Rewrites a client's request headers for upstream: removes every credential
 * and identity header the client sent, removes hop-by-hop headers, and adds
 * the proxy's own credentials and the caller's impersonation.
 *
 * Every header name is normalised (lower case, `_` → `-`) before it is
 * checked, so `Impersonate_User` and `IMPERSONATE-USER` are the same header
 * to us as `Impersonate-User` is to a front proxy that folds them. Dropped:
 *
 * - `Authorization`, `Proxy-Authorization`;
 * - `Impersonate-*` (`-User`, `-Group`, `-Uid`, `-Extra-*`);
 * - `X-Remote-*` (the front-proxy identity headers `X-Remote-User`,
 *   `X-Remote-Group`, `X-Remote-Extra-*`);
 * - hop-by-hop headers (`Connection`, `Keep-Alive`, `Proxy-Connection`,
 *   `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`, `Host`) and any header
 *   named in a `Connection` header. For upgrade requests `Upgrade` (and the
 *   body framing) is kept and the proxy sends `Connection: Upgrade` itself.
 *
 * A header name that is not an HTTP token is refused.
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
 * A header name as compared here: lower case, `_` read as `-`.
 * @param name Header name as sent.
 * @returns The normalised name.
 */
export function normalizeHeaderName(name: string): string {
  return name.toLowerCase().replaceAll("_", "-");
}

/**
 * Whether a client-sent header must never reach upstream: `Authorization`,
 * `Proxy-Authorization`, every `Impersonate-*` and every `X-Remote-*`, in any
 * case and with `_` for `-`.
 * @param name Header name, any spelling.
 * @returns True when it must be dropped.
 */
export function isCredentialHeader(name: string): boolean {
  const n = normalizeHeaderName(name);
  return n === "authorization" || n === "proxy-authorization" ||
    n.startsWith("impersonate-") || n.startsWith("x-remote-");
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

/** Hop-by-hop headers still dropped on upgrade requests. */
const HOP_BY_HOP_UPGRADE = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "host",
]);

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Options of {@linkcode upstreamHeaders}. */
export interface UpstreamHeaderOptions {
  /** The caller's impersonation. */
  impersonate: Impersonation;
  /** The proxy's bearer token upstream, if it uses one. */
  token?: string;
  /** `host:port` of the upstream, for the `Host` header. */
  host: string;
  /** An upgrade request: keep `Upgrade`, send `Connection: Upgrade`. */
  upgrade: boolean;
}

/**
 * Builds the header list sent upstream, in the client's order.
 * @param raw The client's headers, names as sent.
 * @param opts Credentials and impersonation.
 * @returns Header pairs for upstream.
 * @throws {TypeError} A header name is not an HTTP token.
 * @example
 * ```ts
 * import { upstreamHeaders } from "./impersonation.ts";
 * const h = upstreamHeaders(
 *   [["Authorization", "Bearer client"], ["Impersonate_User", "admin"], ["X-Remote-User", "admin"], ["Accept", "*"]],
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
  for (const [k, v] of list) {
    if (!TOKEN.test(k)) {
      throw new TypeError(
        `Cannot forward request: header name ${
          JSON.stringify(k.slice(0, 80))
        } is not an HTTP token`,
      );
    }
    if (normalizeHeaderName(k) === "connection") {
      for (const t of v.split(",")) {
        const n = normalizeHeaderName(t.trim());
        if (n !== "" && !(opts.upgrade && n === "upgrade")) named.add(n);
      }
    }
  }
  const hop = opts.upgrade ? HOP_BY_HOP_UPGRADE : HOP_BY_HOP;
  let connectionSent = false;
  for (const [k, v] of list) {
    const n = normalizeHeaderName(k);
    if (opts.upgrade && n === "connection" && !connectionSent) {
      out.push(["Connection", "Upgrade"]);
      connectionSent = true;
      continue;
    }
    if (isCredentialHeader(n) || hop.has(n) || named.has(n)) continue;
    // No compression extension: the recording tap must read frames in the clear.
    if (n === "sec-websocket-extensions") continue;
    out.push([k, v]);
  }
  if (opts.upgrade && !connectionSent) {
    out.splice(1, 0, ["Connection", "Upgrade"]);
  }
  if (opts.token) out.push(["Authorization", `Bearer ${opts.token}`]);
  out.push(["Impersonate-User", opts.impersonate.user]);
  for (const g of opts.impersonate.groups) out.push(["Impersonate-Group", g]);
  return out;
}
