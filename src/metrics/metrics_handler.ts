/**
 * The ops endpoints as a web-standard handler: `GET` (or `HEAD`) `/metrics`
 * answers the registry's exposition, `/healthz` 200 while the process
 * serves, `/readyz` 200 while `ready()` says so (else 503); anything else
 * 404, other methods 405.
 *
 * @module
 */

import { EXPOSITION_CONTENT_TYPE } from "./_exposition.ts";
import type { Registry } from "./registry.ts";

/** Options of {@linkcode metricsHandler}. */
export interface MetricsHandlerOptions {
  /** Whether `/readyz` answers 200. @default {always} */
  ready?: () => boolean;
}

const TEXT = { "content-type": "text/plain; charset=utf-8" };

/**
 * Builds the handler.
 * @param registry What to expose.
 * @param options Readiness.
 * @returns A `fetch`-style handler.
 * @example
 * ```ts
 * import { Registry } from "./registry.ts";
 * import { metricsHandler } from "./metrics_handler.ts";
 * const r = new Registry();
 * r.counter({ name: "hits_total", help: "Hits." }).inc();
 * const res = metricsHandler(r)(new Request("http://x/metrics"));
 * if (!(await res.text()).includes("hits_total 1")) throw new Error();
 * ```
 */
export function metricsHandler(
  registry: Registry,
  options: MetricsHandlerOptions = {},
): (req: Request) => Response {
  return function serveMetrics(req) {
    const path = new URL(req.url).pathname;
    if (path !== "/metrics" && path !== "/healthz" && path !== "/readyz") {
      return new Response(
        "Not found: this listener serves /metrics, /healthz and /readyz\n",
        { status: 404, headers: TEXT },
      );
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response(`Method ${req.method} is not allowed on /metrics\n`, {
        status: 405,
        headers: {
          allow: "GET, HEAD",
          "content-type": "text/plain; charset=utf-8",
        },
      });
    }
    if (path !== "/metrics") {
      const ok = path === "/healthz" || (options.ready?.() ?? true);
      return new Response(
        req.method === "HEAD" ? null : ok ? "ok\n" : "not ready\n",
        {
          status: ok ? 200 : 503,
          headers: { ...TEXT, "cache-control": "no-store" },
        },
      );
    }
    return new Response(req.method === "HEAD" ? null : registry.render(), {
      headers: {
        "content-type": EXPOSITION_CONTENT_TYPE,
        "cache-control": "no-store",
      },
    });
  };
}
