/**
 * Sealing a final manifest: its evidence chain and, with a signing key, an
 * Ed25519 signature over the manifest's signed fields.
 *
 * The signed bytes are `execgate-manifest-v1\n` followed by the canonical
 * JSON (`canonical_json.ts`) of an object holding exactly the manifest's
 * {@linkcode SIGNED_FIELDS} (those present), with `integrity` minus its
 * `signature`. So the status, header, end record (with its per-channel
 * digests and exit), partial reason, the chain (hence every evidence byte)
 * and the key id are covered; `updatedAt`, `textTruncated` and the `parts`
 * of a joined view are not (views and bookkeeping, rewritten freely).
 *
 * @module
 */

import type {
  RecordingIntegrity,
  RecordingManifest,
  RecoverySeal,
} from "../storage.ts";
import { canonicalJson } from "./canonical_json.ts";
import { CHAIN_ALG, type ChainState, EvidenceChain } from "./evidence_chain.ts";
import type { ManifestSigner } from "./signing_key.ts";

/** The manifest fields a signature covers, in no particular order. */
export const SIGNED_FIELDS = [
  "id",
  "sessionId",
  "status",
  "format",
  "header",
  "end",
  "castBytes",
  "startedAt",
  "finishedAt",
  "partialReason",
  "terminated",
  "unverified",
  "integrity",
] as const;

/** The domain-separation line the signed bytes start with. */
export const SIGNED_PREFIX = "execgate-manifest-v1\n";

/**
 * The bytes a manifest's signature covers.
 * @param m A manifest (parsed from storage, or about to be stored).
 * @returns {@linkcode SIGNED_PREFIX} and the canonical JSON of its signed
 * fields.
 * @throws {TypeError} When a field holds what JSON cannot.
 */
export function signedBytes(m: RecordingManifest): Uint8Array {
  const o: Record<string, unknown> = {};
  const src = m as unknown as Record<string, unknown>;
  for (const k of SIGNED_FIELDS) {
    if (src[k] !== undefined) o[k] = src[k];
  }
  if (m.integrity) {
    const { signature: _, ...rest } = m.integrity;
    o.integrity = rest;
  }
  return new TextEncoder().encode(SIGNED_PREFIX + canonicalJson(o));
}

function b64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/**
 * Adds the tamper evidence to a final manifest.
 * @param m The final manifest (`complete`, `partial` or `refused`).
 * @param chain The evidence chain, finished (`EvidenceChain.finish()`).
 * @param signer The recorder's key; without one the manifest carries the
 * chain only (verify says "not signed").
 * @returns A copy of the manifest with `integrity`.
 * @example
 * ```ts
 * import { sealManifest } from "./seal.ts";
 * const m = await sealManifest(
 *   { id: "2026/01/02/s", sessionId: "s", status: "complete", header: {} as never,
 *     castBytes: 0, startedAt: 0, updatedAt: 0 },
 *   { segmentBytes: 1, bytes: 0, segments: [] },
 * );
 * if (m.integrity?.alg !== "sha256-chain-v1") throw new Error();
 * ```
 */
export async function sealManifest(
  m: RecordingManifest,
  chain: ChainState,
  signer?: ManifestSigner,
): Promise<RecordingManifest> {
  const integrity: RecordingIntegrity = {
    alg: CHAIN_ALG,
    segmentBytes: chain.segmentBytes,
    bytes: chain.bytes,
    segments: chain.segments,
    ...(signer ? { keyId: signer.keyId } : {}),
  };
  const sealed: RecordingManifest = { ...m, integrity };
  if (!signer) return sealed;
  const signature = await signer.sign(signedBytes(sealed));
  return { ...sealed, integrity: { ...integrity, signature: b64(signature) } };
}

/**
 * Seals a manifest over evidence stored before its chain was computed (a
 * recording recovered after its recorder stopped): the stream is chained
 * exactly as ingest chains the bytes it stores (default segment size), and
 * `castBytes` is set to the bytes the chain saw, as at ingest.
 * @param m The final manifest.
 * @param evidence The stored evidence, whole (read to its end).
 * @param seal The digest and, when the recorder has one, its key.
 * @returns A copy of the manifest with `integrity`.
 * @throws When the evidence cannot be read.
 * @example
 * ```ts
 * import { sealStoredEvidence } from "./seal.ts";
 * import { Sha256 } from "../../recording/sha256.ts";
 * const m = await sealStoredEvidence(
 *   { id: "2026/01/02/s", sessionId: "s", status: "partial", header: {} as never,
 *     castBytes: 0, startedAt: 0, updatedAt: 0 },
 *   ReadableStream.from([new Uint8Array(3)]),
 *   { digest: () => new Sha256() },
 * );
 * if (m.integrity?.bytes !== 3 || m.castBytes !== 3) throw new Error();
 * ```
 */
export async function sealStoredEvidence(
  m: RecordingManifest,
  evidence: ReadableStream<Uint8Array>,
  seal: RecoverySeal,
): Promise<RecordingManifest> {
  const chain = new EvidenceChain(seal.digest);
  for await (const chunk of evidence) chain.update(chunk);
  const chained = chain.finish();
  return await sealManifest(
    { ...m, castBytes: chained.bytes },
    chained,
    seal.signer,
  );
}
