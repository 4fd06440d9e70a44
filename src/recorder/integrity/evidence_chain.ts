/**
 * The hash chain over a recording's stored evidence (tamper evidence).
 *
 * The evidence bytes are cut into segments of `segmentBytes` (the last one
 * may be shorter) and chained:
 *
 * ```
 * chain_0 = SHA-256("execgate-chain-v1" || segment_0)
 * chain_i = SHA-256(chain_{i-1} || segment_i)      (chain_{i-1}: its 32 raw bytes)
 * ```
 *
 * so each segment's digest covers every byte before it: changing, adding or
 * removing a byte anywhere changes that segment's digest and every later
 * one, and the first differing digest says which segment holds the change.
 * The chain is computed as the bytes stream by, with nothing buffered (a
 * segment boundary may fall anywhere in a chunk), through an injected
 * incremental SHA-256 (WebCrypto has none; the recorder passes
 * `node:crypto`'s, tests may pass the TypeScript `Sha256`).
 *
 * @module
 */

import type { IncrementalDigest } from "../../recording/cast_encoder.ts";

/** The domain-separation prefix of the first segment's digest. */
export const CHAIN_PREFIX = "execgate-chain-v1";

/** The name of the chain in a manifest's `integrity.alg`. */
export const CHAIN_ALG = "sha256-chain-v1";

/** The segment size the recorder uses (1 MiB): 4 GiB is 4,096 digests. */
export const DEFAULT_SEGMENT_BYTES = 1024 * 1024;

/** What an {@linkcode EvidenceChain} has computed so far. */
export interface ChainState {
  /** Segment size in bytes. */
  segmentBytes: number;
  /** Evidence bytes chained. */
  bytes: number;
  /** Lower-case hex digest of each segment, in order (the last may be short). */
  segments: string[];
}

function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  }
  return out;
}

/**
 * Computes the segment chain of a byte stream incrementally, in bounded
 * memory.
 * @example
 * ```ts
 * import { EvidenceChain } from "./evidence_chain.ts";
 * import { Sha256 } from "../../recording/sha256.ts";
 * const c = new EvidenceChain(() => new Sha256(), 4);
 * c.update(new TextEncoder().encode("abcdefghij"));
 * if (c.finish().segments.length !== 3) throw new Error("3 segments");
 * ```
 */
export class EvidenceChain {
  readonly #digest: () => IncrementalDigest;
  readonly #segmentBytes: number;
  readonly #segments: string[] = [];
  #current: IncrementalDigest;
  #inSegment = 0;
  #bytes = 0;
  /** Called with each segment's index and hex digest as it completes. */
  onSegment?: (index: number, hex: string) => void;

  /**
   * Creates an empty chain; its first segment's digest starts with the
   * chain's prefix.
   * @param digest Makes an incremental SHA-256.
   * @param segmentBytes Segment size. @default {DEFAULT_SEGMENT_BYTES}
   * @throws {RangeError} When the segment size is not a positive integer.
   */
  constructor(
    digest: () => IncrementalDigest,
    segmentBytes: number = DEFAULT_SEGMENT_BYTES,
  ) {
    if (!Number.isSafeInteger(segmentBytes) || segmentBytes < 1) {
      throw new RangeError(
        `Cannot chain evidence: segment size ${segmentBytes} is not a positive integer`,
      );
    }
    this.#digest = digest;
    this.#segmentBytes = segmentBytes;
    this.#current = digest();
    this.#current.update(new TextEncoder().encode(CHAIN_PREFIX));
  }

  /** Evidence bytes chained so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Chains the next bytes of the evidence.
   * @param chunk The bytes (not kept).
   */
  update(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length) {
      const n = Math.min(
        chunk.length - at,
        this.#segmentBytes - this.#inSegment,
      );
      this.#current.update(chunk.subarray(at, at + n));
      at += n;
      this.#inSegment += n;
      this.#bytes += n;
      if (this.#inSegment === this.#segmentBytes) this.#close();
    }
  }

  #close(): void {
    const hex = this.#current.hex();
    const index = this.#segments.length;
    this.#segments.push(hex);
    this.#current = this.#digest();
    this.#current.update(hexToBytes(hex));
    this.#inSegment = 0;
    this.onSegment?.(index, hex);
  }

  /**
   * Ends the chain: a short last segment is closed (an evidence of exactly
   * N segments has no empty one after them).
   * @returns The segment size, byte count and every segment's digest.
   */
  finish(): ChainState {
    if (this.#inSegment > 0) this.#close();
    return this.state();
  }

  /**
   * Reads the chain without ending it.
   * @returns What is chained so far (closed segments only).
   */
  state(): ChainState {
    return {
      segmentBytes: this.#segmentBytes,
      bytes: this.#bytes,
      segments: [...this.#segments],
    };
  }
}
