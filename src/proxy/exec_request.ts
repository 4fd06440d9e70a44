/**
 * Recognises the requests that open a session in a container: `exec` and
 * `attach` on a pod (what `kubectl exec`, `attach`, `debug` and `run -it`
 * send), and reads their parameters from the URL.
 *
 * @module
 */

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
}

const PATH =
  /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/(exec|attach)\/?$/;

function flag(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  return v !== null && /^(1|t|true)$/i.test(v);
}

/**
 * Parses an exec or attach request target.
 * @param target Path and query, e.g. `/api/v1/namespaces/default/pods/demo/exec?command=sh`.
 * @returns The request, or undefined for any other path.
 * @example
 * ```ts
 * import { parseExecRequest } from "./exec_request.ts";
 * const r = parseExecRequest("/api/v1/namespaces/ns/pods/p/exec?command=echo&command=hi&tty=true");
 * if (r?.command.join(" ") !== "echo hi" || !r.tty) throw new Error();
 * ```
 */
export function parseExecRequest(target: string): ExecRequest | undefined {
  const u = new URL(target, "http://x");
  const m = PATH.exec(u.pathname);
  if (!m) return undefined;
  const q = u.searchParams;
  return {
    sessionType: m[3] as "exec" | "attach",
    namespace: decodeURIComponent(m[1]!),
    pod: decodeURIComponent(m[2]!),
    container: q.get("container") ?? "",
    command: q.getAll("command"),
    tty: flag(q, "tty"),
    stdin: flag(q, "stdin"),
  };
}
