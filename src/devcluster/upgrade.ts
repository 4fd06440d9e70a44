/**
 * Upgrade requests on the raw socket of the `node:https` server's `upgrade`
 * event, routed on the path as kube-apiserver decodes it (`go_request.ts`,
 * `route_target.ts`): `pods/exec`, `pods/attach`, `pods/portforward` (see
 * `portforward_upgrade.ts`), the kubelet's
 * `nodes/NODE/proxy/exec|attach/…` (kubelet query names), and WebSocket
 * echoes behind `pods/…/proxy` and `services/…/proxy`. Authenticate, find the
 * pod and container, then either answer a plain HTTP `Status` (not found,
 * bad container, SPDY attach) or do the handshake and run the session; each
 * started session is logged as an `Execution`. A target Go would not parse
 * gets Go's plain `400 Bad Request`.
 *
 * kubectl retries over SPDY (`POST`, `Upgrade: SPDY/3.1`) after any non-101
 * answer and prints the error of that retry: the same `Status` is given to
 * both. Exec over SPDY (kubectl 1.29 and older, or
 * `KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false`) is served by `spdy_server.ts`;
 * attach over SPDY is refused with a 400.
 *
 * @module
 */

import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { failureStatus } from "../k8s/status.ts";
import { resolveContainer } from "./api.ts";
import { runAttachSession } from "./attach_session.ts";
import { authenticate, type TokenUser } from "./auth.ts";
import { ChannelSocket } from "./channel_socket.ts";
import { spawnContainerProcess } from "./container_process.ts";
import { runExecSession } from "./exec_session.ts";
import {
  type EventLog,
  type Execution,
  impersonationOf,
  rawHeaderPairs,
} from "./execution_log.ts";
import { GO_BAD_REQUEST, type GoTarget, goTarget } from "./go_request.ts";
import { serveWebSocketEcho } from "./proxy_echo.ts";
import { servePortForwardUpgrade } from "./portforward_upgrade.ts";
import {
  matchRoute,
  type PortForwardRoute,
  type ProxyRoute,
  type StreamRoute,
} from "./route_target.ts";
import type { PodRuntime } from "./pod_runtime.ts";
import {
  execProcessFromNode,
  isSpdyUpgrade,
  serveSpdyExec,
} from "./spdy_server.ts";
import type { ClusterStore } from "./store.ts";
import {
  chooseChannelProtocol,
  writeStatusAndEnd,
  writeSwitchingProtocols,
} from "./websocket_handshake.ts";

/** What the upgrade handler needs. */
export interface UpgradeContext {
  /** Object store. */
  store: ClusterStore;
  /** Pod runtime. */
  runtime: PodRuntime;
  /** Accepted bearer tokens. */
  tokens: ReadonlyMap<string, TokenUser>;
  /** Longest wait for the client's first message before output starts. */
  startDelayMs: number;
  /** Request log. */
  logger?: (line: string) => void;
  /** Called with each started session's promise (to await them on close). */
  track?: (session: Promise<void>) => void;
  /** The one node's name (`nodes/NODE/proxy/…`). */
  nodeName: string;
  /** Where started commands are logged. @default {not logged} */
  executions?: EventLog<Execution>;
  /**
   * Answers an upgrade request on a path that streams nothing (e.g. a
   * kubelet `run` sent with `Upgrade:`) as an ordinary request, as the
   * API server would. @default {a 404 Status}
   */
  fallback?: (req: IncomingMessage, socket: Duplex, target: GoTarget) => void;
}

/**
 * Handles one upgrade request.
 * @param ctx Store, runtime, credentials.
 * @param req The request.
 * @param socket Its raw socket.
 * @param head Bytes read past the request head.
 */
export function handleUpgrade(
  ctx: UpgradeContext,
  req: IncomingMessage,
  socket: Duplex,
  head: Uint8Array,
): void {
  socket.on("error", () => {});
  const rawTarget = req.url ?? "/";
  const log = (code: number, who: string) =>
    ctx.logger?.(
      `${req.method} ${rawTarget} [upgrade ${req.headers.upgrade}] ${code} ${who}`,
    );
  let target: GoTarget;
  try {
    target = goTarget(rawTarget);
  } catch {
    log(400, "-");
    socket.end(GO_BAD_REQUEST);
    return;
  }
  const auth = authenticate(req, ctx.tokens);
  if (!auth) {
    log(401, "-");
    writeStatusAndEnd(socket, failureStatus(401, "Unauthorized"));
    return;
  }
  const who = auth.effective.username;
  const route = matchRoute(target);
  if (!route || route.via === "nodes/proxy/run") {
    if (ctx.fallback) {
      ctx.fallback(req, socket, target);
      return;
    }
    log(404, who);
    writeStatusAndEnd(
      socket,
      failureStatus(404, "the server could not find the requested resource"),
    );
    return;
  }
  const headers = rawHeaderPairs(req);
  const record = (
    r: StreamRoute | ProxyRoute | PortForwardRoute,
    container: string,
  ) =>
    ctx.executions?.add({
      via: r.via,
      namespace: r.namespace,
      pod: "pod" in r ? r.pod : r.name,
      container,
      command: "command" in r ? r.command : [],
      tty: "tty" in r ? r.tty : false,
      stdin: "stdin" in r ? r.stdin : false,
      rawTarget,
      decodedPath: target.path,
      ...("path" in r ? { proxyPath: r.path } : {}),
      ...impersonationOf(headers),
      headers,
    });
  if (route.via === "pods/portforward") {
    servePortForwardUpgrade(
      { ...ctx, ports: ctx.runtime.ports },
      req,
      socket,
      head,
      route,
      { log: (code) => log(code, who), record: () => record(route, "") },
    );
    return;
  }
  if ("path" in route) {
    serveProxyUpgrade(ctx, req, socket, head, route, () => record(route, ""));
    log(101, who);
    return;
  }
  if (route.node !== undefined && route.node !== ctx.nodeName) {
    log(404, who);
    writeStatusAndEnd(
      socket,
      failureStatus(404, `nodes "${route.node}" not found`, {
        name: route.node,
        kind: "nodes",
      }),
    );
    return;
  }
  const { kind, namespace: ns, pod: name } = route;
  const pod = ctx.store.getPod(ns, name);
  const found = resolveContainer(pod, name, route.container || undefined);
  if ("error" in found) {
    log(found.error.code ?? 400, who);
    writeStatusAndEnd(socket, found.error);
    return;
  }
  const running = ctx.runtime.container(ns, name, found.container);
  let refusal: string | undefined;
  if (pod!.status.phase === "Succeeded" || pod!.status.phase === "Failed") {
    refusal =
      `cannot ${kind} into a container in a completed pod; current phase is ${
        pod!.status.phase
      }`;
  } else if (!running) {
    refusal =
      `container "${found.container}" in pod "${name}" is waiting to start: ContainerCreating`;
  } else if (kind === "attach" && running.exitCode !== undefined) {
    refusal = `container "${found.container}" in pod "${name}" is not running`;
  } else if (kind === "exec" && route.command.length === 0) {
    refusal = "you must specify at least one command for the container";
  } else if (
    route.node !== undefined && !route.stdin && !route.stdout && !route.stderr
  ) {
    refusal = "you must specify at least 1 of stdin, stdout, stderr";
  } else if (kind === "exec" && isSpdyUpgrade(req.headers)) {
    log(101, who);
    record(route, found.container);
    const session = serveSpdyExec({
      socket,
      head,
      request: { url: rawTarget, headers: req.headers },
      exec: {
        namespace: ns,
        pod: name,
        container: found.container,
        argv: route.command,
        stdin: route.stdin,
        stdout: route.stdout,
        stderr: route.stderr,
        tty: route.tty,
      },
      backend: {
        start: (o) =>
          execProcessFromNode(spawnContainerProcess({
            argv: o.argv,
            cwd: ctx.runtime.podDir(ns, name),
            env: { HOSTNAME: name },
            tty: o.tty,
            stdin: o.stdin,
          })),
      },
    }).catch((err) => {
      ctx.logger?.(
        `Session exec ${ns}/${name} over SPDY failed: ${
          (err as Error).message
        }`,
      );
      socket.destroy();
    });
    ctx.track?.(session);
    return;
  } else if ((req.headers.upgrade ?? "").toLowerCase() !== "websocket") {
    refusal =
      `Upgrade "${req.headers.upgrade}" is not supported by the simulated cluster for ${kind}: use WebSocket (kubectl 1.30 or newer)`;
  }
  const protocol = chooseChannelProtocol(req.headers["sec-websocket-protocol"]);
  const key = req.headers["sec-websocket-key"];
  if (!refusal && (!protocol || typeof key !== "string")) {
    refusal =
      `WebSocket subprotocol must be one of v5.channel.k8s.io, v4.channel.k8s.io, got "${
        req.headers["sec-websocket-protocol"] ?? ""
      }"`;
  }
  if (refusal) {
    log(400, who);
    writeStatusAndEnd(socket, failureStatus(400, refusal));
    return;
  }
  log(101, who);
  record(route, found.container);
  writeSwitchingProtocols(socket, key as string, protocol!);
  const ch = new ChannelSocket(socket, protocol!, head);
  const flags = {
    stdin: route.stdin,
    stdout: route.stdout,
    stderr: route.stderr,
    tty: route.tty,
  };
  const session = kind === "exec"
    ? runExecSession(ch, {
      argv: route.command,
      cwd: ctx.runtime.podDir(ns, name),
      env: { HOSTNAME: name },
      ...flags,
    }, ctx.startDelayMs)
    : runAttachSession(ch, running!, flags, ctx.startDelayMs);
  const done = session.catch((err) => {
    ctx.logger?.(
      `Session ${kind} ${ns}/${name} failed: ${(err as Error).message}`,
    );
    ch.destroy();
  });
  ctx.track?.(done);
}

/** A WebSocket upgrade to what a pod serves: an echo (see `proxy_echo.ts`). */
function serveProxyUpgrade(
  ctx: UpgradeContext,
  req: IncomingMessage,
  socket: Duplex,
  head: Uint8Array,
  route: ProxyRoute,
  record: () => void,
): void {
  if (
    route.via === "pods/proxy" && !ctx.store.getPod(route.namespace, route.name)
  ) {
    writeStatusAndEnd(
      socket,
      failureStatus(404, `pods "${route.name}" not found`, {
        name: route.name,
        kind: "pods",
      }),
    );
    return;
  }
  const key = req.headers["sec-websocket-key"];
  if (
    (req.headers.upgrade ?? "").toLowerCase() !== "websocket" ||
    typeof key !== "string"
  ) {
    writeStatusAndEnd(
      socket,
      failureStatus(
        400,
        `Upgrade "${req.headers.upgrade}" is not supported by the simulated pod: only WebSocket`,
      ),
    );
    return;
  }
  record();
  const offered = req.headers["sec-websocket-protocol"];
  ctx.track?.(serveWebSocketEcho(
    socket,
    key,
    Array.isArray(offered) ? offered.join(",") : offered,
    head,
  ));
}
