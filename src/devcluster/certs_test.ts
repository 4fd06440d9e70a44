import assert from "node:assert/strict";
import * as x509 from "@peculiar/x509";
import { certSubject, generateCa, issueCert } from "./certs.ts";

Deno.test("issueCert makes a server leaf (CA:FALSE, SAN 127.0.0.1 and localhost) signed by the CA", async () => {
  const ca = await generateCa("test-ca");
  const leaf = await issueCert(ca, { commonName: "srv", usage: "server" });
  const cert = new x509.X509Certificate(leaf.certPem);
  assert.equal(cert.issuer, "CN=test-ca");
  assert.ok(
    await cert.verify({ publicKey: ca.cert.publicKey, signatureOnly: true }),
  );
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  assert.equal(bc?.ca, false);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  assert.deepEqual(
    san?.names.items.map((n) => [n.type, n.value]),
    [["ip", "127.0.0.1"], ["dns", "localhost"]],
  );
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  assert.deepEqual([...(eku?.usages ?? [])], [
    x509.ExtendedKeyUsage.serverAuth,
  ]);
  assert.match(leaf.keyPem, /^-----BEGIN PRIVATE KEY-----/);
  assert.equal(ca.cert.getExtension(x509.BasicConstraintsExtension)?.ca, true);
});

Deno.test("issueCert makes a client leaf whose CN and O are the user and groups", async () => {
  const ca = await generateCa("test-ca");
  const leaf = await issueCert(ca, {
    commonName: "alice@example.com",
    organizations: ["dev", "ops, west"],
    usage: "client",
  });
  const cert = new x509.X509Certificate(leaf.certPem);
  assert.deepEqual(certSubject(new Uint8Array(cert.rawData)), {
    commonName: "alice@example.com",
    organizations: ["dev", "ops, west"],
  });
  assert.equal(cert.getExtension(x509.SubjectAlternativeNameExtension), null);
  assert.deepEqual(
    [...(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])],
    [x509.ExtendedKeyUsage.clientAuth],
  );
});
