/**
 * The server side of the RFC 6455 opening handshake on a raw socket, and
 * plain HTTP answers to an upgrade request that is refused (kubectl prints
 * the `Status` of a non-101 answer).
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { Duplex } from "node:stream";
import { CHANNEL_PROTOCOLS, WEBSOCKET_GUID } from "../k8s/constants.ts";
import type { K8sStatus } from "../k8s/status.ts";

/**
 * `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
 * @param key The client's key.
 * @returns base64(SHA-1(key + GUID)).
 * @example
 * ```ts
 * import { websocketAccept } from "./websocket_handshake.ts";
 * // The example of RFC 6455 §1.3.
 * if (websocketAccept("dGhlIHNhbXBsZSBub25jZQ==") !== "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") {
 *   throw new Error();
 * }
 * ```
 */
export function websocketAccept(key: string): string {
  return createHash("sha1").update(key + WEBSOCKET_GUID).digest("base64");
}

/**
 * Picks the channel subprotocol from an offered `Sec-WebSocket-Protocol`
 * list: the first of ours (v5, then v4) that the client offers. Separators
 * may be `,` with or without spaces.
 * @param offered Header value(s), or undefined.
 * @returns The chosen protocol, or undefined when none is acceptable.
 */
export function chooseChannelProtocol(
  offered: string | string[] | undefined,
): string | undefined {
  const list = (Array.isArray(offered) ? offered.join(",") : offered ?? "")
    .split(",").map((s) => s.trim()).filter((s) => s !== "");
  return CHANNEL_PROTOCOLS.find((p) => list.includes(p));
}

/**
 * Writes the `101 Switching Protocols` answer.
 * @param socket The raw socket of the upgrade request.
 * @param key The request's `Sec-WebSocket-Key`.
 * @param protocol The chosen subprotocol.
 */
export function writeSwitchingProtocols(
  socket: Duplex,
  key: string,
  protocol: string,
): void {
  socket.write(
    "HTTP/1.1 101 Switching Protocols\r\n" +
      "Upgrade: websocket\r\n" +
      "Connection: Upgrade\r\n" +
      `Sec-WebSocket-Accept: ${websocketAccept(key)}\r\n` +
      `Sec-WebSocket-Protocol: ${protocol}\r\n\r\n`,
  );
}

const REASON_PHRASES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  500: "Internal Server Error",
};

/**
 * Answers an upgrade request with a plain HTTP response carrying a `Status`,
 * then ends the socket.
 * @param socket The raw socket.
 * @param status The failure status; its `code` is the HTTP status code.
 */
export function writeStatusAndEnd(socket: Duplex, status: K8sStatus): void {
  const code = status.code ?? 500;
  const body = new TextEncoder().encode(JSON.stringify(status));
  socket.end(
    `HTTP/1.1 ${code} ${REASON_PHRASES[code] ?? "Error"}\r\n` +
      "Content-Type: application/json\r\n" +
      `Content-Length: ${body.length}\r\n` +
      "Connection: close\r\n\r\n" + new TextDecoder().decode(body),
  );
}
