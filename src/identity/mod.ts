/**
 * Identity sources: who is calling the proxy.
 *
 * - `tailscale`: tailscaled's LocalAPI whois (identity plus capability rules).
 * - `tokens`: bearer tokens from a file.
 * - `mtls`: TLS client certificates (CN = login, O = groups).
 *
 * Each yields the same {@linkcode Identity}; a peer without a valid identity
 * yields `undefined` and the proxy answers 401.
 *
 * @example
 * ```ts
 * import { createIdentitySource } from "./mod.ts";
 * const source = await createIdentitySource({ type: "mtls" });
 * if (source.name !== "mtls") throw new Error();
 * ```
 *
 * @module
 */

export type {
  Identity,
  IdentitySource,
  KubernetesCapRule,
  PeerInfo,
} from "./identity.ts";
export {
  createIdentitySource,
  type IdentityConfig,
  type IdentitySourceDeps,
} from "./create_identity_source.ts";
export {
  createTailscaleIdentitySource,
  type TailscaleSourceOptions,
  whoisToIdentity,
} from "./tailscale.ts";
export {
  DEFAULT_TAILSCALED_SOCKET,
  LOCAL_API_HOST,
  type LocalApiGet,
  type LocalApiResponse,
  unixSocketLocalApi,
} from "./localapi_client.ts";
export {
  createTokenIdentitySource,
  digestsEqual,
  loadTokenIdentitySource,
  parseTokenFile,
  type TokenEntry,
  type TokenIdentityOptions,
} from "./tokens.ts";
export { certificateToIdentity, createMtlsIdentitySource } from "./mtls.ts";
