/**
 * The adapter that talks HTTP to tailscaled's LocalAPI over its unix socket.
 *
 * Uses `fetch` with `Deno.createHttpClient({proxy: {transport: "unix"}})`,
 * which sends every request through the socket. One client per request keeps
 * no connection (and no resource) open between lookups; a unix-socket connect
 * costs microseconds.
 *
 * @module
 */

/** What a LocalAPI answered. */
export interface LocalApiResponse {
  /** HTTP status. */
  status: number;
  /** The body as text. */
  body: string;
}

/**
 * Performs `GET` on a LocalAPI path (with query), e.g.
 * `/localapi/v0/whois?addr=100.64.0.1:1234`.
 * @throws {Error} When tailscaled cannot be reached.
 */
export type LocalApiGet = (pathAndQuery: string) => Promise<LocalApiResponse>;

/** The `Host` header tailscaled's LocalAPI expects (`apitype.LocalAPIHost`). */
export const LOCAL_API_HOST = "local-tailscaled.sock";

/** Where tailscaled listens on Linux by default. */
export const DEFAULT_TAILSCALED_SOCKET = "/var/run/tailscale/tailscaled.sock";

/**
 * A {@linkcode LocalApiGet} over a unix socket.
 *
 * @param socketPath The tailscaled socket. @default {"/var/run/tailscale/tailscaled.sock"}
 * @returns The getter.
 * @throws {Error} (from the getter) `Cannot reach tailscaled LocalAPI at "…": …`
 *   when the socket is absent or refuses the connection.
 */
export function unixSocketLocalApi(
  socketPath: string = DEFAULT_TAILSCALED_SOCKET,
): LocalApiGet {
  return async function localApiGet(pathAndQuery) {
    const client = Deno.createHttpClient({
      proxy: { transport: "unix", path: socketPath },
    });
    try {
      let res: Response;
      try {
        res = await fetch(`http://${LOCAL_API_HOST}${pathAndQuery}`, {
          client,
          headers: { host: LOCAL_API_HOST },
        });
      } catch (e) {
        const cause = e instanceof Error && e.cause instanceof Error
          ? `${e.message}: ${e.cause.message}`
          : String(e instanceof Error ? e.message : e);
        throw new Error(
          `Cannot reach tailscaled LocalAPI at ${
            JSON.stringify(socketPath)
          }: ${cause}`,
          { cause: e },
        );
      }
      return { status: res.status, body: await res.text() };
    } finally {
      client.close();
    }
  };
}
