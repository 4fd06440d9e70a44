/**
 * Certificates for the simulated cluster and its tests: a CA, server leaves
 * and client leaves, made in TypeScript with `@peculiar/x509` and WebCrypto
 * ECDSA P-256 (no `openssl`).
 *
 * A server leaf is `CA:FALSE` with `subjectAltName` IP 127.0.0.1 and DNS
 * localhost: rustls (Deno's TLS) rejects a self-signed certificate used as
 * its own CA (`CaUsedAsEndEntity`). A client leaf carries the Kubernetes
 * identity convention: CN = user name, O = groups.
 *
 * @module
 */

import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(crypto);

const ALG: EcKeyGenParams & EcdsaParams = {
  name: "ECDSA",
  namedCurve: "P-256",
  hash: "SHA-256",
};
const DAY_MS = 24 * 60 * 60 * 1000;

/** A certificate authority that can issue leaves. */
export interface CertificateAuthority {
  /** The CA certificate, PEM. */
  certPem: string;
  /** The CA private key, PKCS#8 PEM. */
  keyPem: string;
  /** The CA certificate object, for issuing. */
  cert: x509.X509Certificate;
  /** The CA key pair, for issuing. */
  keys: CryptoKeyPair;
}

/** A leaf certificate and its key. */
export interface IssuedCert {
  /** The certificate, PEM. */
  certPem: string;
  /** The private key, PKCS#8 PEM. */
  keyPem: string;
}

/** What a leaf certificate says. */
export interface IssueCertOptions {
  /** Subject CN; for a client certificate the Kubernetes user name. */
  commonName: string;
  /** Subject O values; for a client certificate the Kubernetes groups. @default {[]} */
  organizations?: string[];
  /** IP subjectAltNames. @default {["127.0.0.1"]} for servers, `[]` for clients */
  ips?: string[];
  /** DNS subjectAltNames. @default {["localhost"]} for servers, `[]` for clients */
  dnsNames?: string[];
  /** Extended key usage: TLS server or TLS client. */
  usage: "server" | "client";
  /** Validity in days from one hour ago. @default {365} */
  days?: number;
}

function randomSerial(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[0] = b[0]! & 0x7f; // positive
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

async function keyToPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

/** Escapes a value for an X.500 distinguished name string (RFC 4514). */
function dnValue(v: string): string {
  return v.replace(/[,+"\\<>;=]/g, (c) => `\\${c}`);
}

/**
 * Generates a self-signed CA (ECDSA P-256).
 * @param name Subject CN of the CA.
 * @param days Validity in days. @default {365}
 * @returns The CA, with PEMs and the objects needed by {@linkcode issueCert}.
 * @example
 * ```ts
 * import { generateCa } from "./certs.ts";
 * const ca = await generateCa("test-ca");
 * if (!ca.certPem.startsWith("-----BEGIN CERTIFICATE-----")) throw new Error();
 * ```
 */
export async function generateCa(
  name: string,
  days = 365,
): Promise<CertificateAuthority> {
  const keys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${dnValue(name)}`,
    notBefore: new Date(now - 60 * 60 * 1000),
    notAfter: new Date(now + days * DAY_MS),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    certPem: cert.toString("pem"),
    keyPem: await keyToPem(keys.privateKey),
    cert,
    keys,
  };
}

/**
 * Issues a leaf certificate (CA:FALSE) signed by `ca`.
 * @param ca The issuing CA from {@linkcode generateCa}.
 * @param options Subject, SANs and usage.
 * @returns The leaf certificate and its private key as PEM.
 * @example
 * ```ts
 * import { generateCa, issueCert } from "./certs.ts";
 * const ca = await generateCa("test-ca");
 * const alice = await issueCert(ca, {
 *   commonName: "alice",
 *   organizations: ["dev"],
 *   usage: "client",
 * });
 * if (!alice.keyPem.includes("PRIVATE KEY")) throw new Error();
 * ```
 */
export async function issueCert(
  ca: CertificateAuthority,
  options: IssueCertOptions,
): Promise<IssuedCert> {
  const server = options.usage === "server";
  const ips = options.ips ?? (server ? ["127.0.0.1"] : []);
  const dnsNames = options.dnsNames ?? (server ? ["localhost"] : []);
  const keys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const now = Date.now();
  const subject = [
    `CN=${dnValue(options.commonName)}`,
    ...(options.organizations ?? []).map((o) => `O=${dnValue(o)}`),
  ].join(", ");
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature |
        x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
    new x509.ExtendedKeyUsageExtension([
      server
        ? x509.ExtendedKeyUsage.serverAuth
        : x509.ExtendedKeyUsage.clientAuth,
    ]),
    await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
  ];
  const sans = [
    ...ips.map((value) => ({ type: "ip" as const, value })),
    ...dnsNames.map((value) => ({ type: "dns" as const, value })),
  ];
  if (sans.length > 0) {
    extensions.push(new x509.SubjectAlternativeNameExtension(sans));
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject,
    issuer: ca.cert.subject,
    notBefore: new Date(now - 60 * 60 * 1000),
    notAfter: new Date(now + (options.days ?? 365) * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ALG,
    extensions,
  });
  return {
    certPem: cert.toString("pem"),
    keyPem: await keyToPem(keys.privateKey),
  };
}

/** Subject of a client certificate, in Kubernetes terms. */
export interface CertSubject {
  /** CN: the user name. */
  commonName: string;
  /** O values: the groups. */
  organizations: string[];
}

/**
 * Reads CN and O values from a certificate, as Kubernetes maps a client
 * certificate to a user and groups.
 * @param der The certificate's DER bytes.
 * @returns CN and O values (CN is `""` when absent).
 */
export function certSubject(der: Uint8Array): CertSubject {
  const cert = new x509.X509Certificate(der as Uint8Array<ArrayBuffer>);
  const name = new x509.Name(cert.subject);
  return {
    commonName: name.getField("CN")[0] ?? "",
    organizations: name.getField("O"),
  };
}
