/**
 * The routes that run something or reach a pod, matched on the DECODED
 * segments of a request (see `go_request.ts`), with their options read the
 * way the component that serves them reads them:
 *
 * | route | served by | options |
 * | --- | --- | --- |
 * | `…/namespaces/NS/pods/POD/exec\|attach` | kube-apiserver (`PodExecOptions`) | `command` all values, `container` first, `stdin`/`stdout`/`stderr`/`tty` Kubernetes bools |
 * | `/api/v1/nodes/NODE/proxy/exec\|attach/NS/POD[/UID]/CTR` | the kubelet's own API | `command` all values; `input`/`output`/`error`/`tty` true only when the first value is `1` |
 * | `/api/v1/nodes/NODE/proxy/run/NS/POD[/UID]/CTR` | the kubelet (`getRun`) | `cmd` split on single spaces |
 * | `…/namespaces/NS/pods/POD/portforward` | kube-apiserver (`PodPortForwardOptions`), then the kubelet | `ports` all values (read by `portforward_request.ts`) |
 * | `…/pods/[SCHEME:]POD[:PORT]/proxy/PATH`, `…/services/[SCHEME:]SVC[:PORT]/proxy/PATH` | whatever the pod serves | none |
 *
 * With a TTY the kubelet drops stderr. Sources: kubernetes
 * `pkg/kubelet/server/server.go` (routes, `getRun`),
 * `pkg/kubelet/cri/streaming/remotecommand/httpstream.go` (`NewOptions`),
 * `staging/src/k8s.io/apimachinery/pkg/util/net/http.go` (`SplitSchemeNamePort`).
 *
 * @module
 */

import { goBool, type GoTarget, goValues } from "./go_request.ts";

/** A streaming session: exec or attach, through the API server or the kubelet. */
export interface StreamRoute {
  /** The route. */
  via: "pods/exec" | "pods/attach" | "nodes/proxy/exec" | "nodes/proxy/attach";
  /** Exec (runs `command`) or attach (joins the main process). */
  kind: "exec" | "attach";
  /** Node name, for the kubelet routes. */
  node?: string;
  /** Namespace. */
  namespace: string;
  /** Pod name. */
  pod: string;
  /** Container ("" when not given). */
  container: string;
  /** argv. */
  command: string[];
  /** The client sends stdin. */
  stdin: boolean;
  /** The client wants stdout. */
  stdout: boolean;
  /** The client wants stderr. */
  stderr: boolean;
  /** The client has a terminal. */
  tty: boolean;
}

/** A port-forward to a pod. */
export interface PortForwardRoute {
  /** The route. */
  via: "pods/portforward";
  /** Namespace. */
  namespace: string;
  /** Pod name. */
  pod: string;
  /** Every `ports` value as sent (each may hold a comma-separated list). */
  ports: string[];
}

/** The kubelet's `run`: a command whose output is the answer's body. */
export interface RunRoute {
  /** The route. */
  via: "nodes/proxy/run";
  /** Node name. */
  node: string;
  /** Namespace. */
  namespace: string;
  /** Pod name. */
  pod: string;
  /** Container. */
  container: string;
  /** argv: `cmd` split on single spaces. */
  command: string[];
}

/** A request passed to what a pod (or a service's pod) serves. */
export interface ProxyRoute {
  /** The route. */
  via: "pods/proxy" | "services/proxy";
  /** Namespace. */
  namespace: string;
  /** Pod or service name. */
  name: string;
  /** Scheme given in the name (`https:demo:443`), or "". */
  scheme: string;
  /** Port given in the name, or "". */
  port: string;
  /** The path after `proxy`, starting with `/`. */
  path: string;
}

/**
 * Kubernetes' `SplitSchemeNamePort`: `name`, `name:port` or
 * `scheme:name:port`.
 * @param id The path segment.
 * @returns The parts, or undefined when the name is empty or there are more
 * than three parts.
 */
export function splitSchemeNamePort(
  id: string,
): { scheme: string; name: string; port: string } | undefined {
  const parts = id.split(":");
  let r: { scheme: string; name: string; port: string };
  if (parts.length === 1) r = { scheme: "", name: parts[0]!, port: "" };
  else if (parts.length === 2) {
    r = { scheme: "", name: parts[0]!, port: parts[1]! };
  } else if (parts.length === 3) {
    r = { scheme: parts[0]!, name: parts[1]!, port: parts[2]! };
  } else return undefined;
  if (r.name === "") return undefined;
  if (r.scheme !== "" && r.scheme !== "http" && r.scheme !== "https") {
    return undefined;
  }
  return r;
}

function kubeletFlag(target: GoTarget, name: string): boolean {
  return goValues(target.query, name)[0] === "1";
}

/**
 * Matches the routes of this module.
 * @param target A read request target.
 * @returns The route, or undefined for any other path.
 * @example
 * ```ts
 * import { goTarget } from "./go_request.ts";
 * import { matchRoute } from "./route_target.ts";
 * const r = matchRoute(goTarget("/api/v1/namespaces/default/pods/demo%2Fexec?command=id&tty=yes"));
 * // r.via === "pods/exec", r.command = ["id"], r.tty === true
 * ```
 */
export function matchRoute(
  target: GoTarget,
): StreamRoute | RunRoute | ProxyRoute | PortForwardRoute | undefined {
  const s = target.segments;
  if (s[0] !== "api" || s[1] !== "v1") return undefined;
  if (s[2] === "namespaces" && s.length >= 7) {
    const namespace = s[3]!;
    if (
      s[4] === "pods" && s.length === 7 &&
      (s[6] === "exec" || s[6] === "attach")
    ) {
      const kind = s[6];
      const bool = (n: string) => goBool(goValues(target.query, n));
      const tty = bool("tty");
      return {
        via: kind === "exec" ? "pods/exec" : "pods/attach",
        kind,
        namespace,
        pod: s[5]!,
        container: goValues(target.query, "container")[0] ?? "",
        command: kind === "exec" ? goValues(target.query, "command") : [],
        stdin: bool("stdin"),
        stdout: bool("stdout"),
        stderr: bool("stderr") && !tty,
        tty,
      };
    }
    if (s[4] === "pods" && s.length === 7 && s[6] === "portforward") {
      return {
        via: "pods/portforward",
        namespace,
        pod: s[5]!,
        ports: goValues(target.query, "ports"),
      };
    }
    if ((s[4] === "pods" || s[4] === "services") && s[6] === "proxy") {
      const id = splitSchemeNamePort(s[5]!);
      if (!id) return undefined;
      return {
        via: s[4] === "pods" ? "pods/proxy" : "services/proxy",
        namespace,
        ...id,
        path: "/" + s.slice(7).join("/"),
      };
    }
    return undefined;
  }
  if (
    s[2] === "nodes" && s[4] === "proxy" && (s.length === 9 || s.length === 10)
  ) {
    const node = splitSchemeNamePort(s[3]!)?.name;
    const sub = s[5];
    if (!node) return undefined;
    const namespace = s[6]!;
    const pod = s[7]!;
    const container = s[s.length - 1]!;
    if (sub === "run") {
      return {
        via: "nodes/proxy/run",
        node,
        namespace,
        pod,
        container,
        command: (goValues(target.query, "cmd")[0] ?? "").split(" "),
      };
    }
    if (sub === "exec" || sub === "attach") {
      const tty = kubeletFlag(target, "tty");
      return {
        via: sub === "exec" ? "nodes/proxy/exec" : "nodes/proxy/attach",
        kind: sub,
        node,
        namespace,
        pod,
        container,
        command: sub === "exec" ? goValues(target.query, "command") : [],
        stdin: kubeletFlag(target, "input"),
        stdout: kubeletFlag(target, "output"),
        stderr: kubeletFlag(target, "error") && !tty,
        tty,
      };
    }
  }
  return undefined;
}
