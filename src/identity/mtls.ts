/**
 * The `mtls` identity source: TLS client certificates signed by the
 * configured CA.
 *
 * The TLS layer (the proxy's `node:https` server with `requestCert` and the
 * CA) verifies the chain; this source only reads the verified certificate:
 * the subject's `CN` is the login name and each `O` is a group. A request
 * without a certificate, or whose certificate the TLS layer did not
 * authorize, has no identity.
 *
 * Identity fields: `loginName` and `userId` = CN, `hostname` = CN's local
 * part (before `@`), `nodeId` = `mtls:` + the certificate's SHA-256
 * fingerprint (hex), `groups` = the O entries in order.
 *
 * @module
 */

import { X509Certificate } from "@peculiar/x509";
import type { Identity, IdentitySource, PeerInfo } from "./identity.ts";
import { sha256, toHex } from "../digest.ts";

/**
 * Creates the mTLS identity source.
 *
 * @returns The source.
 * @example
 * ```ts
 * import { createMtlsIdentitySource } from "./mtls.ts";
 * const who = await createMtlsIdentitySource().identify({
 *   remoteAddr: "127.0.0.1:1", headers: new Headers(),
 * });
 * if (who !== undefined) throw new Error("no certificate, no identity");
 * ```
 */
export function createMtlsIdentitySource(): IdentitySource {
  return {
    name: "mtls",
    identify(peer: PeerInfo) {
      if (!peer.clientCertDer || peer.clientCertAuthorized !== true) {
        return Promise.resolve(undefined);
      }
      return certificateToIdentity(peer.clientCertDer);
    },
  };
}

/**
 * Reads the identity out of a certificate's DER.
 * @param der The certificate.
 * @returns The identity, or undefined when the DER does not parse or the
 *   subject has no CN.
 */
export async function certificateToIdentity(
  der: Uint8Array,
): Promise<Identity | undefined> {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(Uint8Array.from(der));
  } catch {
    return undefined;
  }
  const cn = cert.subjectName.getField("CN")[0]?.trim();
  if (!cn) return undefined;
  const hex = toHex(await sha256(Uint8Array.from(der)));
  return {
    hostname: cn.split("@")[0] || cn,
    nodeId: `mtls:${hex}`,
    loginName: cn,
    userId: cn,
    groups: [...new Set(cert.subjectName.getField("O"))],
  };
}
