/**
 * Adapter: the native incremental SHA-256 (`node:crypto`, ~1.6 GB/s against
 * ~0.3 GB/s for the TypeScript `recording/sha256.ts`) that the proxy's
 * recordings and the recorder's ingest are given as their digest. The one
 * place outside tests that hashes recorded bytes natively.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { IncrementalDigest } from "../../recording/cast_encoder.ts";

/**
 * A fresh native incremental SHA-256.
 * @returns The digest: `update` bytes, then `hex` once.
 * @example
 * ```ts
 * import { nodeSha256 } from "./sha256.ts";
 * const h = nodeSha256();
 * h.update(new TextEncoder().encode("abc"));
 * if (!h.hex().startsWith("ba7816bf")) throw new Error();
 * ```
 */
export function nodeSha256(): IncrementalDigest {
  const h = createHash("sha256");
  return {
    update(data: Uint8Array) {
      h.update(data);
    },
    hex: () => h.digest("hex"),
  };
}

const enc = new TextEncoder();

/**
 * The native one-shot SHA-256 of bytes or of a string's UTF-8, synchronous
 * (what the proxy's token identity hashes each request's bearer token with).
 * @param data What to hash.
 * @returns The 32-byte digest.
 * @example
 * ```ts
 * import { nodeSha256Of } from "./sha256.ts";
 * if (nodeSha256Of("abc")[0] !== 0xba) throw new Error();
 * ```
 */
export function nodeSha256Of(data: Uint8Array | string): Uint8Array {
  const h = createHash("sha256");
  h.update(typeof data === "string" ? enc.encode(data) : data);
  return new Uint8Array(h.digest());
}
