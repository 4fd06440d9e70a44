/**
 * What a request is, read from the decoded path segments the way
 * kube-apiserver's `RequestInfoFactory` reads them (`api/v1/…` or
 * `apis/GROUP/VERSION/…`, an optional `watch`/`proxy` verb prefix,
 * `namespaces/NS/RESOURCE/NAME/SUBRESOURCE/…` or cluster-scoped
 * `RESOURCE/NAME/SUBRESOURCE/…`), and the exec parameters read from the query
 * with Kubernetes' conversion rules.
 *
 * Route kinds:
 * - `exec`, `attach`: exactly `api/v1/namespaces/NS/pods/NAME/{exec,attach}`;
 * - `portforward`: exactly `api/v1/namespaces/NS/pods/NAME/portforward`;
 * - `proxy`: any `…/proxy` subresource of any resource in any group
 *   (`nodes/N/proxy/…` reaches the kubelet's own exec/run/attach,
 *   `pods/N[:port]/proxy/…`, `services/[scheme:]N[:port]/proxy/…` reach
 *   in-pod endpoints), the deprecated `proxy` verb prefix, and every
 *   `exec`/`attach`/`portforward` subresource that is not exactly one of the
 *   above (another group or version, extra segments, other spelling);
 * - `other`: everything else.
 *
 * Source: kubernetes
 * `staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go`
 * (`NewRequestInfo`), `pkg/registry/core/pod/rest/subresources.go`.
 *
 * @module
 */

import type { ExecRequest } from "./exec_request.ts";
import {
  kubeBool,
  parseRequestTarget,
  queryValues,
  type RequestTarget,
} from "./request_target.ts";

/** What kind of request a target is. */
export type RouteKind = "exec" | "attach" | "portforward" | "proxy" | "other";

/** A classified request. */
export interface Route {
  /** The kind. */
  kind: RouteKind;
  /** API group ("" for the core group, undefined for non-resource paths). */
  group?: string;
  /** API version. */
  version?: string;
  /** `watch` or `proxy` when the path starts with that verb. */
  verbPrefix?: "watch" | "proxy";
  /** Namespace, when namespaced. */
  namespace?: string;
  /** Resource, e.g. `pods`. */
  resource?: string;
  /** Object name, e.g. the pod's. */
  name?: string;
  /** Subresource, e.g. `exec`, `proxy`. */
  subresource?: string;
  /** Segments after the subresource. */
  rest: string[];
}

const SESSION_SUBRESOURCES = new Set(["exec", "attach", "portforward"]);
// Subresources of a namespace object itself, not resources inside it.
const NAMESPACE_SUBRESOURCES = new Set(["status", "finalize"]);

/**
 * Classifies decoded path segments.
 * @param segments Decoded segments (from {@linkcode parseRequestTarget}).
 * @returns The route.
 * @example
 * ```ts
 * import { classifyRoute } from "./routes.ts";
 * if (classifyRoute(["api", "v1", "nodes", "n", "proxy", "run"]).kind !== "proxy") throw new Error();
 * if (classifyRoute(["api", "v1", "namespaces", "ns", "pods", "p", "exec"]).kind !== "exec") throw new Error();
 * ```
 */
export function classifyRoute(segments: readonly string[]): Route {
  const other: Route = { kind: "other", rest: [] };
  const prefix = segments[0];
  if (prefix !== "api" && prefix !== "apis") return other;
  let parts = segments.slice(1);
  let group = "";
  if (prefix === "apis") {
    if (parts.length < 2) return other;
    group = parts[0]!;
    parts = parts.slice(1);
  }
  const version = parts[0];
  if (version === undefined) return other;
  parts = parts.slice(1);
  const base = { group, version, rest: [] as string[] };
  let verbPrefix: "watch" | "proxy" | undefined;
  const first = parts[0]?.toLowerCase();
  if (first === "proxy" || first === "watch") {
    // `proxy` in any spelling is refused as a proxy route: never guess.
    verbPrefix = first;
    if (first === "proxy") {
      return { ...base, kind: "proxy", verbPrefix, rest: parts.slice(1) };
    }
    parts = parts.slice(1);
  }
  let namespace: string | undefined;
  if (parts[0] === "namespaces" && parts.length > 1) {
    namespace = parts[1];
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2]!)) {
      parts = parts.slice(2);
    }
  }
  const route: Route = {
    ...base,
    kind: "other",
    ...(verbPrefix ? { verbPrefix } : {}),
    ...(namespace !== undefined ? { namespace } : {}),
    ...(parts[0] !== undefined ? { resource: parts[0] } : {}),
    ...(parts[1] !== undefined ? { name: parts[1] } : {}),
    ...(parts[2] !== undefined ? { subresource: parts[2] } : {}),
    rest: parts.slice(3),
  };
  const sub = route.subresource?.toLowerCase();
  if (sub === undefined) return route;
  if (sub === "proxy") return { ...route, kind: "proxy" };
  if (!SESSION_SUBRESOURCES.has(sub)) return route;
  const exact = verbPrefix === undefined && group === "" && version === "v1" &&
    namespace !== undefined && route.resource === "pods" &&
    route.subresource === sub && route.rest.length === 0;
  if (!exact) return { ...route, kind: "proxy" };
  return { ...route, kind: sub as "exec" | "attach" | "portforward" };
}

/**
 * Reads the exec/attach parameters the API server will read
 * (`PodExecOptions`/`PodAttachOptions`): `command` = every value in order,
 * `container` = the first value, `stdin`/`stdout`/`stderr`/`tty` by
 * Kubernetes' bool rule ({@linkcode kubeBool}).
 * @param route An `exec` or `attach` route.
 * @param target The parsed target.
 * @returns The request.
 * @throws {TypeError} The route is not exec or attach.
 */
export function execRequestOf(
  route: Route,
  target: Pick<RequestTarget, "query">,
): ExecRequest {
  if (route.kind !== "exec" && route.kind !== "attach") {
    throw new TypeError(
      `Cannot read exec parameters: the route is ${JSON.stringify(route.kind)}`,
    );
  }
  return {
    sessionType: route.kind,
    namespace: route.namespace!,
    pod: route.name!,
    container: queryValues(target, "container")[0] ?? "",
    command: route.kind === "exec" ? queryValues(target, "command") : [],
    tty: kubeBool(queryValues(target, "tty")),
    stdin: kubeBool(queryValues(target, "stdin")),
    stdout: kubeBool(queryValues(target, "stdout")),
    stderr: kubeBool(queryValues(target, "stderr")),
  };
}

/**
 * The `ports` a port-forward asks for (every value, in order).
 * @param target The parsed target.
 * @returns The port values as sent.
 */
export function portForwardPorts(
  target: Pick<RequestTarget, "query">,
): string[] {
  return queryValues(target, "ports");
}

/**
 * Parses an exec or attach request target.
 * @param target Path and query, e.g. `/api/v1/namespaces/default/pods/demo/exec?command=sh`.
 * @returns The request, or undefined for any other route.
 * @throws {RequestTargetError} The target cannot be read unambiguously.
 * @example
 * ```ts
 * import { parseExecRequest } from "./routes.ts";
 * const r = parseExecRequest("/api/v1/namespaces/ns/pods/p/%65xec?command=echo&command=hi&tty=yes");
 * if (r?.command.join(" ") !== "echo hi" || !r.tty) throw new Error();
 * ```
 */
export function parseExecRequest(target: string): ExecRequest | undefined {
  const t = parseRequestTarget(target);
  const route = classifyRoute(t.segments);
  if (route.kind !== "exec" && route.kind !== "attach") return undefined;
  return execRequestOf(route, t);
}
