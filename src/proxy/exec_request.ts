/**
 * The requests that open a session in a container: `exec` and `attach` on a
 * pod (what `kubectl exec`, `attach`, `debug` and `run -it` send), and their
 * parameters as the API server reads them. A thin wrapper over
 * {@linkcode parseRequestTarget} and {@linkcode classifyRoute}.
 *
 * @module
 */

import { parseRequestTarget } from "./request_target.ts";
import { classifyRoute, execRequestOf } from "./routes.ts";

/** What an exec/attach request asks for. */
export interface ExecRequest {
  /** `exec` or `attach`. */
  sessionType: "exec" | "attach";
  /** Namespace. */
  namespace: string;
  /** Pod name. */
  pod: string;
  /** Container, "" when the request names none. */
  container: string;
  /** argv (`command` query parameters); empty for attach. */
  command: string[];
  /** Whether a TTY was asked for. */
  tty: boolean;
  /** Whether stdin is attached. */
  stdin: boolean;
  /** Whether stdout is attached. */
  stdout?: boolean;
  /** Whether stderr is attached. */
  stderr?: boolean;
}

/**
 * Parses an exec or attach request target.
 * @param target Path and query, e.g. `/api/v1/namespaces/default/pods/demo/exec?command=sh`.
 * @returns The request, or undefined for any other route.
 * @throws {RequestTargetError} The target cannot be read unambiguously.
 * @example
 * ```ts
 * import { parseExecRequest } from "./exec_request.ts";
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
