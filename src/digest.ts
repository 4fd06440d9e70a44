/**
 * One-shot SHA-256 (WebCrypto) and the constant-time comparison the token
 * checks use: one copy of each for the proxy's identity sources and the
 * recorder's token authority. (The incremental SHA-256 of recorded output
 * is injected: `recording/sha256.ts` by default, `node:crypto` from the
 * Deno adapter.)
 *
 * @module
 */

/**
 * The SHA-256 of bytes, or of a string's UTF-8.
 * @param data What to hash.
 * @returns The 32-byte digest.
 * @example
 * ```ts
 * import { sha256, toHex } from "./digest.ts";
 * const hex = toHex(await sha256("abc"));
 * if (!hex.startsWith("ba7816bf")) throw new Error(hex);
 * ```
 */
export async function sha256(data: Uint8Array | string): Promise<Uint8Array> {
  const bytes = typeof data === "string"
    ? new TextEncoder().encode(data)
    : Uint8Array.from(data);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

/**
 * Lower-case hex of bytes.
 * @param bytes The bytes.
 * @returns Two hex digits per byte.
 * @example
 * ```ts
 * import { toHex } from "./digest.ts";
 * if (toHex(new Uint8Array([0, 255])) !== "00ff") throw new Error();
 * ```
 */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Compares two byte arrays in time that depends on their lengths only, not
 * on where they differ (compare digests of secrets, so lengths are equal).
 * @param a Bytes.
 * @param b Bytes.
 * @returns Whether they are equal.
 * @example
 * ```ts
 * import { timingSafeEqual } from "./digest.ts";
 * if (!timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2]))) throw new Error();
 * if (timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1]))) throw new Error();
 * ```
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length && i < b.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
