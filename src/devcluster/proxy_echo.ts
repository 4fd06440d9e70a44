/**
 * What the simulated cluster's pods "serve" behind `pods/…/proxy/…` and
 * `services/…/proxy/…`: a small fixed body naming the pod (or service) and
 * the path, and, for a WebSocket upgrade, an echo (every data frame is sent
 * back, pings answered, a close returned). Enough for a test to see that a
 * request reached upstream.
 *
 * @module
 */

import type { Duplex } from "node:stream";
import { encodeWsFrame, WsFrameParser } from "../k8s/ws_frame.ts";
import type { ProxyRoute } from "./route_target.ts";
import { websocketAccept } from "./websocket_handshake.ts";

/**
 * The body a proxied plain request gets.
 * @param route The matched proxy route.
 * @param method The request method.
 * @returns One line, e.g. `devcluster pods/proxy default/demo port 80 GET /healthz`.
 */
export function proxyBody(route: ProxyRoute, method: string): string {
  return `devcluster ${route.via} ${route.namespace}/${route.name} port ${
    route.port || "default"
  } ${method} ${route.path}\n`;
}

/**
 * Accepts a WebSocket upgrade and echoes frames until the client closes.
 * The first offered subprotocol, if any, is accepted.
 * @param socket The raw socket of the upgrade request.
 * @param key `Sec-WebSocket-Key`.
 * @param offered `Sec-WebSocket-Protocol` as received.
 * @param head Bytes read past the request head.
 * @returns Resolves when the socket closed.
 */
export function serveWebSocketEcho(
  socket: Duplex,
  key: string,
  offered: string | undefined,
  head: Uint8Array,
): Promise<void> {
  const protocol = (offered ?? "").split(",").map((s) => s.trim())
    .find((s) => s !== "");
  socket.write(
    "HTTP/1.1 101 Switching Protocols\r\n" +
      "Upgrade: websocket\r\n" +
      "Connection: Upgrade\r\n" +
      `Sec-WebSocket-Accept: ${websocketAccept(key)}\r\n` +
      (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : "") + "\r\n",
  );
  const parser = new WsFrameParser();
  const onData = (chunk: Uint8Array) => {
    let frames;
    try {
      frames = parser.push(chunk);
    } catch {
      socket.destroy();
      return;
    }
    for (const f of frames) {
      if (f.opcode === 8) {
        socket.end(encodeWsFrame({ opcode: 8, payload: f.payload }));
        return;
      }
      if (f.opcode === 9) {
        socket.write(encodeWsFrame({ opcode: 10, payload: f.payload }));
      } else if (f.opcode <= 2) {
        socket.write(
          encodeWsFrame({ opcode: f.opcode, payload: f.payload, fin: f.fin }),
        );
      }
    }
  };
  return new Promise((resolve) => {
    socket.on("data", onData);
    socket.on("close", () => resolve());
    if (head.length > 0) onData(head);
  });
}
