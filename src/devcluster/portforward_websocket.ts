/**
 * The kubelet's channel-style WebSocket port-forward (`v4.channel.k8s.io`,
 * or no subprotocol): the ports are given in the query, and the WebSocket
 * carries two channels per port, data (`2i`, both ways) and error (`2i+1`,
 * server to client). Each message starts with its channel byte (RFC 6455
 * continuations carry raw payload); the server's first message on every
 * channel is the port as two bytes, little endian.
 *
 * ```
 * server → [0, 0x50, 0x00] [1, 0x50, 0x00]      port 80 on channels 0 and 1
 * client → [0, …bytes…]                         to the pod's port 80
 * server → [0, …bytes…]                         from it
 * server → [1, "error forwarding port 80 …"]    when it failed
 * ```
 *
 * One TCP connection per port, dialled at the upgrade and kept for the life
 * of the WebSocket. The protocol has no half-close: the WebSocket is closed
 * (1000) once every port's connection is over, and the client's close drops
 * them all. `v4.base64.channel.k8s.io` (text frames) is not served.
 *
 * Source: kubernetes `pkg/kubelet/cri/streaming/portforward/websocket.go`,
 * `staging/src/k8s.io/apiserver/pkg/util/wsstream/conn.go`.
 *
 * @module
 */

import type { Duplex } from "node:stream";
import {
  OPCODE_BINARY,
  OPCODE_CLOSE,
  OPCODE_CONTINUATION,
  OPCODE_PING,
  OPCODE_PONG,
} from "../k8s/constants.ts";
import { encodeWsFrame, WsFrameParser } from "../k8s/ws_frame.ts";
import { PodConnection } from "./pod_connection.ts";
import type { PortForwardBackend } from "./portforward_spdy.ts";

/** Channel subprotocols of the channel-style port-forward, served first to last. */
export const PORTFORWARD_CHANNEL_PROTOCOLS: readonly string[] = [
  "v4.channel.k8s.io",
];

/** Largest payload of one outgoing message (channel byte excluded). */
const MAX_MESSAGE = 32 * 1024;

/**
 * Serves a channel-style port-forward on a socket whose 101 was written.
 * @param socket The raw socket.
 * @param ports The ports of the query, in order.
 * @param backend The pod and its ports.
 * @param head Bytes that came with the upgrade request.
 * @returns Resolves when the socket is closed.
 * @example
 * ```ts ignore
 * import { serveChannelPortForward } from "./portforward_websocket.ts";
 * writeSwitchingProtocols(socket, key, "v4.channel.k8s.io");
 * await serveChannelPortForward(socket, [80], backend, head);
 * ```
 */
export function serveChannelPortForward(
  socket: Duplex,
  ports: readonly number[],
  backend: PortForwardBackend,
  head: Uint8Array,
): Promise<void> {
  const gone = Promise.withResolvers<void>();
  const parser = new WsFrameParser();
  let closeSent = false;
  let open = ports.length;
  let channel: number | undefined; // of the message being read
  const blocked = new Set<PodConnection>();
  const waiting = new Set<PodConnection>();
  const send = (ch: number, data: Uint8Array): boolean => {
    if (closeSent || socket.destroyed) return true;
    const payload = new Uint8Array(data.length + 1);
    payload[0] = ch;
    payload.set(data, 1);
    return socket.write(encodeWsFrame({ opcode: OPCODE_BINARY, payload }));
  };
  const close = (code: number) => {
    if (closeSent) return;
    closeSent = true;
    if (!socket.destroyed) {
      socket.end(encodeWsFrame({
        opcode: OPCODE_CLOSE,
        payload: new Uint8Array([code >> 8, code & 0xff]),
      }));
    }
  };
  (socket as Duplex & { setNoDelay?: (b: boolean) => void }).setNoDelay?.(
    true,
  );
  for (const [i, port] of ports.entries()) {
    const le = new Uint8Array([port & 0xff, port >> 8]);
    send(2 * i, le);
    send(2 * i + 1, le);
  }
  const conns = ports.map((port, i) => {
    const conn: PodConnection = new PodConnection(
      backend.lookup(port),
      port,
      backend.pod,
      {
        data: (chunk) => {
          let ok = true;
          for (let off = 0; off < chunk.length; off += MAX_MESSAGE) {
            ok = send(2 * i, chunk.subarray(off, off + MAX_MESSAGE)) && ok;
          }
          if (!ok) waiting.add(conn);
          return ok;
        },
        // No half-close in this protocol: the pod's end is the connection's.
        end: () => conn.end(),
        done: (error) => {
          if (error !== undefined) {
            send(2 * i + 1, new TextEncoder().encode(error));
          }
          if (blocked.delete(conn) && blocked.size === 0) socket.resume();
          waiting.delete(conn);
          if (--open === 0) close(1000);
        },
      },
    );
    return conn;
  });
  const toPod = (ch: number, data: Uint8Array) => {
    const conn = ch % 2 === 0 ? conns[ch / 2] : undefined;
    if (!conn || data.length === 0 || conn.write(data)) return;
    if (blocked.has(conn)) return;
    blocked.add(conn);
    socket.pause();
    conn.onDrain(() => {
      if (blocked.delete(conn) && blocked.size === 0) socket.resume();
    });
  };
  const onData = (chunk: Uint8Array) => {
    let frames;
    try {
      frames = parser.push(chunk);
    } catch {
      close(1002);
      return;
    }
    for (const f of frames) {
      if (f.opcode === OPCODE_PING) {
        if (!closeSent) {
          socket.write(
            encodeWsFrame({ opcode: OPCODE_PONG, payload: f.payload }),
          );
        }
      } else if (f.opcode === OPCODE_CLOSE) {
        close(1000);
        for (const c of conns) c.destroy();
        return;
      } else if (f.opcode === OPCODE_BINARY && f.payload.length > 0) {
        channel = f.payload[0]!;
        toPod(channel, f.payload.subarray(1));
      } else if (f.opcode === OPCODE_CONTINUATION && channel !== undefined) {
        toPod(channel, f.payload);
      } else if (f.opcode !== OPCODE_PONG) {
        channel = undefined; // text messages are for the base64 protocol
      }
      const dataFrame = f.opcode === OPCODE_BINARY ||
        f.opcode === OPCODE_CONTINUATION;
      if (f.fin && dataFrame) channel = undefined;
    }
  };
  socket.on("data", onData);
  socket.on("drain", () => {
    const w = [...waiting];
    waiting.clear();
    for (const c of w) c.resume();
  });
  socket.on("error", () => {});
  socket.on("close", () => {
    for (const c of conns) c.destroy();
    gone.resolve();
  });
  if (head.length > 0) onData(head);
  if (ports.length === 0) close(1000);
  return gone.promise;
}
