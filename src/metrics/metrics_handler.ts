/**
 * The `/metrics` endpoint as a web-standard handler: `GET` (or `HEAD`)
 * `/metrics` answers the registry's exposition, anything else 404 or 405.
 *
 * @module
 */

import { EXPOSITION_CONTENT_TYPE } from "./_exposition.ts";
import type { Registry } from "./registry.ts";

/**
 * Builds the handler.
 * @param registry What to expose.
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
export function metricsHandler(registry: Registry): (req: Request) => Response {
  return function serveMetrics(req) {
    const path = new URL(req.url).pathname;
    if (path !== "/metrics") {
      return new Response("Not found: metrics are at /metrics\n", {
        status: 404,
        headers: { "content-type": "text/plain; charset=utf-8" },
      });
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
    return new Response(req.method === "HEAD" ? null : registry.render(), {
      headers: {
        "content-type": EXPOSITION_CONTENT_TYPE,
        "cache-control": "no-store",
      },
    });
  };
}
