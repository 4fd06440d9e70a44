/**
 * Builds the identity source the proxy configuration asks for.
 *
 * @module
 */

import { createMtlsIdentitySource } from "./mtls.ts";
import type { IdentitySource } from "./identity.ts";
import type { LocalApiGet } from "./localapi_client.ts";
import { createTailscaleIdentitySource } from "./tailscale.ts";
import { createTokenIdentitySource, parseTokenFile } from "./tokens.ts";

/**
 * The `identity` section of the proxy configuration (the same shape as
 * `src/proxy/config.ts`).
 */
export type IdentityConfig =
  | {
    /** Bearer tokens from a file. */
    type: "tokens";
    /** The token file (JSON or HuJSON). */
    file: string;
  }
  | {
    /** TLS client certificates; the proxy's TLS server checks them. */
    type: "mtls";
    /** The CA the TLS server trusts (used by the proxy, not by the source). */
    caFile?: string;
  }
  | {
    /** tailscaled's LocalAPI whois. */
    type: "tailscale";
    /** tailscaled's socket. @default {"/var/run/tailscale/tailscaled.sock"} */
    socket?: string;
  };

/** I/O seams of {@linkcode createIdentitySource}. */
export interface IdentitySourceDeps {
  /** File reader for the token file. @default {Deno.readTextFile} */
  readTextFile?: (path: string) => Promise<string>;
  /** LocalAPI transport for `tailscale`. @default {unixSocketLocalApi(socket)} */
  localApi?: LocalApiGet;
  /**
   * SHA-256 of a presented bearer token (`tokens`).
   * @default {WebCrypto, asynchronous}
   */
  sha256?: (token: string) => Uint8Array | Promise<Uint8Array>;
}

/**
 * Creates the identity source for a configuration.
 *
 * @param config The `identity` section.
 * @param deps I/O seams.
 * @returns The source.
 * @throws {PolicyError} When the token file is invalid.
 * @example
 * ```ts
 * import { createIdentitySource } from "./create_identity_source.ts";
 * const source = await createIdentitySource({ type: "mtls" });
 * if (source.name !== "mtls") throw new Error();
 * ```
 */
export async function createIdentitySource(
  config: IdentityConfig,
  deps: IdentitySourceDeps = {},
): Promise<IdentitySource> {
  switch (config.type) {
    case "tokens": {
      const read = deps.readTextFile ?? Deno.readTextFile;
      return createTokenIdentitySource(
        await parseTokenFile(await read(config.file), config.file),
        deps.sha256 ? { sha256: deps.sha256 } : {},
      );
    }
    case "mtls":
      return createMtlsIdentitySource();
    case "tailscale":
      return createTailscaleIdentitySource({
        ...(config.socket !== undefined ? { socketPath: config.socket } : {}),
        ...(deps.localApi ? { localApi: deps.localApi } : {}),
      });
  }
}
