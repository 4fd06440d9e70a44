/**
 * The parts of a failed-over session that other recorders hold.
 *
 * When the recorders of a grant do not share storage, a session that
 * failed over midway is split: part 1 in the first recorder's storage,
 * part 2 (`<sid>~2`) in the next one's. A recorder configured with `peers`
 * (the other recorders, each with a viewer token) asks them for the parts
 * it does not hold, so both sides name each other and show one recording:
 *
 * - the first recorder, reading its partial part 1, finds `<sid>~2` at a
 *   peer and joins it (its page names part 2 and where it is);
 * - the next recorder, holding `<sid>~2`, serves the whole session under
 *   the first part's id, part 1 read from the peer.
 *
 * A peer answers from its own storage only (`?own=1`: no joining on its
 * side, so two recorders asking each other never loop). What a peer sends
 * is shown as that peer's: the joined manifest's `parts` say which recorder
 * holds each part, and `unverified` says the whole session's digests were
 * not checked across recorders. A peer that is down or answers badly is
 * "not there": the part stays on its own, as without peers.
 *
 * @module
 */

import type { RecordingId } from "./recording_id.ts";
import type { RecordingManifest, RecordingStorage } from "./storage.ts";

/** What the join reads of a part (a subset of {@linkcode RecordingStorage}). */
export type PartSource = Pick<
  RecordingStorage,
  "get" | "exists" | "openStored"
>;

/** Options of {@linkcode PeerRecorder}. */
export interface PeerRecorderOptions {
  /** The peer's base URL, e.g. `https://recorder-b:8443`. */
  url: string;
  /** A viewer token of the peer. */
  token: string;
  /** The `fetch` to use (TLS trust is the caller's). @default {globalThis.fetch} */
  fetch?: typeof fetch;
  /** Longest wait for a peer's answer headers. @default {5000} */
  timeoutMs?: number;
  /** Told each failed request (a peer down is not an error of the read). */
  onError?: (message: string) => void;
}

/**
 * Another recorder's parts, read over its API with a viewer token.
 *
 * @example
 * ```ts ignore
 * const peer = new PeerRecorder({ url: "https://recorder-b:8443", token });
 * const m = await peer.get(parseRecordingId("2026/12/02/abc~2")!);
 * ```
 */
export class PeerRecorder implements PartSource {
  readonly #opts: PeerRecorderOptions;
  readonly #fetch: typeof fetch;

  /**
   * Creates a reader of one peer; nothing is fetched until the first call.
   * @param options Where the peer is and how to reach it.
   */
  constructor(options: PeerRecorderOptions) {
    this.#opts = options;
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  /** The peer's base URL. */
  get url(): string {
    return this.#opts.url.replace(/\/+$/, "");
  }

  async #request(path: string): Promise<Response | undefined> {
    const url = `${this.url}${path}`;
    const timer = new AbortController();
    const t = setTimeout(() => timer.abort(), this.#opts.timeoutMs ?? 5000);
    try {
      const res = await this.#fetch(url, {
        headers: { authorization: `Bearer ${this.#opts.token}` },
        signal: timer.signal,
      });
      if (res.status === 404) {
        await res.body?.cancel();
        return undefined;
      }
      if (res.status !== 200) {
        await res.body?.cancel();
        this.#opts.onError?.(`GET ${url}: the peer answered ${res.status}`);
        return undefined;
      }
      return res;
    } catch (e) {
      this.#opts.onError?.(`GET ${url}: ${(e as Error)?.message ?? e}`);
      return undefined;
    } finally {
      clearTimeout(t);
    }
  }

  /**
   * The part's manifest as the peer stores it.
   * @param id The part's id.
   * @returns The manifest, or `undefined` when the peer does not hold it
   * (or cannot be asked, or answers with another recording).
   */
  async get(id: RecordingId): Promise<RecordingManifest | undefined> {
    const res = await this.#request(`/v1/recordings/${id.id}?own=1`);
    if (!res) return undefined;
    let m: RecordingManifest;
    try {
      m = await res.json();
    } catch (e) {
      this.#opts.onError?.(
        `GET ${this.url}/v1/recordings/${id.id}: the answer is not JSON: ${
          (e as Error).message
        }`,
      );
      return undefined;
    }
    if (
      typeof m !== "object" || m === null || m.id !== id.id ||
      typeof m.header !== "object" || typeof m.castBytes !== "number"
    ) {
      this.#opts.onError?.(
        `GET ${this.url}/v1/recordings/${id.id}: the answer is not the manifest of ${
          JSON.stringify(id.id)
        }`,
      );
      return undefined;
    }
    return m;
  }

  /**
   * Whether the peer holds the part.
   * @param id The part's id.
   * @returns `true` when it answered with its manifest.
   */
  async exists(id: RecordingId): Promise<boolean> {
    return (await this.get(id)) !== undefined;
  }

  /**
   * The part's evidence as the peer stores it.
   * @param id The part's id.
   * @returns The stream, or `undefined` when the peer does not hold it.
   */
  async openStored(
    id: RecordingId,
  ): Promise<ReadableStream<Uint8Array> | undefined> {
    const res = await this.#request(`/v1/recordings/${id.id}/evidence?own=1`);
    return res?.body ?? undefined;
  }
}

/**
 * The local storage first, then each peer: what the join reads when peers
 * are configured. `holder` says which peer served a part.
 */
export class PartsUnion implements PartSource {
  readonly #local: PartSource;
  readonly #peers: readonly PeerRecorder[];
  readonly #held = new Map<string, string>();

  /**
   * @param local This recorder's storage.
   * @param peers The other recorders.
   */
  constructor(local: PartSource, peers: readonly PeerRecorder[]) {
    this.#local = local;
    this.#peers = peers;
  }

  /**
   * The peer URL that served the part, when it was not local.
   * @param id The part's id.
   * @returns The URL, or `undefined` for a local part (or one not read).
   */
  holder(id: RecordingId): string | undefined {
    return this.#held.get(id.id);
  }

  async get(id: RecordingId): Promise<RecordingManifest | undefined> {
    const m = await this.#local.get(id);
    if (m) return m;
    for (const p of this.#peers) {
      const got = await p.get(id);
      if (got) {
        this.#held.set(id.id, p.url);
        return got;
      }
    }
    return undefined;
  }

  async exists(id: RecordingId): Promise<boolean> {
    return (await this.#local.exists(id)) ||
      (await this.get(id)) !== undefined;
  }

  async openStored(
    id: RecordingId,
  ): Promise<ReadableStream<Uint8Array> | undefined> {
    if (await this.#local.exists(id)) return await this.#local.openStored(id);
    const url = this.#held.get(id.id) ??
      (await this.get(id) ? this.#held.get(id.id) : undefined);
    const peer = this.#peers.find((p) => p.url === url);
    return peer ? await peer.openStored(id) : undefined;
  }
}
