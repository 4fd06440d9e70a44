/**
 * The proxy core: who is calling, what the policy says, and forwarding as
 * that caller. Ordinary requests go through a Hono app and `fetch`; upgrade
 * requests (exec, attach, port-forward, over WebSocket or SPDY) go through
 * the raw {@linkcode relayUpgrade}, with a recording tap when the policy says
 * so. Runtime specifics (the node:https server, TLS upstream) are injected.
 *
 * @module
 */

import { Hono } from "hono";
import type { Identity, PeerInfo } from "../identity/identity.ts";
import type { Decision } from "../policy/decision.ts";
import { failureStatus, statusResponse } from "../k8s/status.ts";
import type { Logger } from "../log.ts";
import { type ExecRequest, parseExecRequest } from "./exec_request.ts";
import { upstreamHeaders } from "./impersonation.ts";
import type { UpstreamRequest } from "./upstream_connect.ts";
import type { RelayTap } from "./relay_tap.ts";
import {
  encodeRequestHead,
  type RelaySocket,
  relayUpgrade,
  writeRawResponse,
} from "./upgrade_relay.ts";

/** The caller, once authenticated and admitted. */
export interface Authorized {
  identity: Identity;
  decision: Decision;
}

/** A refusal: 401 (no identity), 403 (policy), 503 (identity source down). */
export interface Refused {
  status: 401 | 403 | 503;
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
  override name = "SessionRefusedError";
}

/**
 * Opens the recording for a session before it is sent upstream. Resolves to a
 * tap, or undefined when the session is not recorded (no recorder in the
 * decision, or fail open without a recorder).
 * @throws {SessionRefusedError} Fail closed and the session cannot be recorded.
 */
export type OpenTap = (ctx: SessionContext) => Promise<RelayTap | undefined>;

/** An upgrade request as the server saw it. */
export interface UpgradeRequest {
  method: string;
  /** Path and query. */
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
  connectUpstream: () => Promise<RelaySocket>;
  /** Opens the recording tap of a session. @default {no recording} */
  openTap?: OpenTap;
  /** Logger. */
  logger: Logger;
  /** Session id generator. @default {random 128-bit hex} */
  newSessionId?: () => string;
}

/** The proxy: one entry for ordinary requests, one for upgrades. */
export interface Proxy {
  /** Handles an ordinary request. */
  fetch(req: Request, peer: PeerInfo): Promise<Response>;
  /** Handles an upgrade request on its raw socket. */
  upgrade(
    req: UpgradeRequest,
    client: RelaySocket,
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

type Env = { Bindings: { peer: PeerInfo }; Variables: { auth: Authorized } };

function randomId(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
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

  const app = new Hono<Env>();
  app.use("*", async function authorizeRequest(c, next) {
    const r = await deps.authorize(c.env.peer);
    if ("status" in r) {
      log.info("request refused", {
        status: r.status,
        reason: r.message,
        method: c.req.method,
        path: new URL(c.req.url).pathname,
        remote: c.env.peer.remoteAddr,
      });
      return refusal(c.req.header("accept"), r.status, r.message);
    }
    c.set("auth", r);
    await next();
  });
  app.all("*", async (c) => {
    const { decision } = c.get("auth");
    const url = new URL(c.req.url);
    const headers = upstreamHeaders(c.req.raw.headers.entries(), {
      impersonate: decision,
      token: deps.upstreamToken,
      host: upstream.host,
      upgrade: false,
    });
    const hasBody = c.req.method !== "GET" && c.req.method !== "HEAD";
    let res: Response;
    try {
      res = await deps.upstreamRequest({
        method: c.req.method,
        target: basePath + url.pathname + url.search,
        headers,
        body: hasBody ? c.req.raw.body : null,
      });
    } catch (e) {
      log.error("upstream request failed", {
        path: url.pathname,
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
    return new Response(res.body, { status: res.status, headers: out });
  });

  return {
    fetch: (req, peer) => Promise.resolve(app.fetch(req, { peer })),
    async upgrade(req, client, head, peer) {
      const refuse = (status: number, message: string) => {
        writeRawResponse(client, status, failureStatus(status, message));
      };
      let auth: Authorized | Refused;
      try {
        auth = await deps.authorize(peer);
      } catch (e) {
        log.error("authorization failed", { error: (e as Error).message });
        return refuse(500, "the proxy could not authorize this request");
      }
      if ("status" in auth) {
        log.info("upgrade refused", {
          status: auth.status,
          reason: auth.message,
          path: req.target,
          remote: peer.remoteAddr,
        });
        return refuse(auth.status, auth.message);
      }
      const { identity, decision } = auth;
      const upgradeHdr =
        req.rawHeaders.find(([k]) => k.toLowerCase() === "upgrade")?.[1] ?? "";
      const transport = /^spdy\//i.test(upgradeHdr.trim())
        ? "spdy"
        : "websocket";
      const exec = parseExecRequest(req.target);
      let tap: RelayTap | undefined;
      const id = newId();
      if (exec && deps.openTap) {
        try {
          tap = await deps.openTap({ id, exec, identity, decision, transport });
        } catch (e) {
          if (e instanceof SessionRefusedError) {
            log.warn("session refused", {
              session: id,
              user: decision.user,
              reason: e.message,
            });
            return refuse(403, e.message);
          }
          log.error("recording setup failed", {
            session: id,
            error: (e as Error).message,
          });
          return refuse(
            500,
            `the proxy could not set up recording: ${(e as Error).message}`,
          );
        }
      }
      let requestHead: Uint8Array;
      try {
        requestHead = encodeRequestHead(
          req.method,
          basePath + req.target,
          upstreamHeaders(req.rawHeaders, {
            impersonate: decision,
            token: deps.upstreamToken,
            host: upstream.host,
            upgrade: true,
          }),
        );
      } catch (e) {
        await tap?.end("protocol-error", (e as Error).message);
        return refuse(400, (e as Error).message);
      }
      if (exec) {
        log.info("session start", {
          session: id,
          type: exec.sessionType,
          namespace: exec.namespace,
          pod: exec.pod,
          container: exec.container,
          command: exec.command,
          user: decision.user,
          transport,
          recorded: tap !== undefined,
        });
      }
      const result = await relayUpgrade({
        client,
        clientHead: head,
        requestHead,
        connect: deps.connectUpstream,
        tap,
      });
      if (exec) {
        log.info("session end", { session: id, ...result });
      }
    },
  };
}
