/**
 * `POST /v2/events`: the recorder's side of a proxy's API events stream. The
 * body is a record stream (`../protocol/records.ts`): a `HEADER` (JSON with
 * `kind: "events"`), then `EVENT` records, each one JSON event
 * (`phase: "request"` or `"response"`). The answer streams
 * acknowledgement lines as for recordings (`{"ack":N}`, N the bytes of
 * complete records stored and indexed, then `{"ack":N,"done":true}` at the
 * end, `{"error":"…"}` when the stream is refused), with a keepalive line
 * every `ackIntervalMs`.
 *
 * The bytes are stored as they came (the evidence, `events_store.ts`)
 * before they are acknowledged, and indexed before too (so a search right
 * after the ack finds the event). A malformed record stops the stream: the
 * records before it stay stored, and the proxy opens a new stream.
 *
 * @module
 */

import {
  encodeRecord,
  RECORD_HEADER_BYTES,
  RecordDecoder,
  RecordType,
  type SessionRecord,
} from "../protocol/records.ts";
import { SESSION_HEADER, SESSION_ID_PATTERN } from "../recording/wire.ts";
import type { Logger } from "../log.ts";
import type { EventStore, EventStreamWriter } from "./events_store.ts";
import type { EventIndex, StoredEvent } from "./index/events_index.ts";
import { jsonError } from "./ingest.ts";
import { concatBytes } from "../bytes.ts";
import {
  makeRecordingId,
  parseRecordingId,
  type RecordingId,
} from "./recording_id.ts";

/** Seams and bounds of {@linkcode handleEventsUpload}. */
export interface EventsIngestOptions {
  store: EventStore;
  index: EventIndex;
  logger: Logger;
  /** Largest record payload (one event). @default {1048576} */
  maxEventBytes?: number;
  /**
   * Size bound of one stored stream: at the first record that would take it
   * past this (never its first event), the recorder stores no more,
   * acknowledges what it stored and ends the stream with its `done` line;
   * the proxy sends the rest on a new stream. @default {67108864}
   */
  maxStreamBytes?: number;
  /**
   * Age bound of one stream, ms from its start: past it the recorder ends
   * the stream on its next keepalive tick, as at the size bound (what it
   * took is stored and acknowledged, the proxy sends the rest on a new
   * stream), so a quiet proxy's stream closes too and retention can delete
   * it. @default {3600000}
   */
  maxStreamAgeMs?: number;
  /** Keepalive interval of the ack stream. @default {1000} */
  ackIntervalMs?: number;
  /** Clock, Unix ms. @default {Date.now} */
  now?: () => number;
  /**
   * The recorder is shutting down: the stream ends with an error line (the
   * proxy goes on on another recorder or a new stream) once what it took is
   * stored. @default {never}
   */
  signal?: AbortSignal;
  /**
   * Where the handling of each stream is kept until it has stored what it
   * took (its writer closed): the recorder awaits them before it closes
   * its storage. @default {none}
   */
  running?: Set<Promise<void>>;
  /**
   * The streams each stream continues (newest first), shared by the
   * recorder's streams: a stream whose header says `continues` (the
   * proxy's stream after one that ended) may answer the requests of the
   * one it names, if that is stored here and no other stream claimed it.
   * @default {a new map per stream: nothing continues}
   */
  lineage?: Map<string, string[]>;
}

/** Most streams a lineage reaches back, and most lineages kept. */
const MAX_LINEAGE = 8;
const MAX_LINEAGES = 10_000;

const enc = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Handles one events upload.
 * @param req The request (authenticated as an uploader).
 * @param o Store, index, bounds.
 * @returns The acknowledgement stream, or 400 for a request that is not one.
 */
export function handleEventsUpload(
  req: Request,
  o: EventsIngestOptions,
): Response {
  const streamId = req.headers.get(SESSION_HEADER) ?? "";
  if (!SESSION_ID_PATTERN.test(streamId)) {
    return jsonError(
      400,
      `An events upload needs ${SESSION_HEADER} matching ${SESSION_ID_PATTERN}`,
    );
  }
  if (!req.body) return jsonError(400, "An events upload needs a body");
  const body = req.body;
  const now = o.now ?? Date.now;
  const id = makeRecordingId(streamId, new Date(now()));
  const decoder = new RecordDecoder({
    maxPayload: o.maxEventBytes ?? 1024 * 1024,
  });
  let acked = 0;
  let out!: ReadableStreamDefaultController<Uint8Array>;
  let ended = false;
  const send = (line: unknown) => {
    if (ended) return;
    try {
      out.enqueue(enc.encode(JSON.stringify(line) + "\n"));
    } catch { /* the proxy went away */ }
  };
  const close = () => {
    if (ended) return;
    ended = true;
    clearInterval(keepalive);
    try {
      out.close();
    } catch { /* already */ }
  };
  const startedAt = now();
  const maxAge = o.maxStreamAgeMs ?? 3_600_000;
  /** Set when the stream reached its age bound (reading stops there). */
  let aged = false;
  const keepalive = setInterval(() => {
    if (!aged && now() - startedAt >= maxAge) {
      aged = true;
      // What was read is stored and acknowledged; the rest the proxy sends
      // again on its next stream.
      void reader.cancel().catch(() => {});
      return;
    }
    send({ ack: acked });
  }, o.ackIntervalMs ?? 1000);
  const reader = body.getReader();
  const maxBytes = o.maxStreamBytes ?? 64 * 1024 * 1024;
  const run = async () => {
    let writer: EventStreamWriter | undefined;
    /** The streams this one continues (it may answer their requests). */
    let earlier: string[] = [];
    /** Events stored, and whether the stream reached its size bound. */
    let stored = 0;
    let full = false;
    try {
      while (!full) {
        const { value, done } = await reader.read();
        if (done) break;
        let records = decoder.push(value);
        if (records.length === 0) continue;
        if (!writer) {
          const started = await start(records[0]!, id, o.store);
          writer = started.writer;
          earlier = await lineageOf(started.continues, id, o);
          // The recorder's id of this stream, for the proxy's next one.
          send({ ack: acked, id: id.id });
        }
        // The size bound, at a record boundary: the records from the one
        // that would pass it on are not stored (nor acknowledged).
        for (let i = 0; i < records.length; i++) {
          const r = records[i]!;
          const end = r.offset + RECORD_HEADER_BYTES + r.payload.length;
          if (r.type === RecordType.HEADER || end <= maxBytes || stored === 0) {
            if (r.type !== RecordType.HEADER) stored++;
            continue;
          }
          full = true;
          records = records.slice(0, i);
          break;
        }
        if (records.length === 0) break;
        const events: StoredEvent[] = [];
        const responses: { id: string; r: Record<string, unknown> }[] = [];
        for (const r of records) {
          if (r.type === RecordType.HEADER) continue;
          const e = parseEvent(r, id);
          if (e.phase === "response") responses.push({ id: e.id, r: e.json });
          else {
            events.push({ request: e.json, stream: id.id, offset: r.offset });
          }
        }
        const last = records.at(-1)!;
        const end = last.offset + RECORD_HEADER_BYTES + last.payload.length;
        // Records are complete and whole here: store exactly them, in one
        // write.
        await writer.write(
          concatBytes(
            records.map((r) => encodeRecord(r.type, r.timeUs, r.payload)),
          ),
        );
        if (events.length > 0) await o.index.put(events);
        for (const x of responses) {
          await o.index.putResponse(id.id, x.id, x.r, earlier);
        }
        acked = end;
        send({ ack: acked });
      }
      if (o.signal?.aborted) {
        throw new Error(
          "The recorder is shutting down: the events stream ends here (every event it acknowledged is stored)",
        );
      }
      // `done` says the stream is stored: the writer flushes first (on S3,
      // its last segment).
      const w = writer;
      writer = undefined;
      await w?.close();
      if (full || aged) {
        o.logger.info(
          full
            ? "events stream ended at its size bound"
            : "events stream ended at its age bound",
          {
            stream: id.id,
            bytes: acked,
            ...(full
              ? { maxStreamBytes: maxBytes }
              : { maxStreamAgeMs: maxAge }),
          },
        );
        send({ ack: acked, done: true, id: id.id, full: true });
        close();
        await reader.cancel().catch(() => {});
        return;
      }
      if (decoder.pending > 0) {
        throw new Error(
          `Cannot accept the events stream: it ends inside a record at byte ${decoder.consumed}`,
        );
      }
      send({ ack: acked, done: true });
      close();
    } catch (e) {
      const message = (e as Error)?.message ?? String(e);
      o.logger.warn("events stream refused", { stream: id.id, error: message });
      send({ error: message });
      close();
      await reader.cancel().catch(() => {});
    } finally {
      await writer?.close();
    }
  };
  const ack = new ReadableStream<Uint8Array>({
    start(c) {
      out = c;
    },
    cancel() {
      ended = true;
      clearInterval(keepalive);
      void reader.cancel().catch(() => {});
    },
  });
  const onAbort = () => void reader.cancel().catch(() => {});
  o.signal?.addEventListener("abort", onAbort, { once: true });
  if (o.signal?.aborted) onAbort();
  const running = run().finally(() => {
    o.signal?.removeEventListener("abort", onAbort);
    o.running?.delete(running);
  });
  o.running?.add(running);
  return new Response(ack, {
    headers: { "content-type": "application/x-ndjson" },
  });
}

async function start(
  first: SessionRecord,
  id: RecordingId,
  store: EventStore,
): Promise<{ writer: EventStreamWriter; continues?: string }> {
  let h: unknown;
  try {
    h = JSON.parse(utf8.decode(first.payload));
  } catch (e) {
    throw new Error(
      `Cannot accept the events stream's header at byte 0: ${
        (e as Error).message
      }`,
    );
  }
  if (
    typeof h !== "object" || h === null ||
    (h as { kind?: unknown }).kind !== "events"
  ) {
    throw new Error(
      'Cannot accept the events stream\'s header at byte 0: expected an object with "kind": "events"',
    );
  }
  const c = (h as { continues?: unknown }).continues;
  const writer = await store.create(id);
  return typeof c === "string" ? { writer, continues: c } : { writer };
}

/**
 * The streams a new stream continues: the one its header names, if that is
 * a stored stream no other stream claimed, then that one's own.
 */
async function lineageOf(
  continues: string | undefined,
  id: RecordingId,
  o: EventsIngestOptions,
): Promise<string[]> {
  if (continues === undefined || !o.lineage) return [];
  const prev = parseRecordingId(continues);
  const claimed = [...o.lineage.values()].some((l) => l[0] === continues);
  if (!prev || prev.id === id.id || claimed || !await o.store.stat(prev)) {
    o.logger.warn("events stream continues no stream of this recorder", {
      stream: id.id,
      continues: continues.slice(0, 200),
    });
    return [];
  }
  const chain = [prev.id, ...(o.lineage.get(prev.id) ?? [])].slice(
    0,
    MAX_LINEAGE,
  );
  o.lineage.set(id.id, chain);
  if (o.lineage.size > MAX_LINEAGES) {
    o.lineage.delete(o.lineage.keys().next().value!);
  }
  return chain;
}

interface ParsedEvent {
  phase: "request" | "response";
  id: string;
  json: StoredEvent["request"];
}

const EVENT_ID = /^[A-Za-z0-9_-]{1,64}$/;

function parseEvent(r: SessionRecord, stream: RecordingId): ParsedEvent {
  const at = `at byte ${r.offset} of events stream ${
    JSON.stringify(stream.id)
  }`;
  if (r.type !== RecordType.EVENT) {
    throw new Error(
      `Cannot accept record ${at}: type ${r.type} does not belong in an events stream`,
    );
  }
  let v: unknown;
  try {
    v = JSON.parse(utf8.decode(r.payload));
  } catch (e) {
    throw new Error(`Cannot decode event ${at}: ${(e as Error).message}`);
  }
  const o = v as Record<string, unknown>;
  if (
    typeof v !== "object" || v === null || Array.isArray(v) ||
    (o.phase !== "request" && o.phase !== "response") ||
    typeof o.id !== "string" || !EVENT_ID.test(o.id) ||
    typeof o.timeMs !== "number" || !Number.isFinite(o.timeMs)
  ) {
    throw new Error(
      `Cannot accept event ${at}: expected an object with "phase" request or response, an "id" ([A-Za-z0-9_-]{1,64}) and a numeric "timeMs"`,
    );
  }
  return {
    phase: o.phase,
    id: o.id,
    json: o as StoredEvent["request"],
  };
}
