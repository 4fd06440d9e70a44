/**
 * The `tailscale` identity source: asks the local tailscaled who the peer is.
 *
 * `GET /localapi/v0/whois?addr=IP:PORT` answers an `apitype.WhoIsResponse`
 * (tailscale `client/tailscale/apitype/apitype.go`):
 *
 * ```
 * {
 *   "Node": {                       // tailcfg.Node
 *     "StableID": "nXXXX",          // → nodeId
 *     "Name": "alice-laptop.tail1234.ts.net.",
 *     "ComputedName": "alice-laptop", // → hostname (else Name's first label,
 *     "Hostinfo": {"Hostname": "…"},  //   else Hostinfo.Hostname)
 *     "Tags": ["tag:ci"],           // → tags (tagged devices only)
 *     …
 *   },
 *   "UserProfile": {"ID": 123, "LoginName": "alice@example.com", …},
 *   "CapMap": {                     // tailcfg.PeerCapMap: cap → []rawJSON
 *     "tailscale.com/cap/kubernetes": [{"impersonate": {"groups": […]}, …}]
 *   }
 * }
 * ```
 *
 * An unknown peer gets `404 no match for IP:port`: no identity (→ 401). The
 * `CapMap` rules become `Identity.capRules`, which makes the policy
 * evaluation use them instead of a local policy file. For a tagged device the
 * user profile is the placeholder "tagged-devices" one, so `userId` and
 * `loginName` are left out.
 *
 * @module
 */

import { z } from "zod";
import type {
  Identity,
  IdentitySource,
  KubernetesCapRule,
} from "./identity.ts";
import { type LocalApiGet, unixSocketLocalApi } from "./localapi_client.ts";

/** The capability whose rules shape Kubernetes access. */
const KUBERNETES_CAP = "tailscale.com/cap/kubernetes";

/** Options of {@linkcode createTailscaleIdentitySource}. */
export interface TailscaleSourceOptions {
  /** tailscaled's socket. @default {"/var/run/tailscale/tailscaled.sock"} */
  socketPath?: string;
  /** The LocalAPI transport. @default {unixSocketLocalApi(socketPath)} */
  localApi?: LocalApiGet;
}

/**
 * Creates the tailscale identity source.
 *
 * @param options Socket path or a LocalAPI transport.
 * @returns The source. `identify` resolves `undefined` for a peer tailscaled
 *   does not know (LocalAPI 404) and rejects when tailscaled is unreachable
 *   or answers something else.
 * @example
 * ```ts
 * import { createTailscaleIdentitySource } from "./tailscale.ts";
 * const source = createTailscaleIdentitySource({
 *   localApi: () => Promise.resolve({ status: 404, body: "no match for IP:port\n" }),
 * });
 * const who = await source.identify({ remoteAddr: "100.64.0.9:5555", headers: new Headers() });
 * if (who !== undefined) throw new Error();
 * ```
 */
export function createTailscaleIdentitySource(
  options: TailscaleSourceOptions = {},
): IdentitySource {
  const localApi = options.localApi ?? unixSocketLocalApi(options.socketPath);
  return {
    name: "tailscale",
    async identify(peer) {
      const addr = normalizeAddr(peer.remoteAddr);
      const res = await localApi(
        `/localapi/v0/whois?addr=${encodeURIComponent(addr)}`,
      );
      if (res.status === 404) return undefined;
      if (res.status !== 200) {
        throw new Error(
          `tailscaled LocalAPI whois for ${
            JSON.stringify(addr)
          } answered ${res.status}: ${res.body.trim()}`,
        );
      }
      let body: unknown;
      try {
        body = JSON.parse(res.body);
      } catch (e) {
        throw new Error(
          `tailscaled LocalAPI whois for ${
            JSON.stringify(addr)
          } answered invalid JSON: ${(e as Error).message}`,
        );
      }
      return whoisToIdentity(body, addr);
    },
  };
}

const capRuleSchema = z.object({
  impersonate: z.object({ groups: z.array(z.string()).optional() })
    .optional(),
  recorder: z.array(z.string()).optional(),
  enforceRecorder: z.boolean().optional(),
  recordPortForward: z.boolean().optional(),
  allowProxySubresources: z.boolean().optional(),
  enableEvents: z.boolean().optional(),
});

const whoisSchema = z.object({
  Node: z.object({
    StableID: z.string().min(1),
    Name: z.string().optional(),
    ComputedName: z.string().optional(),
    Hostinfo: z.object({ Hostname: z.string().optional() }).nullish(),
    Tags: z.array(z.string()).nullish(),
  }),
  UserProfile: z.object({
    ID: z.number(),
    LoginName: z.string(),
  }).nullish(),
  CapMap: z.record(z.array(z.unknown()).nullable()).nullish(),
});

/**
 * Maps a LocalAPI whois answer to an {@linkcode Identity}. Pure.
 *
 * Unknown fields are ignored (tailscaled adds fields over time), but a
 * Kubernetes capability rule with a wrong type is an error rather than
 * silently dropped: dropping `enforceRecorder: true` would fail open.
 *
 * @param body The parsed JSON.
 * @param addr The address asked about (for messages).
 * @returns The identity.
 * @throws {Error} When the answer lacks `Node.StableID`, a user profile for
 *   an untagged node, or has a malformed Kubernetes rule.
 */
export function whoisToIdentity(body: unknown, addr = "peer"): Identity {
  const r = whoisSchema.safeParse(body);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new Error(
      `tailscaled LocalAPI whois for ${JSON.stringify(addr)} is malformed at ${
        i.path.join(".") || "(root)"
      }: ${i.message}`,
    );
  }
  const { Node: node, UserProfile: profile, CapMap: capMap } = r.data;
  const hostname = node.ComputedName ||
    node.Name?.split(".")[0] ||
    node.Hostinfo?.Hostname ||
    node.StableID;

  const capRules: KubernetesCapRule[] = [];
  for (const [i, raw] of (capMap?.[KUBERNETES_CAP] ?? []).entries()) {
    const rule = capRuleSchema.safeParse(raw);
    if (!rule.success) {
      const issue = rule.error.issues[0]!;
      throw new Error(
        `tailscaled LocalAPI whois for ${JSON.stringify(addr)}: rule ${i} of ${
          JSON.stringify(KUBERNETES_CAP)
        } is malformed at ${
          issue.path.join(".") || "(root)"
        }: ${issue.message}`,
      );
    }
    const {
      impersonate,
      recorder,
      enforceRecorder,
      allowProxySubresources,
      enableEvents,
    } = rule.data;
    capRules.push({
      ...(impersonate
        ? { impersonate: { groups: impersonate.groups ?? [] } }
        : {}),
      ...(recorder ? { recorder } : {}),
      ...(enforceRecorder !== undefined ? { enforceRecorder } : {}),
      ...(rule.data.recordPortForward !== undefined
        ? { recordPortForward: rule.data.recordPortForward }
        : {}),
      ...(allowProxySubresources !== undefined
        ? { allowProxySubresources }
        : {}),
      ...(enableEvents !== undefined ? { enableEvents } : {}),
    });
  }

  const tags = node.Tags ?? [];
  if (tags.length > 0) {
    return { hostname, nodeId: node.StableID, tags, groups: [], capRules };
  }
  if (!profile) {
    throw new Error(
      `tailscaled LocalAPI whois for ${
        JSON.stringify(addr)
      } has no UserProfile for untagged node ${JSON.stringify(node.StableID)}`,
    );
  }
  return {
    hostname,
    nodeId: node.StableID,
    userId: String(profile.ID),
    loginName: profile.LoginName,
    groups: [],
    capRules,
  };
}

/**
 * Writes an address as `IP:PORT`, bracketing a bare IPv6 address
 * (`fd7a::1:443` is read as IP `fd7a::1`, port 443).
 */
function normalizeAddr(remoteAddr: string): string {
  if (remoteAddr.startsWith("[")) return remoteAddr;
  const colons = remoteAddr.split(":").length - 1;
  if (colons <= 1) return remoteAddr;
  const i = remoteAddr.lastIndexOf(":");
  let ip = remoteAddr.slice(0, i);
  // node:net reports IPv4 peers on a dual-stack socket as ::ffff:a.b.c.d.
  if (ip.startsWith("::ffff:") && ip.includes(".")) {
    return `${ip.slice(7)}:${remoteAddr.slice(i + 1)}`;
  }
  ip = `[${ip}]`;
  return `${ip}:${remoteAddr.slice(i + 1)}`;
}
