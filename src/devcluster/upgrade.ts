/**
 * Upgrade requests (`exec`, `attach`) on the raw socket of the `node:https`
 * server's `upgrade` event: authenticate, find the pod and container, then
 * either answer a plain HTTP `Status` (not found, bad container, SPDY) or do
 * the WebSocket handshake and run the session.
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
}

const PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/(exec|attach)$/;

function flag(q: URLSearchParams, name: string): boolean {
  const v = q.get(name)?.toLowerCase();
  return v === "true" || v === "1";
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
  const url = new URL(req.url ?? "/", "https://devcluster");
  const log = (code: number, who: string) =>
    ctx.logger?.(
      `${req.method} ${url.pathname}${url.search} [upgrade ${req.headers.upgrade}] ${code} ${who}`,
    );
  const auth = authenticate(req, ctx.tokens);
  if (!auth) {
    log(401, "-");
    writeStatusAndEnd(socket, failureStatus(401, "Unauthorized"));
    return;
  }
  const who = auth.effective.username;
  const m = PATH.exec(url.pathname);
  if (!m) {
    log(404, who);
    writeStatusAndEnd(
      socket,
      failureStatus(404, "the server could not find the requested resource"),
    );
    return;
  }
  const ns = decodeURIComponent(m[1]!);
  const name = decodeURIComponent(m[2]!);
  const kind = m[3] as "exec" | "attach";
  const q = url.searchParams;
  const pod = ctx.store.getPod(ns, name);
  const found = resolveContainer(pod, name, q.get("container") ?? undefined);
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
  } else if (kind === "exec" && q.getAll("command").length === 0) {
    refusal = "you must specify at least one command for the container";
  } else if (kind === "exec" && isSpdyUpgrade(req.headers)) {
    log(101, who);
    const session = serveSpdyExec({
      socket,
      head,
      request: { url: req.url ?? "/", headers: req.headers },
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
  writeSwitchingProtocols(socket, key as string, protocol!);
  const ch = new ChannelSocket(socket, protocol!, head);
  const session = kind === "exec"
    ? runExecSession(ch, {
      argv: q.getAll("command"),
      cwd: ctx.runtime.podDir(ns, name),
      env: { HOSTNAME: name },
      stdin: flag(q, "stdin"),
      stdout: flag(q, "stdout"),
      stderr: flag(q, "stderr"),
      tty: flag(q, "tty"),
    }, ctx.startDelayMs)
    : runAttachSession(ch, running!, {
      tty: flag(q, "tty"),
      stdin: flag(q, "stdin"),
      stdout: flag(q, "stdout"),
      stderr: flag(q, "stderr"),
    }, ctx.startDelayMs);
  const done = session.catch((err) => {
    ctx.logger?.(
      `Session ${kind} ${ns}/${name} failed: ${(err as Error).message}`,
    );
    ch.destroy();
  });
  ctx.track?.(done);
}
