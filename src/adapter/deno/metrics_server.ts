/**
 * Adapter: serves a `/metrics` handler on its own plain-HTTP listener
 * (`Deno.serve`), apart from the proxy's API port: the proxy forwards every
 * path of its API port upstream, and `/metrics` is a kube-apiserver path
 * too, so the proxy's own metrics must never be answered there.
 *
 * @module
 */

/** A running metrics listener. */
export interface MetricsServer {
  /** Base URL, e.g. `http://127.0.0.1:9090`. */
  url: string;
  /** Stops listening; resolves once closed. */
  close(): Promise<void>;
}

/**
 * Parses `host:port` (`[::1]:9090` for IPv6; port 0 picks a free one).
 * @param address The address.
 * @returns Host and port.
 * @throws {TypeError} Not `host:port` with a port in 0–65535.
 * @example
 * ```ts
 * import { parseHostPort } from "./metrics_server.ts";
 * const a = parseHostPort("[::1]:9090");
 * if (a.host !== "::1" || a.port !== 9090) throw new Error();
 * ```
 */
export function parseHostPort(address: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]\s]+)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new TypeError(
      `Cannot read address ${
        JSON.stringify(address)
      }: expected host:port (e.g. 127.0.0.1:9090 or [::1]:9090)`,
    );
  }
  return { host: m[1] ?? m[2]!, port };
}

/**
 * Serves `handler` on `host:port`.
 * @param handler The `/metrics` handler.
 * @param address Where to listen.
 * @returns The running server.
 */
export async function serveMetrics(
  handler: (req: Request) => Response,
  address: { host: string; port: number },
): Promise<MetricsServer> {
  const ready = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: address.host,
    port: address.port,
    onListen: (a) => ready.resolve(a as Deno.NetAddr),
  }, handler);
  const a = await ready.promise;
  const host = a.hostname.includes(":") ? `[${a.hostname}]` : a.hostname;
  return {
    url: `http://${host}:${a.port}`,
    close: () => server.shutdown(),
  };
}
