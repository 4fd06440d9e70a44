/**
 * The caller's identity, as every identity source yields it.
 *
 * @module
 */

/** A capability rule of `tailscale.com/cap/kubernetes`. */
export interface KubernetesCapRule {
  /** Recorder tags, e.g. `["tag:k8s-recorder"]`. */
  recorder?: string[];
  /** Refuse sessions that cannot be recorded. @default {false} */
  enforceRecorder?: boolean;
  /** Record port-forward content, not only its streams and counts. @default {false} */
  recordPortForward?: boolean;
  /** Impersonation settings. */
  impersonate?: { groups?: string[] };
  /** Let recorded callers use `…/proxy` subresources (unrecorded). @default {false} */
  allowProxySubresources?: boolean;
  /** Record every API request of the caller as an event. @default {false} */
  enableEvents?: boolean;
}

/** Who is calling. */
export interface Identity {
  /** Source hostname (device name). */
  hostname: string;
  /** Stable node id. */
  nodeId: string;
  /** Tags when the device is tagged (then `userId`/`loginName` are absent). */
  tags?: string[];
  /** User id when not tagged. */
  userId?: string;
  /** Login name when not tagged, e.g. `alice@example.com`. */
  loginName?: string;
  /** Groups the source itself asserts (mTLS `O`, token file). */
  groups: string[];
  /**
   * Capability rules that came with the identity (tailscale mode: from the
   * LocalAPI whois answer). `undefined` means: evaluate the local policy file.
   */
  capRules?: KubernetesCapRule[];
}

/** What the proxy learns about a request's peer, for identity sources. */
export interface PeerInfo {
  /** Remote address `IP:PORT` as seen by the proxy. */
  remoteAddr: string;
  /** Request headers. */
  headers: Headers;
  /** DER of the peer's verified TLS client certificate, when one was presented. */
  clientCertDer?: Uint8Array;
  /** Whether the TLS layer verified the client certificate against the CA. */
  clientCertAuthorized?: boolean;
}

/** An identity source: resolves a peer to an identity or `undefined` (→ 401). */
export interface IdentitySource {
  /** Source name for logs. */
  readonly name: string;
  /**
   * Resolves the peer.
   * @returns The identity, or undefined when the peer has no valid identity.
   */
  identify(peer: PeerInfo): Promise<Identity | undefined>;
}
