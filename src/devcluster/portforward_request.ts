/**
 * How a port-forward request is read before anything is forwarded: the
 * `ports` query as kube-apiserver converts it, and which of the three
 * transports the client asks for, with the refusals a real cluster gives.
 *
 * | client sends | transport | refused with |
 * | --- | --- | --- |
 * | `Upgrade: SPDY/3.1`, `X-Stream-Protocol-Version: portforward.k8s.io` | SPDY on the socket | 403 when no offered version is `portforward.k8s.io` |
 * | `Upgrade: websocket`, `Sec-WebSocket-Protocol: SPDY/3.1+portforward.k8s.io` | SPDY tunnelled in WebSocket | 403 likewise (the kubelet's SPDY handshake, passed back) |
 * | `Upgrade: websocket`, `v4.channel.k8s.io` or no subprotocol | channels, ports from the query | 400 without ports, 403 for other subprotocols |
 *
 * `ports` is converted by apimachinery's `Convert_Slice_string_To_Slice_int32`
 * (each value split on `,`, each part `strconv.ParseUint(p, 10, 16)`; a bad
 * part is a 400 `cannot convert to []int32: …` before the pod is even looked
 * up). Over SPDY the ports come from each stream's headers and the query is
 * not needed; the channel style needs it (the kubelet's `NewV4Options`,
 * which reads the parameter the API server passes on as `port`).
 *
 * Sources: kubernetes `staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/conversion.go`,
 * `staging/src/k8s.io/apimachinery/pkg/util/httpstream/httpstream.go`
 * (`Handshake`), `staging/src/k8s.io/apiserver/pkg/util/proxy/streamtunnel.go`
 * (`spdyProtocolsFromWebsocketProtocols`), `pkg/kubelet/cri/streaming/portforward/websocket.go`.
 *
 * `v2.portforward.k8s.io` (named by KEP-4006 and the proxy's allowlist) is
 * served by no kubelet: over WebSocket it is an unsupported subprotocol
 * (403), as on a real cluster.
 *
 * @module
 */

import { PORTFORWARD_PROTOCOL_V1 } from "./portforward_spdy.ts";
import { PORTFORWARD_CHANNEL_PROTOCOLS } from "./portforward_websocket.ts";

/** The prefix of a SPDY protocol tunnelled in WebSocket (`SPDY/3.1+portforward.k8s.io`). */
export const SPDY_TUNNEL_PREFIX = "SPDY/3.1+";

/** Go's `strconv.ParseUint(s, 10, 16)`, or its error text. */
function parseUint16(s: string): number | string {
  if (!/^[0-9]+$/.test(s)) {
    return `strconv.ParseUint: parsing ${JSON.stringify(s)}: invalid syntax`;
  }
  const n = Number(s);
  if (n > 65535) {
    return `strconv.ParseUint: parsing ${
      JSON.stringify(s)
    }: value out of range`;
  }
  return n;
}

/**
 * The `ports` of a port-forward as kube-apiserver converts them.
 * @param values Every `ports` query value, in order.
 * @returns The ports (0 included: the API server lets it through).
 * @throws {SyntaxError} A part is not a decimal 16-bit number; the message
 * is the API server's.
 * @example
 * ```ts
 * import { parsePortForwardPorts } from "./portforward_request.ts";
 * const ports = parsePortForwardPorts(["80,443", "8080"]);
 * if (ports.join() !== "80,443,8080") throw new Error();
 * ```
 */
export function parsePortForwardPorts(values: readonly string[]): number[] {
  const out: number[] = [];
  for (const value of values) {
    for (const part of value.split(",")) {
      const n = parseUint16(part);
      if (typeof n === "string") {
        throw new SyntaxError(`cannot convert to []int32: ${n}`);
      }
      out.push(n);
    }
  }
  return out;
}

/** A comma-separated header read as Go's `commaSeparatedHeaderValues`. */
export function headerList(value: string | string[] | undefined): string[] {
  return (Array.isArray(value) ? value : [value ?? ""])
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter((v) => v !== "");
}

/** The transport a port-forward request asks for. */
export type PortForwardTransport =
  | { kind: "spdy" }
  | { kind: "tunnel"; protocol: string }
  | { kind: "channel"; protocol: string | undefined }
  | { kind: "refused"; code: 400 | 403; message: string };

/** Go's `%v` of a `[]string`. */
function goList(list: readonly string[]): string {
  return `[${list.join(" ")}]`;
}

/**
 * Picks the transport from the request headers.
 * @param headers Node's `IncomingMessage.headers`.
 * @returns The transport, or the refusal a real cluster gives.
 * @example
 * ```ts
 * import { choosePortForwardTransport } from "./portforward_request.ts";
 * const t = choosePortForwardTransport({
 *   upgrade: "websocket",
 *   "sec-websocket-protocol": "SPDY/3.1+portforward.k8s.io",
 * });
 * if (t.kind !== "tunnel" || t.protocol !== "SPDY/3.1+portforward.k8s.io") throw new Error();
 * ```
 */
export function choosePortForwardTransport(
  headers: Record<string, string | string[] | undefined>,
): PortForwardTransport {
  const upgrade = String(headers["upgrade"] ?? "").toLowerCase();
  const negotiate = (offered: string[]): PortForwardTransport | undefined =>
    offered.includes(PORTFORWARD_PROTOCOL_V1) ? undefined : {
      kind: "refused",
      code: 403,
      message:
        `unable to upgrade: unable to negotiate protocol: client supports ${
          goList(offered)
        }, server accepts ${goList([PORTFORWARD_PROTOCOL_V1])}`,
    };
  if (upgrade.startsWith("spdy/")) {
    const offered = headerList(headers["x-stream-protocol-version"]);
    if (offered.length === 0) {
      return {
        kind: "refused",
        code: 400,
        message: "unable to upgrade: X-Stream-Protocol-Version is required",
      };
    }
    return negotiate(offered) ?? { kind: "spdy" };
  }
  if (upgrade !== "websocket") {
    return {
      kind: "refused",
      code: 400,
      message: `unable to upgrade: Upgrade ${
        JSON.stringify(headers["upgrade"] ?? "")
      } is neither SPDY/3.1 nor websocket`,
    };
  }
  const offered = headerList(headers["sec-websocket-protocol"]);
  const tunnelled = offered
    .filter((p) => p.startsWith(SPDY_TUNNEL_PREFIX) && p.endsWith(".k8s.io"))
    .map((p) => p.slice(SPDY_TUNNEL_PREFIX.length));
  if (tunnelled.length > 0) {
    return negotiate(tunnelled) ?? {
      kind: "tunnel",
      protocol: SPDY_TUNNEL_PREFIX + PORTFORWARD_PROTOCOL_V1,
    };
  }
  if (offered.length === 0) return { kind: "channel", protocol: undefined };
  const protocol = offered.find((p) =>
    PORTFORWARD_CHANNEL_PROTOCOLS.includes(p)
  );
  if (protocol) return { kind: "channel", protocol };
  return {
    kind: "refused",
    code: 403,
    message:
      `unable to upgrade websocket connection: requested protocol(s) are not supported: ${
        goList(offered)
      }; supports ${goList(PORTFORWARD_CHANNEL_PROTOCOLS)}`,
  };
}
