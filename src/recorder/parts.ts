/**
 * The parts of a failed-over session, joined.
 *
 * When the recorder taking a session fails midway, the proxy goes on with
 * the next recorder from the last acknowledged byte (`wire.ts`
 * `Continuation`): part 2 is a record stream of its own, a `HEADER` with
 * `continues` and then the session's records from `continues.offset` on.
 * Over storage that several recorders share, the parts sit under
 * `YYYY/MM/DD/<sid>`, `…/<sid>~2`, `…/<sid>~3` (`recording_id.ts`), and the
 * recorder shows them as one recording: the first part's id, one manifest
 * (`parts` says where it failed over), one evidence stream:
 *
 * ```
 * part 1  [HEADER … records ……………… (bytes past offset₂ are dropped: resent)]
 * part 2                 [HEADER+continues] [records from offset₂ …… END]
 * joined  [HEADER … records ……………][records from offset₂ …… END]
 * ```
 *
 * A previous part may hold bytes past the next part's offset (its recorder
 * was stopped, not killed, and stored what it had received): those bytes
 * were sent again to the next part, so the join cuts them. A previous part
 * holding fewer (its recorder lost acknowledged bytes it had not stored
 * yet, e.g. an S3 segment buffer in a killed process) leaves a gap: the
 * joined stream gets a `MARKER` record saying which bytes are missing, and
 * the joined recording is `partial` with that reason.
 *
 * @module
 */

import {
  encodeRecord,
  RECORD_HEADER_BYTES,
  RecordType,
} from "../protocol/records.ts";
import type { Continuation } from "../recording/wire.ts";
import { concatBytes } from "../bytes.ts";
import {
  MAX_PART,
  parseRecordingId,
  partId,
  type RecordingId,
} from "./recording_id.ts";
import type {
  RecordingManifest,
  RecordingPart,
  RecordingStorage,
  RecoverOptions,
} from "./storage.ts";
import {
  type PartSource,
  PartsUnion,
  type PeerRecorder,
} from "./peer_parts.ts";

export type { RecordingPart } from "./storage.ts";

/**
 * The manifests of a session's parts, in order: the first part, then `~2`,
 * `~3`, … as long as they follow on (each names the first part and its
 * number, and the part before it did not end well).
 * @param storage Where the parts are.
 * @param first The first part's manifest.
 * @param firstId The first part's id.
 * @returns At least `[first]`.
 */
export async function readParts(
  storage: PartSource,
  first: RecordingManifest,
  firstId: RecordingId,
): Promise<RecordingManifest[]> {
  const out = [first];
  for (let k = 2; k <= MAX_PART; k++) {
    // A part that ended well is not continued: a later "part" of it would
    // only hide its end (the join cuts at the next part's offset).
    const prev = out[out.length - 1]!;
    if (prev.status === "complete" || prev.status === "refused") break;
    const m = await storage.get(partId(firstId, k));
    const c = m?.header?.continues;
    if (!m || c?.part !== k || c.recording !== firstId.id) break;
    out.push(m);
  }
  return out;
}

/** Where each part starts and how many of its bytes the join takes. */
interface Span {
  /** Offset of the part's first record in the session's stream. */
  offset: number;
  /** Bytes the join takes from the part (after its header, for a later part). */
  take: number | undefined;
}

function spans(parts: readonly RecordingManifest[]): Span[] {
  return parts.map((p, i) => {
    const offset = i === 0 ? 0 : p.header.continues!.offset;
    const next = parts[i + 1]?.header.continues?.offset;
    return { offset, take: next === undefined ? undefined : next - offset };
  });
}

/**
 * Bytes of the part's evidence that are records of the session (a later
 * part's own header record excluded), by its manifest.
 */
function sessionBytes(m: RecordingManifest, headerBytes: number): number {
  return Math.max(0, m.castBytes - headerBytes);
}

/**
 * One manifest for the parts: the first part's id, header and start; the
 * last part's end, status and finish; `parts` with where it failed over.
 * @param parts The parts (from {@linkcode readParts}); one part is returned
 * as it is.
 * @param headerBytes The size of each later part's header record (index by
 * part), when known (else taken from the manifests' `castBytes` as is).
 * @returns The joined manifest.
 */
export function joinManifests(
  parts: readonly RecordingManifest[],
  headerBytes: readonly number[] = [],
): RecordingManifest {
  if (parts.length < 2) return parts[0]!;
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  const sp = spans(parts);
  const list: RecordingPart[] = [];
  const problems: string[] = [];
  let bytes = 0;
  parts.forEach((p, i) => {
    const own = i === 0 ? p.castBytes : sessionBytes(p, headerBytes[i] ?? 0);
    const want = sp[i]!.take;
    const took = want === undefined ? own : Math.min(own, want);
    bytes += took;
    const c: Continuation | undefined = i === 0
      ? undefined
      : p.header.continues;
    const entry: RecordingPart = {
      id: p.id,
      part: i + 1,
      offset: sp[i]!.offset,
      bytes: took,
      status: p.status,
      ...(c
        ? { failover: { from: c.recorder, reason: c.reason, at: c.at } }
        : {}),
    };
    if (want !== undefined && own < want && p.status !== "recording") {
      entry.missing = { from: sp[i]!.offset + own, to: sp[i]!.offset + want };
      problems.push(
        `part ${
          i + 1
        } (${p.id}) holds ${own} of the ${want} bytes before part ${
          i + 2
        } starts: bytes ${entry.missing.from} to ${entry.missing.to} of the session were acknowledged but not stored`,
      );
    }
    list.push(entry);
  });
  let status = last.status;
  let partialReason = last.partialReason;
  if (problems.length > 0 && (status === "complete" || status === "refused")) {
    status = "partial";
    partialReason = problems.join("; ");
  } else if (problems.length > 0) {
    partialReason = [partialReason, ...problems].filter(Boolean).join("; ");
  }
  const { continues: _, ...header } = first.header;
  return {
    ...first,
    header,
    status,
    ...(last.end ? { end: last.end } : {}),
    castBytes: bytes,
    updatedAt: Math.max(...parts.map((p) => p.updatedAt)),
    ...(last.finishedAt !== undefined ? { finishedAt: last.finishedAt } : {}),
    ...(partialReason ? { partialReason } : { partialReason: undefined }),
    ...(parts.find((p) => p.terminated)?.terminated
      ? { terminated: parts.find((p) => p.terminated)!.terminated }
      : {}),
    parts: list,
  };
}

/**
 * The joined evidence: a single record stream, as one upload would have
 * been (a gap becomes a `MARKER` record naming the missing bytes).
 * @param storage Where the parts are.
 * @param parts The parts' manifests, in order.
 * @param firstId The first part's id.
 * @param upTo Stop at this offset of the session's stream. @default {the end}
 * @param onGap Told each gap (session offsets), as its marker is written.
 * @returns The stream, or `undefined` when the first part has no evidence.
 */
export async function openJoined(
  storage: PartSource,
  parts: readonly RecordingManifest[],
  firstId: RecordingId,
  upTo = Infinity,
  onGap?: (from: number, to: number) => void,
): Promise<ReadableStream<Uint8Array> | undefined> {
  const firstStream = await storage.openStored(firstId);
  if (!firstStream) return undefined;
  const sp = spans(parts);
  let i = 0;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined = firstStream
    .getReader();
  // Bytes of the current part still to skip (a later part's header record)
  // and still to take.
  let skipHeader = false;
  let headerLeft = -1;
  let headerBuf: Uint8Array[] = [];
  let took = 0;
  const limit = (k: number) => {
    const take = sp[k]!.take ?? Infinity;
    return Math.min(take, upTo - sp[k]!.offset);
  };
  const nextPart = async (
    controller: ReadableStreamDefaultController<Uint8Array>,
  ): Promise<boolean> => {
    await reader?.cancel().catch(() => {});
    reader = undefined;
    // The bytes this part should have: up to the next part, or to `upTo`.
    const want = sp[i]!.take ??
      (upTo < Infinity ? upTo - sp[i]!.offset : undefined);
    if (want !== undefined && took < want && sp[i]!.offset + took < upTo) {
      const from = sp[i]!.offset + took;
      const to = Math.min(sp[i]!.offset + want, upTo);
      onGap?.(from, to);
      // At the time of the failover, relative to the session's start.
      const at = parts[i + 1]?.header.continues?.at;
      const start = (parts[0]!.header.timestamp ?? 0) * 1000;
      const timeUs = at === undefined
        ? 0
        : Math.max(0, Math.round((at - start) * 1000));
      controller.enqueue(encodeRecord(
        RecordType.MARKER,
        timeUs,
        new TextEncoder().encode(
          `bytes ${from} to ${to} of the session are missing: part ${i + 1} (${
            parts[i]!.id
          }) did not store them`,
        ),
      ));
    }
    i++;
    if (i >= parts.length || sp[i]!.offset >= upTo) return false;
    const s = await storage.openStored(partId(firstId, i + 1));
    if (!s) return false;
    reader = s.getReader();
    skipHeader = true;
    headerLeft = -1;
    headerBuf = [];
    took = 0;
    return true;
  };
  return new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      while (true) {
        if (!reader) {
          controller.close();
          return;
        }
        const room = limit(i) - took;
        if (room <= 0) {
          if (!(await nextPart(controller))) {
            controller.close();
            return;
          }
          continue;
        }
        const r = await reader.read();
        if (r.done) {
          if (!(await nextPart(controller))) {
            controller.close();
            return;
          }
          continue;
        }
        let chunk = r.value;
        if (skipHeader) {
          // A later part starts with its own header record: skip it.
          if (headerLeft < 0) {
            headerBuf.push(chunk);
            const have = headerBuf.reduce((n, c) => n + c.length, 0);
            if (have < RECORD_HEADER_BYTES) continue;
            const joined = concatBytes(headerBuf);
            headerBuf = [];
            const len = new DataView(joined.buffer).getUint32(9);
            headerLeft = RECORD_HEADER_BYTES + len;
            chunk = joined;
          }
          const skip = Math.min(headerLeft, chunk.length);
          headerLeft -= skip;
          chunk = chunk.subarray(skip);
          if (headerLeft > 0) continue;
          skipHeader = false;
        }
        if (chunk.length === 0) continue;
        const piece = chunk.length > room ? chunk.subarray(0, room) : chunk;
        took += piece.length;
        controller.enqueue(piece);
        return;
      }
    },
    cancel: async () => {
      await reader?.cancel().catch(() => {});
    },
  });
}

/**
 * Reads a later part's header record size from its evidence (the join's
 * byte counts need it).
 * @returns The size, or 0 when the part has no evidence.
 */
export async function headerRecordBytes(
  storage: PartSource,
  id: RecordingId,
): Promise<number> {
  const s = await storage.openStored(id);
  if (!s) return 0;
  const reader = s.getReader();
  const got: Uint8Array[] = [];
  let have = 0;
  try {
    while (have < RECORD_HEADER_BYTES) {
      const r = await reader.read();
      if (r.done) return 0;
      got.push(r.value);
      have += r.value.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  const head = concatBytes(got);
  return RECORD_HEADER_BYTES + new DataView(head.buffer).getUint32(9);
}

/**
 * A storage that shows a failed-over session's parts as one recording (a
 * decorator of reads; uploads go to the inner storage as they are):
 * `get` and `openStored` of a first part give the joined manifest and
 * stream, `list` leaves out the later parts whose first part it lists, and
 * `remove` of a first part removes its later parts too. A later part whose
 * first part is elsewhere (storage not shared) stands alone, unless
 * `peers` hold the other parts (`peer_parts.ts`): then `get` and
 * `openStored` of the first part's id join them from the peers, here and
 * on the recorder holding the later part (`list` stays this storage's).
 *
 * @example
 * ```ts ignore
 * const storage = new JoinedStorage(new DiskStorage({ dir }));
 * const m = await storage.get(parseRecordingId("2026/11/27/abc")!);
 * m?.parts; // where it failed over, when it did
 * ```
 */
export class JoinedStorage implements RecordingStorage {
  readonly #inner: RecordingStorage;
  readonly #peers: readonly PeerRecorder[];

  /**
   * @param inner The storage the recorders write.
   * @param peers Other recorders holding parts this one lacks. @default {[]}
   */
  constructor(inner: RecordingStorage, peers: readonly PeerRecorder[] = []) {
    this.#inner = inner;
    this.#peers = peers;
  }

  /** The storage it decorates. */
  get inner(): RecordingStorage {
    return this.#inner;
  }

  create(
    id: RecordingId,
    manifest: RecordingManifest,
    headerLine: Uint8Array,
  ): ReturnType<RecordingStorage["create"]> {
    return this.#inner.create(id, manifest, headerLine);
  }

  exists(id: RecordingId): Promise<boolean> {
    return this.#inner.exists(id);
  }

  /**
   * The first part's manifest and where to read the parts: the inner
   * storage, or with peers a union that also asks them. A first part held
   * by a peer is read only when this storage holds a later part of it.
   */
  async #first(
    id: RecordingId,
  ): Promise<{ m: RecordingManifest; from: PartSource } | undefined> {
    const own = await this.#inner.get(id);
    if (this.#peers.length === 0 || id.part !== undefined) {
      return own && { m: own, from: this.#inner };
    }
    const union = new PartsUnion(this.#inner, this.#peers);
    if (own) return { m: own, from: union };
    if (!(await this.#inner.exists(partId(id, 2)))) return undefined;
    const m = await union.get(id);
    return m && { m, from: union };
  }

  async #parts(
    id: RecordingId,
    first: RecordingManifest,
    from: PartSource,
  ): Promise<RecordingManifest[]> {
    if (id.part !== undefined) return [first];
    if (from === this.#inner) {
      if (!(await this.#inner.exists(partId(id, 2)))) return [first];
    } else if (first.status === "complete" || first.status === "refused") {
      return [first];
    }
    return await readParts(from, first, id);
  }

  async #join(
    id: RecordingId,
    parts: RecordingManifest[],
    from: PartSource,
  ): Promise<RecordingManifest> {
    if (parts.length < 2) return parts[0]!;
    const sizes = [0];
    for (let k = 2; k <= parts.length; k++) {
      sizes.push(await headerRecordBytes(from, partId(id, k)));
    }
    const joined = joinManifests(parts, sizes);
    if (!(from instanceof PartsUnion)) return joined;
    const held: string[] = [];
    for (const p of joined.parts ?? []) {
      const pid = parseRecordingId(p.id);
      const at = pid && from.holder(pid);
      if (at) {
        p.recorder = at;
        held.push(`part ${p.part} at ${at}`);
      }
    }
    if (held.length === 0) return joined;
    return {
      ...joined,
      unverified: `joined at read time from other recorders (${
        held.join(", ")
      }): each part's framing was checked where it is stored; the session's digests, which cover every part, were not checked across recorders`,
    };
  }

  async get(id: RecordingId): Promise<RecordingManifest | undefined> {
    const f = await this.#first(id);
    if (!f) return undefined;
    return await this.#join(id, await this.#parts(id, f.m, f.from), f.from);
  }

  async list(): Promise<RecordingManifest[]> {
    const all = await this.#inner.list();
    const ids = new Set(all.map((m) => m.id));
    const joined = new Set<string>();
    const out: RecordingManifest[] = [];
    for (const m of all) {
      const id = parseRecordingId(m.id);
      if (id && id.part === undefined && ids.has(partId(id, 2).id)) {
        const j = await this.#join(
          id,
          await readParts(this.#inner, m, id),
          this.#inner,
        );
        for (const p of j.parts ?? []) if (p.part > 1) joined.add(p.id);
        out.push(j);
      } else out.push(m);
    }
    return out.filter((m) => !joined.has(m.id));
  }

  async openStored(
    id: RecordingId,
  ): Promise<ReadableStream<Uint8Array> | undefined> {
    if (id.part !== undefined) return await this.#inner.openStored(id);
    if (this.#peers.length === 0) {
      const m = await this.#inner.exists(partId(id, 2))
        ? await this.#inner.get(id)
        : undefined;
      if (!m) return await this.#inner.openStored(id);
      const parts = await readParts(this.#inner, m, id);
      return parts.length < 2
        ? await this.#inner.openStored(id)
        : await openJoined(this.#inner, parts, id);
    }
    const f = await this.#first(id);
    if (!f) return undefined;
    const parts = await this.#parts(id, f.m, f.from);
    return parts.length < 2
      ? await f.from.openStored(id)
      : await openJoined(f.from, parts, id);
  }

  readText(id: RecordingId): Promise<string | undefined> {
    return this.#inner.readText(id);
  }

  writeText(id: RecordingId, text: string): Promise<void> {
    return this.#inner.writeText(id, text);
  }

  recover(options?: RecoverOptions): Promise<number> {
    return this.#inner.recover(options);
  }

  async remove(id: RecordingId): Promise<void> {
    const later: RecordingId[] = [];
    for (let k = 2; id.part === undefined && k <= MAX_PART; k++) {
      const p = partId(id, k);
      if (!(await this.#inner.exists(p))) break;
      later.push(p);
    }
    for (const p of later.reverse()) await this.#inner.remove(p);
    await this.#inner.remove(id);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
