/**
 * What a recorded caller's upgrade may offer upstream: only what the
 * recording tap reads. An exec or attach asks for exactly one `Upgrade`
 * (`websocket` or `SPDY/3.1`) and only the channel subprotocols the tap
 * decodes (v5 and v4, {@linkcode CHANNEL_PROTOCOLS}); a port-forward only the
 * port-forward protocols. Anything else is refused before the upstream is
 * contacted: an upstream that negotiated a protocol the tap cannot read would
 * run the command first and the tap would fail after.
 *
 * Sources: kubernetes `staging/src/k8s.io/apimachinery/pkg/util/httpstream`
 * (`X-Stream-Protocol-Version`, one protocol per header line),
 * `staging/src/k8s.io/apiserver/pkg/util/wsstream/conn.go`
 * (`Sec-WebSocket-Protocol`), KEP-4006 (`v2.portforward.k8s.io`,
 * `SPDY/3.1+portforward.k8s.io`), `pkg/kubelet/cri/streaming/portforward`
 * (`portforward.k8s.io`).
 *
 * @module
 */

import { CHANNEL_PROTOCOLS } from "../k8s/constants.ts";
import { normalizeHeaderName } from "./impersonation.ts";

/** Port-forward subprotocols offered over WebSocket. */
export const PORTFORWARD_WEBSOCKET_PROTOCOLS: readonly string[] = [
  "v2.portforward.k8s.io",
  "SPDY/3.1+portforward.k8s.io",
];
/** Port-forward protocol versions offered over SPDY. */
export const PORTFORWARD_SPDY_PROTOCOLS: readonly string[] = [
  "portforward.k8s.io",
];

/** An upgrade offer the proxy will not send upstream (answered with a 400). */
export class UpgradeOfferError extends TypeError {
  /** Always `"UpgradeOfferError"`. */
  override name = "UpgradeOfferError";
}

/** The offer to send upstream. */
export interface UpgradeOffer {
  /** The transport named by `Upgrade`. */
  transport: "websocket" | "spdy";
  /** The client's headers with the protocol offer restricted. */
  headers: [string, string][];
  /** The protocols kept, in the client's order. */
  protocols: string[];
}

function listOf(headers: [string, string][], name: string): string[] {
  return headers.filter(([k]) => normalizeHeaderName(k) === name)
    .flatMap(([, v]) => v.split(","))
    .map((t) => t.trim())
    .filter((t) => t !== "");
}

/**
 * Reads the transport and keeps only the protocols the tap reads.
 * @param headers The client's header pairs, names as sent.
 * @param kind `channel` for exec/attach, `portforward` for port-forward.
 * @returns The restricted offer.
 * @throws {UpgradeOfferError} `Upgrade` is not exactly one of `websocket`
 *   and `SPDY/3.1`, or no offered protocol is one the proxy accepts.
 * @example
 * ```ts
 * import { restrictUpgradeOffer } from "./upgrade_offer.ts";
 * const o = restrictUpgradeOffer([
 *   ["Upgrade", "websocket"],
 *   ["Sec-WebSocket-Protocol", "base64.channel.k8s.io, v4.channel.k8s.io,v5.channel.k8s.io"],
 * ], "channel");
 * if (o.protocols.join() !== "v4.channel.k8s.io,v5.channel.k8s.io") throw new Error();
 * ```
 */
export function restrictUpgradeOffer(
  headers: [string, string][],
  kind: "channel" | "portforward",
): UpgradeOffer {
  const upgrades = headers.filter(([k]) => normalizeHeaderName(k) === "upgrade")
    .map(([, v]) => v.trim());
  const what = kind === "channel" ? "exec and attach" : "port-forward";
  const only = upgrades.length === 1 ? upgrades[0]!.toLowerCase() : undefined;
  const transport = only === "websocket"
    ? "websocket"
    : only === "spdy/3.1"
    ? "spdy"
    : undefined;
  if (!transport) {
    throw new UpgradeOfferError(
      `execgate: ${what} upgrades must say exactly "Upgrade: websocket" or "Upgrade: SPDY/3.1" (this one says ${
        JSON.stringify(upgrades.join(", "))
      })`,
    );
  }
  const header = transport === "websocket"
    ? "sec-websocket-protocol"
    : "x-stream-protocol-version";
  const accepted = kind === "channel"
    ? CHANNEL_PROTOCOLS
    : transport === "websocket"
    ? PORTFORWARD_WEBSOCKET_PROTOCOLS
    : PORTFORWARD_SPDY_PROTOCOLS;
  const offered = listOf(headers, header);
  const protocols = [...new Set(offered.filter((p) => accepted.includes(p)))];
  if (protocols.length === 0) {
    throw new UpgradeOfferError(
      `execgate: this ${what} offers ${
        offered.length ? offered.map((p) => JSON.stringify(p)).join(", ") : "no"
      } ${
        header === "sec-websocket-protocol"
          ? "Sec-WebSocket-Protocol"
          : "X-Stream-Protocol-Version"
      } protocols; the proxy records and accepts only ${accepted.join(", ")}`,
    );
  }
  const out: [string, string][] = [];
  let placed = false;
  for (const [k, v] of headers) {
    if (normalizeHeaderName(k) !== header) {
      out.push([k, v]);
      continue;
    }
    if (placed) continue;
    placed = true;
    // WebSocket: one line, comma list; SPDY: one line per protocol, as
    // httpstream reads each line as one protocol.
    if (transport === "websocket") out.push([k, protocols.join(", ")]);
    else for (const p of protocols) out.push([k, p]);
  }
  return { transport, headers: out, protocols };
}
