/**
 * A fake tailscaled LocalAPI on a unix socket, answering
 * `GET /localapi/v0/whois?addr=IP:PORT` in the real wire format: an
 * `apitype.WhoIsResponse` with a full `tailcfg.Node`, a `tailcfg.UserProfile`
 * and a `tailcfg.PeerCapMap`, indented with tabs as tailscaled's
 * `json.MarshalIndent(res, "", "\t")` does. Unknown peers get tailscaled's
 * `404 no match for IP:port`; a wrong `Host` header gets a 403, as tailscaled
 * refuses requests whose Host is not `local-tailscaled.sock` (or localhost).
 *
 * Sources: tailscale `ipn/localapi/localapi.go` (serveWhoIsWithBackend),
 * `client/tailscale/apitype/apitype.go`, `tailcfg/tailcfg.go`.
 *
 * @module
 */

/** A peer the fake tailscaled knows. */
export interface FakePeer {
  /** Tailscale IP, e.g. `100.64.0.7`. Any port matches. */
  ip: string;
  /** Device hostname (first label of the MagicDNS name). */
  hostname: string;
  /** `Node.StableID`. */
  stableId: string;
  /** `Node.Tags` for a tagged device. */
  tags?: string[];
  /** The owner (ignored for tagged devices, which show "tagged-devices"). */
  user?: { id: number; loginName: string; displayName?: string };
  /** The `CapMap` of the answer: capability → rule values. */
  capMap?: Record<string, unknown[] | null>;
}

/** A running fake LocalAPI. */
export interface FakeLocalApi {
  /** The unix socket path to give the tailscale identity source. */
  socketPath: string;
  /** Every request as `METHOD path?query host=HOST`, in order. */
  requests: string[];
  /** Replaces the known peers. */
  setPeers(peers: FakePeer[]): void;
  /** Stops the server and removes its socket directory. */
  close(): Promise<void>;
}

const TAILNET = "tail1234.ts.net";

/**
 * Starts a fake LocalAPI on a fresh unix socket in a temporary directory.
 * @param peers The peers it knows.
 * @returns The running fake.
 */
export async function startFakeLocalApi(
  peers: FakePeer[] = [],
): Promise<FakeLocalApi> {
  const dir = await Deno.makeTempDir({ prefix: "fake-tailscaled-" });
  const socketPath = `${dir}/tailscaled.sock`;
  let known = peers;
  const requests: string[] = [];
  const server = Deno.serve(
    { path: socketPath, onListen() {} },
    (req) => {
      const url = new URL(req.url);
      const host = req.headers.get("host") ?? "";
      requests.push(`${req.method} ${url.pathname}${url.search} host=${host}`);
      if (host !== "local-tailscaled.sock" && host !== "") {
        return goError(403, "invalid localapi host");
      }
      if (url.pathname !== "/localapi/v0/whois") {
        return goError(404, "404 not found");
      }
      const addr = url.searchParams.get("addr");
      if (!addr) return goError(400, "missing 'addr' parameter");
      const ip = parseAddrPort(addr);
      if (ip === undefined) return goError(400, "invalid 'addr' parameter");
      const peer = known.find((p) => p.ip === ip);
      if (!peer) return goError(404, "no match for IP:port");
      return new Response(JSON.stringify(whoisResponse(peer), null, "\t"), {
        headers: { "content-type": "application/json" },
      });
    },
  );
  return {
    socketPath,
    requests,
    setPeers(p) {
      known = p;
    },
    async close() {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Go's `http.Error`: text/plain, nosniff, message plus newline. */
function goError(status: number, message: string): Response {
  return new Response(message + "\n", {
    status,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "x-content-type-options": "nosniff",
    },
  });
}

/** `netip.ParseAddrPort`: `1.2.3.4:5` or `[v6]:5`; returns the IP. */
function parseAddrPort(addr: string): string | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/
    .exec(addr);
  if (!m || Number(m[3]) > 65535) return undefined;
  return m[1] ?? m[2];
}

const ZERO_TIME = "0001-01-01T00:00:00Z";

function hexKey(prefix: string, seed: string): string {
  let h = 0;
  for (const c of seed) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return prefix + h.toString(16).padStart(8, "0").repeat(8);
}

/** Builds an `apitype.WhoIsResponse` as tailscaled marshals it. */
function whoisResponse(peer: FakePeer): Record<string, unknown> {
  const tagged = (peer.tags?.length ?? 0) > 0;
  const userId = tagged ? 1234567 : peer.user?.id ?? 1;
  const node: Record<string, unknown> = {
    ID: Number.parseInt(
      peer.stableId.replace(/\D/g, "").slice(0, 9) || "7",
      10,
    ),
    StableID: peer.stableId,
    Name: `${peer.hostname}.${TAILNET}.`,
    User: userId,
    Key: hexKey("nodekey:", peer.stableId),
    KeyExpiry: tagged ? ZERO_TIME : "2027-05-01T00:00:00Z",
    Machine: hexKey("mkey:", peer.stableId),
    DiscoKey: hexKey("discokey:", peer.stableId),
    Addresses: [`${peer.ip}/32`],
    AllowedIPs: [`${peer.ip}/32`],
    Endpoints: ["198.51.100.7:41641"],
    HomeDERP: 1,
    Hostinfo: {
      IPNVersion: "1.86.2-t1234abcd",
      OS: "linux",
      Hostname: peer.hostname,
      Services: [],
    },
    Created: "2026-01-02T03:04:05.123456789Z",
    Cap: 125,
    ...(tagged ? { Tags: peer.tags } : {}),
    Online: true,
    MachineAuthorized: true,
    ComputedName: peer.hostname,
    ComputedNameWithHost: peer.hostname,
  };
  const profile = tagged
    ? { ID: userId, LoginName: "tagged-devices", DisplayName: "Tagged Devices" }
    : {
      ID: userId,
      LoginName: peer.user?.loginName ?? "nobody@example.com",
      DisplayName: peer.user?.displayName ??
        (peer.user?.loginName ?? "nobody").split("@")[0],
    };
  return { Node: node, UserProfile: profile, CapMap: peer.capMap ?? null };
}
