/**
 * Ed25519 keys for manifest signatures, through WebCrypto only (any
 * runtime).
 *
 * A private key is a PKCS #8 PEM (`-----BEGIN PRIVATE KEY-----`) or a JWK
 * (`{"kty":"OKP","crv":"Ed25519","d":…,"x":…}`); a public key an SPKI PEM
 * (`-----BEGIN PUBLIC KEY-----`) or a JWK without `d`. A key's id is derived
 * from the public key, never configured: `ed25519:` and the first 16 hex
 * digits of the SHA-256 of its SPKI encoding. A manifest names the id of the
 * key that signed it, so after a key rotation the old public key, kept by
 * whoever verifies, still verifies the old recordings, and a wrong id cannot
 * be configured.
 *
 * @module
 */

/** Signs manifests: the recorder's private key. */
export interface ManifestSigner {
  /** The key id written into the manifest. */
  readonly keyId: string;
  /** The public key as an SPKI PEM (what `verify --key` takes). */
  readonly publicPem: string;
  /**
   * Signs bytes.
   * @param data The bytes.
   * @returns The 64-byte Ed25519 signature.
   */
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/** Checks manifest signatures: one trusted public key. */
export interface ManifestVerifier {
  /** The key id. */
  readonly keyId: string;
  /**
   * Verifies an Ed25519 signature with this key.
   * @param data The signed bytes.
   * @param signature The signature.
   * @returns Whether the signature is this key's over the bytes.
   */
  verify(data: Uint8Array, signature: Uint8Array): Promise<boolean>;
}

const ALG = "Ed25519";

function b64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function unb64(text: string, what: string): Uint8Array {
  let s: string;
  try {
    s = atob(text);
  } catch {
    throw new SyntaxError(`Cannot read ${what}: its body is not base64`);
  }
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

function pem(label: string, der: Uint8Array): string {
  const body = b64(der).match(/.{1,64}/g)!.join("\n");
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

function unpem(text: string, label: string, what: string): Uint8Array {
  const m = text.match(
    new RegExp(
      `-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]*)-----END ${label}-----`,
    ),
  );
  if (!m) {
    throw new SyntaxError(
      `Cannot read ${what}: expected a PEM "${label}" block or a JWK`,
    );
  }
  return unb64(m[1]!.replace(/\s+/g, ""), what);
}

function parseJwk(text: string, what: string): JsonWebKey {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new SyntaxError(
      `Cannot read ${what}: it is not valid JSON (${(e as Error).message})`,
    );
  }
  const k = v as JsonWebKey;
  if (typeof v !== "object" || v === null || k.kty !== "OKP") {
    throw new SyntaxError(`Cannot read ${what}: the JWK's kty is not "OKP"`);
  }
  if (k.crv !== ALG) {
    throw new SyntaxError(`Cannot read ${what}: the JWK's crv is not Ed25519`);
  }
  if (typeof k.x !== "string") {
    throw new SyntaxError(`Cannot read ${what}: the JWK has no "x"`);
  }
  return k;
}

async function importOrSay(
  what: string,
  f: () => Promise<CryptoKey>,
): Promise<CryptoKey> {
  try {
    return await f();
  } catch (e) {
    throw new SyntaxError(
      `Cannot read ${what}: it is not an Ed25519 key (${(e as Error).message})`,
    );
  }
}

/**
 * The key id of a public key.
 * @param spki The key's SPKI encoding.
 * @returns `ed25519:` and 16 hex digits.
 */
export async function keyIdOf(spki: Uint8Array): Promise<string> {
  const h = new Uint8Array(
    await crypto.subtle.digest("SHA-256", spki as Uint8Array<ArrayBuffer>),
  );
  const hex = Array.from(
    h.subarray(0, 8),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
  return `ed25519:${hex}`;
}

async function publicOf(jwkX: string): Promise<[CryptoKey, Uint8Array]> {
  const key = await crypto.subtle.importKey(
    "jwk",
    { kty: "OKP", crv: ALG, x: jwkX },
    ALG,
    true,
    ["verify"],
  );
  return [key, new Uint8Array(await crypto.subtle.exportKey("spki", key))];
}

/**
 * Loads a private key.
 * @param text A PKCS #8 PEM or an Ed25519 JWK with `d`.
 * @param what What the text is, for errors (e.g. the file name).
 * @returns The signer.
 * @throws {SyntaxError} When the text is not an Ed25519 private key.
 */
export async function signerFromText(
  text: string,
  what = "the signing key",
): Promise<ManifestSigner> {
  let key: CryptoKey;
  if (text.trimStart().startsWith("{")) {
    const jwk = parseJwk(text, what);
    if (typeof jwk.d !== "string") {
      throw new SyntaxError(`Cannot read ${what}: the JWK has no "d"`);
    }
    key = await importOrSay(what, () =>
      crypto.subtle.importKey(
        "jwk",
        { kty: "OKP", crv: ALG, d: jwk.d, x: jwk.x },
        ALG,
        true,
        ["sign"],
      ));
  } else {
    const der = unpem(text, "PRIVATE KEY", what);
    key = await importOrSay(
      what,
      () =>
        crypto.subtle.importKey(
          "pkcs8",
          der as Uint8Array<ArrayBuffer>,
          ALG,
          true,
          ["sign"],
        ),
    );
  }
  const x = (await crypto.subtle.exportKey("jwk", key)).x!;
  const [, spki] = await publicOf(x);
  const keyId = await keyIdOf(spki);
  return {
    keyId,
    publicPem: pem("PUBLIC KEY", spki),
    async sign(data) {
      return new Uint8Array(
        await crypto.subtle.sign(ALG, key, data as Uint8Array<ArrayBuffer>),
      );
    },
  };
}

/**
 * Loads a public key.
 * @param text An SPKI PEM or an Ed25519 JWK (a private one's `d` is ignored).
 * @param what What the text is, for errors (e.g. the file name).
 * @returns The verifier.
 * @throws {SyntaxError} When the text is not an Ed25519 public key.
 */
export async function verifierFromText(
  text: string,
  what = "the public key",
): Promise<ManifestVerifier> {
  let key: CryptoKey;
  let spki: Uint8Array;
  if (text.trimStart().startsWith("{")) {
    const jwk = parseJwk(text, what);
    let raw: Uint8Array = new Uint8Array();
    key = await importOrSay(what, async () => {
      const [k, s] = await publicOf(jwk.x!);
      raw = s;
      return k;
    });
    spki = raw;
  } else {
    const der = unpem(text, "PUBLIC KEY", what);
    key = await importOrSay(
      what,
      () =>
        crypto.subtle.importKey(
          "spki",
          der as Uint8Array<ArrayBuffer>,
          ALG,
          true,
          ["verify"],
        ),
    );
    spki = new Uint8Array(await crypto.subtle.exportKey("spki", key));
  }
  const keyId = await keyIdOf(spki);
  return {
    keyId,
    verify: (data, signature) =>
      crypto.subtle.verify(
        ALG,
        key,
        signature as Uint8Array<ArrayBuffer>,
        data as Uint8Array<ArrayBuffer>,
      ),
  };
}

/** A new key pair, as {@linkcode generateSigningKey} returns it. */
export interface GeneratedKey {
  /** The key id. */
  keyId: string;
  /** The private key, PKCS #8 PEM (the recorder's `signing.privateKeyFile`). */
  privatePem: string;
  /** The public key, SPKI PEM (what `execgate verify --key` takes). */
  publicPem: string;
}

/**
 * Makes a new Ed25519 key pair (`execgate recorder keygen`).
 * @returns The key id and both PEMs.
 * @example
 * ```ts
 * import { generateSigningKey, signerFromText } from "./signing_key.ts";
 * const k = await generateSigningKey();
 * if ((await signerFromText(k.privatePem)).keyId !== k.keyId) throw new Error();
 * ```
 */
export async function generateSigningKey(): Promise<GeneratedKey> {
  const pair = await crypto.subtle.generateKey(ALG, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const pkcs8 = new Uint8Array(
    await crypto.subtle.exportKey("pkcs8", pair.privateKey),
  );
  const spki = new Uint8Array(
    await crypto.subtle.exportKey("spki", pair.publicKey),
  );
  return {
    keyId: await keyIdOf(spki),
    privatePem: pem("PRIVATE KEY", pkcs8),
    publicPem: pem("PUBLIC KEY", spki),
  };
}
