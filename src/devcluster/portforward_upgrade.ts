/**
 * `pods/portforward` upgrades on the raw socket of the `node:https` server:
 * what kube-apiserver and the kubelet answer together. In order, as the real
 * pair checks: the `ports` query (400), the pod (404), the pod running (500,
 * the kubelet finds no sandbox), the transport and its protocol (400/403,
 * see `portforward_request.ts`); then the 101 and the session: SPDY on the
 * socket or tunnelled in WebSocket (`portforward_spdy.ts`), or the channel
 * style (`portforward_websocket.ts`). Forwarded connections go to the local
 * addresses behind the pod's ports (`pod_ports.ts`).
 *
 * @module
 */

import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { failureStatus } from "../k8s/status.ts";
import type { PodPorts } from "./pod_ports.ts";
import {
  choosePortForwardTransport,
  parsePortForwardPorts,
} from "./portforward_request.ts";
import {
  PORTFORWARD_PROTOCOL_V1,
  type PortForwardBackend,
  serveSpdyPortForward,
} from "./portforward_spdy.ts";
import { serveChannelPortForward } from "./portforward_websocket.ts";
import type { PortForwardRoute } from "./route_target.ts";
import type { ClusterStore } from "./store.ts";
import { websocketAccept, writeStatusAndEnd } from "./websocket_handshake.ts";
import { WebSocketLink } from "./websocket_link.ts";

/** What the port-forward handler needs. */
export interface PortForwardContext {
  /** Object store (the pod). */
  store: ClusterStore;
  /** The pods' ports. */
  ports: PodPorts;
  /** Called with each started session's promise (to await them on close). */
  track?: (session: Promise<void>) => void;
  /** Where a session's failure is told. @default {not told} */
  logger?: (line: string) => void;
}

/** What the caller does around the answer. */
export interface PortForwardHooks {
  /** Logs the answer's status code. */
  log(code: number): void;
  /** Logs the session as an execution (called once, before the 101). */
  record(): void;
}

/**
 * Answers one port-forward upgrade: a refusal with a `Status`, or the 101
 * and a session that lasts until the client goes away.
 * @param ctx Store, ports, session tracking.
 * @param req The request (authenticated already).
 * @param socket Its raw socket.
 * @param head Bytes read past the request head.
 * @param route The matched route.
 * @param hooks Logging.
 */
export function servePortForwardUpgrade(
  ctx: PortForwardContext,
  req: IncomingMessage,
  socket: Duplex,
  head: Uint8Array,
  route: PortForwardRoute,
  hooks: PortForwardHooks,
): void {
  const refuse = (code: number, message: string, pod?: string) => {
    hooks.log(code);
    writeStatusAndEnd(
      socket,
      failureStatus(
        code,
        message,
        pod === undefined ? undefined : { name: pod, kind: "pods" },
      ),
    );
  };
  let ports: number[];
  try {
    ports = parsePortForwardPorts(route.ports);
  } catch (err) {
    return refuse(400, (err as Error).message);
  }
  const { namespace, pod: name } = route;
  const pod = ctx.store.getPod(namespace, name);
  if (!pod) return refuse(404, `pods "${name}" not found`, name);
  if (pod.status.phase !== "Running") {
    return refuse(500, `pod not found ("${name}_${namespace}")`);
  }
  const transport = choosePortForwardTransport(req.headers);
  if (transport.kind === "refused") {
    return refuse(transport.code, transport.message);
  }
  const key = req.headers["sec-websocket-key"];
  if (transport.kind !== "spdy" && typeof key !== "string") {
    return refuse(
      400,
      "websocket: not a websocket handshake: 'Sec-WebSocket-Key' header is missing",
    );
  }
  if (transport.kind === "channel") {
    if (ports.length === 0) {
      return refuse(400, 'query parameter "port" is required');
    }
    if (ports.includes(0)) {
      return refuse(400, `port "${ports.join(",")}" must be > 0`);
    }
  }
  const backend: PortForwardBackend = {
    pod: {
      namespace,
      name,
      uid: String(pod.metadata.uid ?? `${namespace}/${name}`),
    },
    lookup: (port) => ctx.ports.lookup(namespace, name, port),
  };
  hooks.record();
  hooks.log(101);
  let session: Promise<void>;
  if (transport.kind === "spdy") {
    socket.write(
      "HTTP/1.1 101 Switching Protocols\r\n" +
        "Connection: Upgrade\r\n" +
        "Upgrade: SPDY/3.1\r\n" +
        `X-Stream-Protocol-Version: ${PORTFORWARD_PROTOCOL_V1}\r\n\r\n`,
    );
    session = serveSpdyPortForward(socket, backend, head);
  } else {
    socket.write(
      "HTTP/1.1 101 Switching Protocols\r\n" +
        "Upgrade: websocket\r\n" +
        "Connection: Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${websocketAccept(key as string)}\r\n` +
        (transport.protocol
          ? `Sec-WebSocket-Protocol: ${transport.protocol}\r\n`
          : "") +
        "\r\n",
    );
    session = transport.kind === "tunnel"
      ? serveSpdyPortForward(new WebSocketLink(socket, head), backend)
      : serveChannelPortForward(socket, ports, backend, head);
  }
  ctx.track?.(session.catch((err) => {
    ctx.logger?.(
      `Session portforward ${namespace}/${name} failed: ${
        (err as Error).message
      }`,
    );
    socket.destroy();
  }));
}
