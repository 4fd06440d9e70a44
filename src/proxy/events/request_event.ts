/**
 * The API request event: what the proxy sends the recorder for each request
 * of a caller whose grant says `"enableEvents": true`. Two records per
 * request, joined by `id`: the `request` one (sent, and under
 * `enforceRecorder` acknowledged, before the request goes upstream) and the
 * `response` one (status, latency, bytes; sent when the response ends).
 *
 * @module
 */

import type { Identity } from "../../identity/identity.ts";
import type { Route } from "../routes.ts";
import type { EventBody } from "./event_body.ts";

/** The caller, as a recording's cast header names it. */
export interface EventCaller {
  /** Source hostname. */
  srcNode: string;
  /** Stable node id. */
  srcNodeID: string;
  /** Tags of a tagged device. */
  srcNodeTags?: string[];
  /** User id, when not tagged. */
  srcNodeUserID?: string;
  /** Login name, when not tagged. */
  srcNodeUser?: string;
}

/** The `request` record of an event. */
export interface RequestEventRecord {
  phase: "request";
  /** Event id (shared with its `response` record). */
  id: string;
  /** Unix ms (proxy clock). */
  timeMs: number;
  /** Proxy hostname. */
  proxy: string;
  /** Who called. */
  caller: EventCaller;
  /** Whom the proxy impersonated upstream. */
  impersonate: { user: string; groups: string[] };
  /** Kubernetes verb (`get`, `list`, `watch`, `create`, …; lower-case method for non-resource paths). */
  verb: string;
  /** HTTP method. */
  method: string;
  /** API group (`""` core), absent for non-resource paths. */
  apiGroup?: string;
  apiVersion?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  /** The request target as forwarded upstream (canonical). */
  target: string;
  /** Set when `target` was cut at 8 KiB to keep the event within its bound. */
  targetTruncated?: boolean;
  /** Whether it was an upgrade (exec, attach, port-forward, …). */
  upgrade?: boolean;
  /** The request body, for the captured verbs and resources. */
  body?: EventBody;
}

/** The `response` record of an event. */
export interface ResponseEventRecord {
  phase: "response";
  /** The request record's id. */
  id: string;
  /** Unix ms when the response ended. */
  timeMs: number;
  /** Status code (0: no answer from upstream). */
  status: number;
  /** Milliseconds until the response head. */
  latencyMs: number;
  /** Milliseconds until the response ended. */
  durationMs: number;
  /** Request body bytes forwarded. */
  requestBytes: number;
  /** Response body bytes sent to the client. */
  responseBytes: number;
  /** What went wrong, when the request failed. */
  error?: string;
}

/** The caller fields of an identity. */
export function callerOf(identity: Identity): EventCaller {
  return {
    srcNode: identity.hostname,
    srcNodeID: identity.nodeId,
    ...(identity.tags?.length ? { srcNodeTags: identity.tags } : {}),
    ...(identity.userId ? { srcNodeUserID: identity.userId } : {}),
    ...(identity.loginName ? { srcNodeUser: identity.loginName } : {}),
  };
}

/**
 * The Kubernetes verb of a request, as kube-apiserver's `RequestInfoFactory`
 * names it.
 * @param method HTTP method.
 * @param route The classified route.
 * @param query Query pairs (for `watch`).
 * @returns The verb.
 * @example
 * ```ts
 * import { verbOf } from "./request_event.ts";
 * if (verbOf("GET", { kind: "other", resource: "pods", rest: [] }, []) !== "list") throw new Error();
 * ```
 */
export function verbOf(
  method: string,
  route: Route,
  query: readonly { key: string; value: string }[],
): string {
  const m = method.toUpperCase();
  if (route.resource === undefined) return m.toLowerCase();
  if (route.verbPrefix === "watch") return "watch";
  if (route.verbPrefix === "proxy") return "proxy";
  switch (m) {
    case "GET":
    case "HEAD": {
      const w = query.find((p) => p.key === "watch")?.value;
      if (w !== undefined && w !== "0" && w !== "false") return "watch";
      return route.name === undefined ? "list" : "get";
    }
    case "POST":
      return "create";
    case "PUT":
      return "update";
    case "PATCH":
      return "patch";
    case "DELETE":
      return route.name === undefined ? "deletecollection" : "delete";
    default:
      return m.toLowerCase();
  }
}

/** Resources whose create/update/patch bodies are captured. */
const CAPTURED = new Set([
  "pods",
  "pods/ephemeralcontainers",
  "deployments",
  "jobs",
  "cronjobs",
  "daemonsets",
  "statefulsets",
  // They start pods from a template as well: a command set there runs.
  "replicasets",
  "replicationcontrollers",
  "podtemplates",
]);

/**
 * Whether an event keeps the request body: `create`, `update` and `patch`
 * of pods, pods/ephemeralcontainers, deployments, jobs, cronjobs,
 * daemonsets, statefulsets, replicasets, replicationcontrollers and
 * podtemplates (everything that puts a pod spec, hence a command, in the
 * cluster).
 * @param verb The verb.
 * @param route The route.
 * @returns True to capture.
 */
export function capturesBody(verb: string, route: Route): boolean {
  if (verb !== "create" && verb !== "update" && verb !== "patch") return false;
  if (route.resource === undefined) return false;
  const r = route.subresource
    ? `${route.resource}/${route.subresource}`
    : route.resource;
  return CAPTURED.has(r);
}
