/**
 * The requests that open a session in a container: `exec` and `attach` on a
 * pod (what `kubectl exec`, `attach`, `debug` and `run -it` send), and their
 * parameters as the API server reads them (`routes.ts` reads them from a
 * request target: `parseExecRequest`, `execRequestOf`).
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
  /** Whether stdout is attached. */
  stdout?: boolean;
  /** Whether stderr is attached. */
  stderr?: boolean;
}
