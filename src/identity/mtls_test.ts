import assert from "node:assert/strict";
import * as x509 from "@peculiar/x509";
import { createMtlsIdentitySource } from "./mtls.ts";

x509.cryptoProvider.set(crypto);

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

async function issue(subject: string): Promise<Uint8Array> {
  const caKeys = await crypto.subtle.generateKey(ALG, false, [
    "sign",
    "verify",
  ]);
  const leafKeys = await crypto.subtle.generateKey(ALG, false, [
    "sign",
    "verify",
  ]);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: "01",
    issuer: "CN=execgate test CA",
    subject,
    notBefore: new Date("2026-01-01T00:00:00Z"),
    notAfter: new Date("2036-01-01T00:00:00Z"),
    signingAlgorithm: ALG,
    publicKey: leafKeys.publicKey,
    signingKey: caKeys.privateKey,
  });
  return new Uint8Array(cert.rawData);
}

const peer = (clientCertDer?: Uint8Array, clientCertAuthorized?: boolean) => ({
  remoteAddr: "127.0.0.1:5000",
  headers: new Headers(),
  ...(clientCertDer ? { clientCertDer } : {}),
  ...(clientCertAuthorized !== undefined ? { clientCertAuthorized } : {}),
});

Deno.test("mtls source reads CN as login and O entries as groups", async () => {
  const der = await issue(
    "CN=alice@example.com, O=engineering, O=viewers, O=engineering, OU=ignored",
  );
  const who = await createMtlsIdentitySource().identify(peer(der, true));
  assert.ok(who);
  assert.match(who.nodeId, /^mtls:[0-9a-f]{64}$/);
  assert.deepEqual({ ...who, nodeId: "" }, {
    hostname: "alice",
    nodeId: "",
    loginName: "alice@example.com",
    userId: "alice@example.com",
    groups: ["engineering", "viewers"],
  });
});

Deno.test("mtls source gives the same node id for the same certificate", async () => {
  const der = await issue("CN=bob@example.com");
  const source = createMtlsIdentitySource();
  const a = await source.identify(peer(der, true));
  const b = await source.identify(peer(der, true));
  assert.equal(a?.nodeId, b?.nodeId);
  assert.deepEqual(a?.groups, []);
});

Deno.test("mtls source yields no identity without an authorized certificate", async () => {
  const der = await issue("CN=alice@example.com, O=engineering");
  const source = createMtlsIdentitySource();
  assert.equal(await source.identify(peer()), undefined);
  assert.equal(await source.identify(peer(der, false)), undefined);
  assert.equal(await source.identify(peer(der)), undefined);
  assert.equal(
    await source.identify(peer(await issue("O=engineering"), true)),
    undefined,
  );
  assert.equal(
    await source.identify(peer(new Uint8Array([0x30, 0x03, 1, 2, 3]), true)),
    undefined,
  );
});
