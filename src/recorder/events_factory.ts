/**
 * Builds a recorder's API events store and index from its configuration:
 * streams on disk under `events.dir`, by default `<storage dir>/events/`
 * with disk storage and, with S3 storage, in the bucket under
 * `<prefix>events/` (`events_s3_store.ts`; a local `events.dir` still
 * wins when it is set), indexed in the SQLite index file's
 * `api_events` table when the index is SQLite, else in memory. An index that
 * is new (or in memory) is filled from the stored streams at start
 * ({@linkcode rebuildEventIndex}).
 *
 * @module
 */

import { RecordDecoder, RecordType } from "../protocol/records.ts";
import type { Logger } from "../log.ts";
import type { RecorderConfig } from "./config.ts";
import { DiskEventStore } from "./events_disk_store.ts";
import { S3Storage } from "./s3_storage.ts";
import type { RecordingStorage } from "./storage.ts";
import type { EventStore } from "./events_store.ts";
import {
  type EventIndex,
  MemoryEventIndex,
  type StoredEvent,
} from "./index/events_index.ts";
import type { RecordingIndex } from "./index/recording_index.ts";
import { parseRecordingId } from "./recording_id.ts";

const utf8 = new TextDecoder();

/**
 * The events of a recorder, or undefined when its storage cannot keep them.
 * @param config The resolved configuration.
 * @param index The recording index, when there is one.
 * @param fresh Whether that index is new (fill its events from storage).
 * @param log Where a rebuild is told.
 * @param storage The recording storage: with S3 storage (and no
 *   `events.dir`), the event streams go in its bucket.
 * @returns Store and index, or undefined when there is nowhere to keep them.
 */
export async function createEvents(
  config: RecorderConfig,
  index: RecordingIndex | undefined,
  fresh: boolean,
  log: Logger,
  storage?: RecordingStorage,
): Promise<{ store: EventStore; index: EventIndex } | undefined> {
  const s = config.storage;
  const dir = config.events.dir ??
    (s.kind === "disk" ? `${s.dir.replace(/\/+$/, "")}/events` : undefined);
  let store: EventStore;
  if (dir !== undefined) {
    store = new DiskEventStore({
      dir,
      fsync: s.kind === "disk" ? s.fsync : false,
    });
  } else if (storage instanceof S3Storage) {
    store = storage.eventStore({
      onFlushError: (stream, e) =>
        log.warn("events stream could not be stored in the bucket", {
          stream,
          error: e.message,
        }),
    });
  } else return undefined;
  const sqlite = index as { events?: () => EventIndex } | undefined;
  const events = typeof sqlite?.events === "function"
    ? sqlite.events()
    : new MemoryEventIndex();
  if (fresh || events instanceof MemoryEventIndex) {
    const n = await rebuildEventIndex(store, events, log);
    if (n > 0) log.info("API events indexed from storage", { events: n });
  }
  return { store, index: events };
}

/**
 * Puts every stored event into an index (the evidence is the truth; a torn
 * last record of a stream is skipped, and a stream that cannot be read to
 * its end, a missing S3 segment, is indexed up to there and logged): the
 * requests of every stream, then the responses, each joined in its own
 * stream or in those it continues (as the ingest joins them).
 * @param store The streams.
 * @param index The index.
 * @param log Told of a stream that could not be read to its end.
 * @returns How many request events were put.
 */
export async function rebuildEventIndex(
  store: EventStore,
  index: EventIndex,
  log?: Pick<Logger, "warn">,
): Promise<number> {
  // Two passes: every stream's requests first, then the responses, so one
  // that answers a request of the stream its own continues (its header's
  // `continues`) joins it whatever order the streams are listed in.
  const streams = await store.list();
  const known = new Set(streams);
  const continues = new Map<string, string>();
  const claims: { raw: string; c: string; startedAt: number }[] = [];
  let n = 0;
  const withResponses: string[] = [];
  for (const raw of streams) {
    const batch: StoredEvent[] = [];
    let responses = 0;
    await readStream(store, raw, log, (e, stream, offset) => {
      if (e.phase === "request") batch.push({ request: e, stream, offset });
      else responses++;
    }, (c, startedAt) => {
      if (known.has(c) && c !== raw) claims.push({ raw, c, startedAt });
    });
    await index.put(batch);
    n += batch.length;
    if (responses > 0) withResponses.push(raw);
  }
  // The first stream to claim one continues it, as at ingest: the one that
  // started first (a header without a start time comes last).
  claims.sort((a, b) => a.startedAt - b.startedAt);
  const taken = new Set<string>();
  for (const { raw, c } of claims) {
    if (taken.has(c) || continues.has(raw)) continue;
    taken.add(c);
    continues.set(raw, c);
  }
  const earlierOf = (raw: string) => {
    const chain: string[] = [];
    for (
      let c = continues.get(raw);
      c !== undefined && chain.length < 8 && !chain.includes(c);
      c = continues.get(c)
    ) chain.push(c);
    return chain;
  };
  for (const raw of withResponses) {
    const responses: Record<string, unknown>[] = [];
    await readStream(store, raw, log, (e) => {
      if (e.phase === "response") responses.push(e);
    });
    const earlier = earlierOf(raw);
    for (const r of responses) {
      await index.putResponse(raw, r.id as string, r, earlier);
    }
  }
  return n;
}

/** Calls `each` with every request or response record of a stored stream. */
async function readStream(
  store: EventStore,
  raw: string,
  log: Pick<Logger, "warn"> | undefined,
  each: (
    e: StoredEvent["request"] & { phase: string },
    stream: string,
    offset: number,
  ) => void,
  onContinues?: (streamId: string, startedAt: number) => void,
): Promise<void> {
  const id = parseRecordingId(raw);
  if (!id) return;
  try {
    const body = await store.open(id);
    if (!body) return;
    const d = new RecordDecoder();
    for await (const chunk of body) {
      for (const r of d.push(chunk)) {
        if (r.type === RecordType.HEADER && onContinues) {
          const h = JSON.parse(utf8.decode(r.payload));
          if (typeof h?.continues === "string") {
            onContinues(
              h.continues,
              Number.isFinite(h.startedAt) ? h.startedAt : Infinity,
            );
          }
        }
        if (r.type !== RecordType.EVENT) continue;
        const e = JSON.parse(utf8.decode(r.payload));
        if (
          (e?.phase === "request" || e?.phase === "response") &&
          typeof e.id === "string"
        ) each(e, id.id, r.offset);
      }
    }
  } catch (e) {
    // A torn or damaged tail, or a stream that cannot be read (a missing
    // segment): what came before is indexed, the rest is said.
    log?.warn("events stream not indexed past a problem", {
      stream: raw,
      error: (e as Error)?.message ?? String(e),
    });
  }
}
