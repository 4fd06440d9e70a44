/**
 * What the simulated cluster received and what it ran, for tests: every
 * request head (so a test can assert that a refused request never reached
 * upstream) and every command it started or proxy request it served (so a
 * test can see what an attack would have executed). Waiting is
 * event-driven: {@linkcode EventLog.waitFor} resolves on the matching entry.
 *
 * @module
 */

import type { IncomingMessage } from "node:http";

/** How a command (or proxied request) reached the cluster. */
export type ExecutionVia =
  | "pods/exec"
  | "pods/attach"
  | "nodes/proxy/exec"
  | "nodes/proxy/attach"
  | "nodes/proxy/run"
  | "pods/proxy"
  | "services/proxy"
  | "pods/portforward";

/**
 * One command the cluster started, one request a proxy path served, or one
 * port-forward session (`pods/portforward`: no container, no command; the
 * ports are in `rawTarget` or, over SPDY, in each stream's headers).
 */
export interface Execution {
  /** The route. */
  via: ExecutionVia;
  /** Namespace. */
  namespace: string;
  /** Pod name (`services/proxy`: the service name). */
  pod: string;
  /** Container ("" for the proxy routes). */
  container: string;
  /** argv (`[]` for attach and the proxy routes). */
  command: string[];
  /** A terminal was asked for. */
  tty: boolean;
  /** The client sends stdin. */
  stdin: boolean;
  /** The request target exactly as received. */
  rawTarget: string;
  /** The path as kube-apiserver decodes it. */
  decodedPath: string;
  /** For `pods/proxy` and `services/proxy`: the path after `proxy`, e.g. `/` or `/healthz`. */
  proxyPath?: string;
  /** First `Impersonate-User` header as received. */
  impersonateUser: string | undefined;
  /** Every `Impersonate-Group` header as received, in order. */
  impersonateGroups: string[];
  /** All request headers as received: `[name, value]` in order. */
  headers: [string, string][];
}

/** One request head the cluster received. */
export interface ReceivedRequest {
  /** Method. */
  method: string;
  /** The request target exactly as received. */
  rawTarget: string;
  /** All request headers as received: `[name, value]` in order. */
  headers: [string, string][];
  /** It arrived as an upgrade (Node's `upgrade` event). */
  upgrade: boolean;
}

/**
 * The headers of a Node request as received (from `rawHeaders`).
 * @param req The request.
 * @returns `[name, value]` pairs, original case and order.
 */
export function rawHeaderPairs(req: IncomingMessage): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    out.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
  }
  return out;
}

/**
 * The identity fields of an {@linkcode Execution}, from the raw headers.
 * @param headers Raw header pairs.
 * @returns First `Impersonate-User`, every `Impersonate-Group`.
 */
export function impersonationOf(
  headers: readonly [string, string][],
): Pick<Execution, "impersonateUser" | "impersonateGroups"> {
  const named = (n: string) =>
    headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
  return {
    impersonateUser: named("impersonate-user")[0],
    impersonateGroups: named("impersonate-group"),
  };
}

/** An append-only list that can be awaited. */
export class EventLog<T> {
  #items: T[] = [];
  #waiters = new Set<
    { match: (item: T) => boolean; resolve: (t: T) => void }
  >();

  /**
   * Appends an entry and wakes the waiters it matches.
   * @param item The entry.
   */
  add(item: T): void {
    this.#items.push(item);
    for (const w of [...this.#waiters]) {
      if (!w.match(item)) continue;
      this.#waiters.delete(w);
      w.resolve(item);
    }
  }

  /** @returns Every entry so far, oldest first. */
  all(): readonly T[] {
    return [...this.#items];
  }

  /**
   * Resolves with the first entry (already logged or still to come) that
   * matches.
   * @param predicate The condition.
   * @param signal Gives up when aborted.
   * @returns The entry.
   * @throws {Error} `signal` was aborted first.
   */
  waitFor(predicate: (item: T) => boolean, signal?: AbortSignal): Promise<T> {
    const found = this.#items.find(predicate);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise<T>((resolve, reject) => {
      const w = {
        match: predicate,
        resolve: (t: T) => {
          signal?.removeEventListener("abort", abort);
          resolve(t);
        },
      };
      const abort = () => {
        this.#waiters.delete(w);
        reject(new Error("Stopped waiting for a log entry: aborted"));
      };
      if (signal?.aborted) return abort();
      signal?.addEventListener("abort", abort, { once: true });
      this.#waiters.add(w);
    });
  }
}
