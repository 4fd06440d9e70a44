/**
 * The proxy core: who is calling, what the policy says, and forwarding as
 * that caller. One Hono app routes every request, upgrades included:
 *
 * 1. `canonicalTarget` parses the raw request target once, the way Go and
 *    kube-apiserver will ({@linkcode parseRequestTarget}), classifies it
 *    ({@linkcode classifyRoute}) and sets both on the context; a target that
 *    cannot be read unambiguously is answered 400 and never sent upstream.
 * 2. `authorizeRequest` authenticates and evaluates the policy.
 * 3. The route's handler (`exec`/`attach`, `portforward`, `proxy`, `other`)
 *    applies the policy and forwards `basePath + canonicalTarget()`, never
 *    the raw target: ordinary requests with `upstreamRequest`, upgrades
 *    (`c.env.upgrade`, the raw socket) with {@linkcode relayUpgrade}, with a
 *    recording tap for exec and attach when the policy says so.
 *
 * Policy for a recorded caller (`decision.recorders.length > 0`): upgrades
 * are an allowlist (exec and attach recorded, port-forward relayed and
 * logged, anything else 403); every `proxy`-class request is 403 unless the
 * grant says `allowProxySubresources`; exec/attach offer upstream only the
 * protocols the tap reads. A caller with no recorder gets the same parsing,
 * routing and canonical forwarding, without those refusals. A non-upgrade
 * request to exec, attach or portforward is 400 for everyone.
 *
 * Runtime specifics (the node:https server, TLS upstream) are injected.
 *
 * @module
 */

import { type Context, Hono } from "hono";
import type { Identity, PeerInfo } from "../identity/identity.ts";
import type { Decision } from "../policy/decision.ts";
import { statusResponse } from "../k8s/status.ts";
import type { Logger } from "../log.ts";
import type { ExecRequest } from "./exec_request.ts";
import { upstreamHeaders } from "./impersonation.ts";
import {
  canonicalTarget,
  parseRequestTarget,
  type RequestTarget,
  RequestTargetError,
} from "./request_target.ts";
import {
  classifyRoute,
  execRequestOf,
  portForwardPorts,
  type Route,
} from "./routes.ts";
import { restrictUpgradeOffer, UpgradeOfferError } from "./upgrade_offer.ts";
import type { UpstreamRequest } from "./upstream_connect.ts";
import type { RelayTap } from "../recording/relay_tap.ts";
import type { ByteDuplex } from "./duplex.ts";
import {
  createProxyMetrics,
  type ProxyMetrics,
  type SessionOutcome,
  sessionOutcome,
  type SessionType,
} from "../metrics/proxy_metrics.ts";
import {
  EventBodyRefusedError,
  type EventInFlight,
  EventRefusedError,
  type RequestEvents,
} from "./events/request_events.ts";
import {
  encodeRequestHead,
  relayUpgrade,
  writeResponse,
} from "./upgrade_relay.ts";

/** The caller, once authenticated and admitted. */
export interface Authorized {
  /** Who the caller is. */
  identity: Identity;
  /** What the policy says for them (impersonation, recorders, …). */
  decision: Decision;
}

/** A refusal: 401 (no identity), 403 (policy), 503 (identity source down). */
export interface Refused {
  /** The HTTP status to answer. */
  status: 401 | 403 | 503;
  /** Why, for the client's `Status` message. */
  message: string;
}

/** Authenticates and evaluates the policy for a peer. */
export type Authorize = (peer: PeerInfo) => Promise<Authorized | Refused>;

/** Everything known about a session before it starts. */
export interface SessionContext {
  /** Session id (`[A-Za-z0-9_-]`). */
  id: string;
  /** The exec/attach parameters. */
  exec: ExecRequest;
  /** Who. */
  identity: Identity;
  /** What the policy says (recorders, enforceRecorder). */
  decision: Decision;
  /** Transport asked for by the client. */
  transport: "websocket" | "spdy";
}

/**
 * Thrown by an {@linkcode OpenTap} to refuse a session (fail closed); its
 * message is sent to the client in a 403 `Status`.
 */
export class SessionRefusedError extends Error {
  /** Always `"SessionRefusedError"`. */
  override name = "SessionRefusedError";
}

/**
 * Opens the recording for a session before it is sent upstream. Resolves to a
 * tap, or undefined when the session is not recorded (no recorder in the
 * decision, or fail open without a recorder).
 * @throws {SessionRefusedError} Fail closed and the session cannot be recorded.
 */
export type OpenTap =
  & ((ctx: SessionContext) => Promise<RelayTap | undefined>)
  & {
    /** Opens port-forward recordings too (used when `openPortForwardTap` is not given). */
    portForward?: OpenPortForwardTap;
  };

/** Everything known about a port-forward before it starts. */
export interface PortForwardContext {
  /** Session id (`[A-Za-z0-9_-]`). */
  id: string;
  /** The pod's namespace. */
  namespace: string;
  /** The pod's name. */
  pod: string;
  /** The query's `ports` values (kubectl names its ports in SPDY headers). */
  ports: string[];
  /** Who. */
  identity: Identity;
  /** What the policy says (recorders, enforceRecorder, recordPortForward). */
  decision: Decision;
  /** Transport asked for by the client. */
  transport: "websocket" | "spdy";
}

/**
 * Opens the recording of a port-forward before it is sent upstream, like
 * {@linkcode OpenTap}.
 * @throws {SessionRefusedError} Fail closed and it cannot be recorded.
 */
export type OpenPortForwardTap = (
  ctx: PortForwardContext,
) => Promise<RelayTap | undefined>;

/** An upgrade request as the server saw it. */
export interface UpgradeRequest {
  /** The request method, as received. */
  method: string;
  /** Path and query, raw, as received. */
  target: string;
  /** Header pairs in wire order, names as sent. */
  rawHeaders: [string, string][];
}

/** What the proxy core needs. */
export interface ProxyDeps {
  /** Base URL of the upstream API server. */
  upstreamUrl: string;
  /** The proxy's bearer token upstream, if any (client certs live in the connectors). */
  upstreamToken?: string;
  /** Authenticates and authorises. */
  authorize: Authorize;
  /** Sends an ordinary request upstream (TLS trust and client cert configured). */
  upstreamRequest: UpstreamRequest;
  /** Opens a raw connection to the upstream (TLS already established). */
  connectUpstream: () => Promise<ByteDuplex>;
  /** Opens the recording tap of a session. @default {no recording} */
  openTap?: OpenTap;
  /** Opens the recording of a port-forward. @default {relayed unrecorded, logged} */
  openPortForwardTap?: OpenPortForwardTap;
  /** Logger. */
  logger: Logger;
  /** Session id generator. @default {random 128-bit hex} */
  newSessionId?: () => string;
  /** Where sessions and relayed bytes are counted. @default {a new registry's} */
  metrics?: ProxyMetrics;
  /** API request events of `enableEvents` callers. @default {none sent} */
  events?: RequestEvents;
}

/** The proxy: one entry for ordinary requests, one for upgrades. */
export interface Proxy {
  /**
   * Handles an ordinary request.
   * @param rawTarget The request target as received (Node's `req.url`);
   *   defaults to the path and query of `req.url`, already normalised by
   *   the URL parser.
   */
  fetch(req: Request, peer: PeerInfo, rawTarget?: string): Promise<Response>;
  /**
   * Handles an upgrade request on its raw connection (positioned after the
   * request head; `head` holds bytes already read past it).
   */
  upgrade(
    req: UpgradeRequest,
    client: ByteDuplex,
    head: Uint8Array,
    peer: PeerInfo,
  ): Promise<void>;
}

/**
 * A refusal kubectl can print. client-go decodes a `Status` body with the
 * scheme of the request; its aggregated-discovery client (the first request
 * kubectl makes) has no `Status` in that scheme and prints "unknown" instead
 * of the message, but it prints a short `text/plain` body as it is. So
 * discovery requests get the message as text, all others a `Status`.
 */
function refusal(
  accept: string | undefined,
  status: number,
  message: string,
): Response {
  if (accept?.includes("g=apidiscovery.k8s.io")) {
    return new Response(message, {
      status,
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  }
  return statusResponse(status, message);
}

/** An upgrade in flight: the raw client connection a handler relays on. */
interface UpgradeBinding {
  client: ByteDuplex;
  /** Bytes the client sent after its request head. */
  head: Uint8Array;
  /** Header pairs in wire order, names as sent. */
  rawHeaders: [string, string][];
  method: string;
  /** Set once a handler has taken the socket over (its Response is ignored). */
  handled: boolean;
}

type Env = {
  Bindings: {
    peer: PeerInfo;
    /** The request target as received. */
    rawTarget?: string;
    /** Present for upgrade requests. */
    upgrade?: UpgradeBinding;
  };
  Variables: {
    auth: Authorized;
    target: RequestTarget;
    route: Route;
    /** The request's API event, when the caller's grant enables events. */
    event?: EventInFlight;
  };
};

type Ctx = Context<Env>;

function randomId(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function guessTransport(headers: [string, string][]): "websocket" | "spdy" {
  const u = headers.find(([k]) => k.toLowerCase() === "upgrade")?.[1] ?? "";
  return /^spdy\//i.test(u.trim()) ? "spdy" : "websocket";
}

function headersOf(raw: [string, string][]): Headers {
  const h = new Headers();
  for (const [k, v] of raw) {
    try {
      h.append(k, v);
    } catch { /* refused later, from the raw pairs */ }
  }
  return h;
}

/** The answer of a handler that took an upgrade's socket over. */
function relayed(): Response {
  return new Response(null, { status: 204 });
}

/**
 * Builds the proxy.
 * @param deps Upstream, identity/policy, recording, logger.
 * @returns The proxy.
 */
export function createProxy(deps: ProxyDeps): Proxy {
  const upstream = new URL(deps.upstreamUrl);
  // A server URL may carry a path prefix (e.g. behind a gateway).
  const basePath = upstream.pathname.replace(/\/+$/, "");
  const newId = deps.newSessionId ?? randomId;
  const log = deps.logger;
  const metrics = deps.metrics ?? createProxyMetrics();
  const ended = (type: SessionType, outcome: SessionOutcome) =>
    metrics.sessions.labels({ type, outcome }).inc();

  const pathOf = (c: Ctx) => {
    const t = c.get("target");
    return t ? "/" + t.segments.join("/") : undefined;
  };

  /** Sends an ordinary request upstream, to the canonical target. */
  async function forward(c: Ctx): Promise<Response> {
    const { decision } = c.get("auth");
    const target = basePath + canonicalTarget(c.get("target"));
    let headers: [string, string][];
    try {
      headers = upstreamHeaders(c.req.raw.headers.entries(), {
        impersonate: decision,
        token: deps.upstreamToken,
        host: upstream.host,
        upgrade: false,
      });
    } catch (e) {
      return statusResponse(400, `execgate: ${(e as Error).message}`);
    }
    const hasBody = c.req.method !== "GET" && c.req.method !== "HEAD";
    let res: Response;
    try {
      res = await deps.upstreamRequest({
        method: c.req.method,
        target,
        headers,
        body: c.get("event")?.body ?? (hasBody ? c.req.raw.body : null),
      });
    } catch (e) {
      c.get("event")?.end(0, (e as Error).message);
      log.error("upstream request failed", {
        path: pathOf(c),
        error: (e as Error).message,
      });
      return statusResponse(
        502,
        `the upstream API server could not be reached: ${(e as Error).message}`,
      );
    }
    // Bodies pass through as sent (compressed or not); only hop-by-hop
    // headers stay behind.
    const out = new Headers(res.headers);
    for (const h of ["connection", "keep-alive", "transfer-encoding"]) {
      out.delete(h);
    }
    const answer = new Response(res.body, { status: res.status, headers: out });
    return c.get("event")?.respond(answer) ?? answer;
  }

  /** The upgrade request head for upstream, or a 400 when it cannot be built. */
  function upgradeHead(
    c: Ctx,
    headers: [string, string][],
  ): Uint8Array | Response {
    const up = c.env.upgrade!;
    try {
      return encodeRequestHead(
        up.method,
        basePath + canonicalTarget(c.get("target")),
        upstreamHeaders(headers, {
          impersonate: c.get("auth").decision,
          token: deps.upstreamToken,
          host: upstream.host,
          upgrade: true,
        }),
      );
    } catch (e) {
      return statusResponse(400, `execgate: ${(e as Error).message}`);
    }
  }

  /** Takes the upgrade's socket over and relays it. */
  function relay(c: Ctx, requestHead: Uint8Array, tap?: RelayTap) {
    const up = c.env.upgrade!;
    up.handled = true;
    return relayUpgrade({
      client: up.client,
      clientHead: up.head,
      requestHead,
      connect: deps.connectUpstream,
      tap,
      counters: metrics.relayedBytes,
    });
  }

  /** Relays a session, counted active meanwhile and by outcome after. */
  async function relaySession(
    c: Ctx,
    type: SessionType,
    requestHead: Uint8Array,
    tap?: RelayTap,
  ) {
    const active = metrics.sessionsActive[type];
    active.inc();
    try {
      const result = await relay(c, requestHead, tap);
      ended(type, sessionOutcome(tap?.endReason ?? result.reason));
      return result;
    } finally {
      active.dec();
    }
  }

  async function relayUnrecorded(c: Ctx): Promise<Response> {
    const head = upgradeHead(c, c.env.upgrade!.rawHeaders);
    if (head instanceof Response) return head;
    await relay(c, head);
    return relayed();
  }

  function refuse(c: Ctx, status: number, message: string): Response {
    log.info("request refused", {
      status,
      reason: message,
      method: c.req.method,
      path: pathOf(c),
      user: c.get("auth")?.decision.user,
      upgrade: c.env.upgrade !== undefined,
      remote: c.env.peer.remoteAddr,
    });
    return refusal(c.req.header("accept"), status, message);
  }

  /**
   * The recording tap of a port-forward for a recorded caller, or a refusal
   * (fail closed without a recorder: 403 with the reason kubectl prints).
   */
  async function portForwardTap(
    c: Ctx,
    route: Route,
    id: string,
    transport: "websocket" | "spdy",
  ): Promise<RelayTap | undefined | Response> {
    const { identity, decision } = c.get("auth");
    const open = deps.openPortForwardTap ?? deps.openTap?.portForward;
    if (decision.recorders.length === 0 || !open) return;
    try {
      return await open({
        id,
        namespace: route.namespace!,
        pod: route.name!,
        ports: portForwardPorts(c.get("target")),
        identity,
        decision,
        transport,
      });
    } catch (e) {
      if (e instanceof SessionRefusedError) {
        log.warn("port-forward refused", {
          sessionId: id,
          user: decision.user,
          reason: e.message,
        });
        return statusResponse(403, e.message);
      }
      log.error("port-forward recording setup failed", {
        sessionId: id,
        error: (e as Error).message,
      });
      return statusResponse(
        500,
        `the proxy could not set up recording: ${(e as Error).message}`,
      );
    }
  }

  /** exec, attach and portforward. */
  async function session(c: Ctx, route: Route): Promise<Response> {
    const up = c.env.upgrade;
    const kind = route.kind as "exec" | "attach" | "portforward";
    if (!up) {
      return refuse(
        c,
        400,
        `execgate: ${kind} requires a WebSocket or SPDY upgrade (this ${c.req.method} request has no Upgrade)`,
      );
    }
    const { identity, decision } = c.get("auth");
    const target = c.get("target");
    const recorded = decision.recorders.length > 0;
    let headers = up.rawHeaders;
    let transport = guessTransport(headers);
    if (recorded) {
      try {
        const offer = restrictUpgradeOffer(
          headers,
          kind === "portforward" ? "portforward" : "channel",
        );
        headers = offer.headers;
        transport = offer.transport;
      } catch (e) {
        if (e instanceof UpgradeOfferError) return refuse(c, 400, e.message);
        throw e;
      }
    }
    const head = upgradeHead(c, headers);
    if (head instanceof Response) return head;
    const id = newId();
    if (kind === "portforward") {
      const tap = await portForwardTap(c, route, id, transport);
      if (tap instanceof Response) return tap;
      log.info("port-forward", {
        user: decision.user,
        namespace: route.namespace,
        pod: route.name,
        ports: portForwardPorts(target),
        sessionId: id,
        transport,
        recorded: tap !== undefined,
      });
      const result = await relaySession(c, "portforward", head, tap);
      log.info("port-forward end", { sessionId: id, ...result });
      return relayed();
    }
    const exec: ExecRequest = execRequestOf(route, target);
    let tap: RelayTap | undefined;
    if (deps.openTap) {
      try {
        tap = await deps.openTap({ id, exec, identity, decision, transport });
      } catch (e) {
        if (e instanceof SessionRefusedError) {
          ended(exec.sessionType, "recording-required");
          log.warn("session refused", {
            sessionId: id,
            user: decision.user,
            reason: e.message,
          });
          return statusResponse(403, e.message);
        }
        ended(exec.sessionType, "setup-failed");
        log.error("recording setup failed", {
          sessionId: id,
          error: (e as Error).message,
        });
        return statusResponse(
          500,
          `the proxy could not set up recording: ${(e as Error).message}`,
        );
      }
    }
    if (target.dropped.length > 0) {
      log.info("query pairs dropped as the API server drops them", {
        sessionId: id,
        dropped: target.dropped,
      });
    }
    log.info("session start", {
      sessionId: id,
      type: exec.sessionType,
      namespace: exec.namespace,
      pod: exec.pod,
      container: exec.container,
      command: exec.command,
      tty: exec.tty,
      user: decision.user,
      transport,
      recorded: tap !== undefined,
    });
    const result = await relaySession(c, exec.sessionType, head, tap);
    log.info("session end", { sessionId: id, ...result });
    return relayed();
  }

  /** Every `…/proxy` subresource and the `proxy` verb. */
  function proxySubresource(c: Ctx): Response | Promise<Response> {
    const { decision } = c.get("auth");
    const recorded = decision.recorders.length > 0;
    if (recorded && !decision.allowProxySubresources) {
      return refuse(
        c,
        403,
        `execgate: proxy requests (.../proxy subresources of nodes, pods and services, the proxy verb, and exec, attach or portforward outside core pods) are refused for recorded callers, because what they run is not recorded (this one is ${
          JSON.stringify(pathOf(c))
        }); a grant with "allowProxySubresources": true allows them, unrecorded`,
      );
    }
    if (recorded) {
      log.info("proxy request relayed unrecorded", {
        user: decision.user,
        method: c.req.method,
        path: pathOf(c),
        upgrade: c.env.upgrade !== undefined,
      });
    }
    return c.env.upgrade ? relayUnrecorded(c) : forward(c);
  }

  function other(c: Ctx): Response | Promise<Response> {
    if (!c.env.upgrade) return forward(c);
    if (c.get("auth").decision.recorders.length > 0) {
      return refuse(
        c,
        403,
        `execgate: upgrade requests other than exec, attach and port-forward are refused for recorded callers (this one is ${
          JSON.stringify(pathOf(c))
        }); use kubectl exec, attach or port-forward`,
      );
    }
    return relayUnrecorded(c);
  }

  const app = new Hono<Env>();
  app.onError((e, c) => {
    log.error("request failed", { error: e.message, path: pathOf(c) });
    return statusResponse(
      500,
      `execgate: the proxy failed on this request: ${e.message}`,
    );
  });
  app.use("*", function canonicalRequestTarget(c, next) {
    const u = new URL(c.req.url);
    const raw = c.env.rawTarget ?? u.pathname + u.search;
    let target: RequestTarget;
    try {
      target = parseRequestTarget(raw);
    } catch (e) {
      if (!(e instanceof RequestTargetError)) throw e;
      log.info("request refused", {
        status: 400,
        reason: e.message,
        method: c.req.method,
        target: raw.slice(0, 200),
        remote: c.env.peer.remoteAddr,
      });
      return Promise.resolve(
        refusal(c.req.header("accept"), 400, `execgate: ${e.message}`),
      );
    }
    c.set("target", target);
    c.set("route", classifyRoute(target.segments));
    return next();
  });
  app.use("*", async function authorizeRequest(c, next) {
    let r: Authorized | Refused;
    try {
      r = await deps.authorize(c.env.peer);
    } catch (e) {
      log.error("authorization failed", { error: (e as Error).message });
      return statusResponse(500, "the proxy could not authorize this request");
    }
    if ("status" in r) {
      log.info("request refused", {
        status: r.status,
        reason: r.message,
        method: c.req.method,
        path: pathOf(c),
        upgrade: c.env.upgrade !== undefined,
        remote: c.env.peer.remoteAddr,
      });
      return refusal(c.req.header("accept"), r.status, r.message);
    }
    c.set("auth", r);
    await next();
  });
  app.use("*", async function requestEvent(c, next) {
    const { identity, decision } = c.get("auth");
    if (!deps.events?.wanted(decision)) return next();
    const target = c.get("target");
    const hasBody = c.req.method !== "GET" && c.req.method !== "HEAD";
    let event: EventInFlight;
    try {
      event = await deps.events.begin({
        identity,
        decision,
        method: c.req.method,
        route: c.get("route"),
        query: target.query,
        target: basePath + canonicalTarget(target),
        body: hasBody && !c.env.upgrade ? c.req.raw.body : null,
        upgrade: c.env.upgrade !== undefined,
      });
    } catch (e) {
      if (e instanceof EventBodyRefusedError) {
        return refuse(c, e.status, e.message);
      }
      if (!(e instanceof EventRefusedError)) throw e;
      return refuse(
        c,
        503,
        `execgate: the recorder did not acknowledge the audit event of this request: ${e.message}`,
      );
    }
    c.set("event", event);
    await next();
    // A forwarded answer is reported when its body ends; an upgrade's is 101
    // once relayed; a refusal's is its status.
    event.settle(c.env.upgrade?.handled ? 101 : c.res.status);
  });
  app.all("*", function routeRequest(c) {
    const route = c.get("route");
    switch (route.kind) {
      case "exec":
      case "attach":
      case "portforward":
        return session(c, route);
      case "proxy":
        return proxySubresource(c);
      case "other":
        return other(c);
    }
  });

  return {
    fetch: (req, peer, rawTarget) =>
      Promise.resolve(app.fetch(req, { peer, rawTarget })),
    async upgrade(req, client, head, peer) {
      const upgrade: UpgradeBinding = {
        client,
        head,
        rawHeaders: req.rawHeaders,
        method: req.method,
        handled: false,
      };
      let res: Response;
      try {
        // The URL is a placeholder: the middleware reads `rawTarget`.
        const request = new Request("http://execgate.invalid/", {
          method: req.method,
          headers: headersOf(req.rawHeaders),
        });
        res = await app.fetch(request, {
          peer,
          rawTarget: req.target,
          upgrade,
        });
      } catch (e) {
        res = statusResponse(
          400,
          `execgate: cannot read this upgrade request: ${(e as Error).message}`,
        );
      }
      if (!upgrade.handled) await writeResponse(client, res);
    },
  };
}
