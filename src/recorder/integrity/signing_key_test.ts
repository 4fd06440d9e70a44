import assert from "node:assert/strict";
import {
  generateSigningKey,
  signerFromText,
  verifierFromText,
} from "./signing_key.ts";

const data = new TextEncoder().encode("manifest bytes");

Deno.test("generateSigningKey makes a PEM pair whose key ids agree and whose signatures verify", async () => {
  const k = await generateSigningKey();
  assert.match(k.keyId, /^ed25519:[0-9a-f]{16}$/);
  assert.match(k.privatePem, /^-----BEGIN PRIVATE KEY-----\n/);
  const signer = await signerFromText(k.privatePem);
  const verifier = await verifierFromText(k.publicPem);
  assert.equal(signer.keyId, k.keyId);
  assert.equal(verifier.keyId, k.keyId);
  assert.equal(signer.publicPem, k.publicPem);
  const sig = await signer.sign(data);
  assert.equal(sig.length, 64);
  assert.equal(await verifier.verify(data, sig), true);
  const other = data.slice();
  other[0]! ^= 1;
  assert.equal(await verifier.verify(other, sig), false);
});

Deno.test("signerFromText and verifierFromText take JWKs with the same key id", async () => {
  const pair = await crypto.subtle.generateKey("Ed25519", true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
  const signer = await signerFromText(JSON.stringify(jwk));
  const { d: _, ...pub } = jwk;
  const verifier = await verifierFromText(JSON.stringify(pub));
  assert.equal(signer.keyId, verifier.keyId);
  assert.equal(await verifier.verify(data, await signer.sign(data)), true);
});

Deno.test("signing keys refuse what is not an Ed25519 key, saying what", async () => {
  const k = await generateSigningKey();
  await assert.rejects(
    () => signerFromText(k.publicPem, "key.pem"),
    /Cannot read key.pem: expected a PEM "PRIVATE KEY" block or a JWK/,
  );
  await assert.rejects(
    () =>
      verifierFromText(
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
        "p",
      ),
    /Cannot read p: it is not an Ed25519 key/,
  );
  await assert.rejects(
    () => signerFromText('{"kty":"RSA"}', "j"),
    /Cannot read j: the JWK's kty is not "OKP"/,
  );
  await assert.rejects(
    () => signerFromText('{"kty":"OKP","crv":"Ed25519","x":"AA"}', "j"),
    /the JWK has no "d"/,
  );
  await assert.rejects(() => verifierFromText("{nope", "j"), /not valid JSON/);
});
