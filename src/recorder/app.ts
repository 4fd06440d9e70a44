/**
 * `createRecorder`: the recorder service as a Hono app, runtime-neutral.
 *
 * Routes:
 * - `POST /v2/recordings` (uploader): the live upload of a record stream
 *   (see `records_ingest.ts`).
 * - `GET /v1/recordings` (viewer): list with filters, text search, pages.
 * - `GET /v1/recordings/YYYY/MM/DD/<sid>` (viewer): manifest and status.
 * - `GET /v1/recordings/YYYY/MM/DD/<sid>/cast` (viewer): the `.cast` download,
 *   derived from the evidence as it is read (`views/cast_view.ts`);
 *   `?format=v3` for asciicast v3 (`views/cast_v3.ts`), `v2` the default.
 * - `GET /v1/recordings/YYYY/MM/DD/<sid>/evidence` (viewer): the stored
 *   record stream as uploaded (a v1 recording: its `.cast`).
 * - `GET /v1/recordings/YYYY/MM/DD/<sid>/stdout` (viewer): the raw stdout
 *   bytes, concatenated, byte for byte (v2 recordings).
 * - `GET /v1/recordings/YYYY/MM/DD/<sid>/bundle` (viewer): manifest,
 *   evidence and cast in one tar for `execgate verify` (`integrity/`).
 * - `GET /v1/recordings/YYYY/MM/DD/<sid>/live` (viewer): Server-Sent Events
 *   following the recording as it is stored, until it is finalised; a
 *   finished one streams whole and ends (`views/live_view.ts`).
 * - `POST /v2/events` (uploader): a proxy's API events stream
 *   (`events_ingest.ts`); `GET /v1/events` (viewer): events, newest first,
 *   filtered by `user`, `verb`, `resource`, `namespace`, `q`.
 * - `GET /ui…`: the web UI (viewer, login form); `GET /healthz`.
 *
 * @module
 */

import { type Context, Hono, type MiddlewareHandler } from "hono";
import type { IncrementalDigest } from "../recording/cast_encoder.ts";
import { Sha256 } from "../recording/sha256.ts";
import {
  RECORDS_CONTENT_TYPE,
  RECORDS_UPLOAD_PATH,
  RecordType,
} from "../protocol/records.ts";
import { castOfRecords, channelOfRecords } from "./views/cast_view.ts";
import {
  castFormatOf,
  castV3OfCast,
  castV3OfRecords,
} from "./views/cast_v3.ts";
import { LIVE_CONTENT_TYPE, liveCastEvents } from "./views/live_view.ts";
import { type RecorderEnv, requireRole, TokenAuthority } from "./auth.ts";
import type { RecorderConfig } from "./config.ts";
import { Ingestor, type IngestResult, jsonError } from "./ingest.ts";
import { parseRecordingQuery, type RecordingQuery, runQuery } from "./query.ts";
import { parseRecordingId, partId } from "./recording_id.ts";
import { JoinedStorage } from "./parts.ts";
import type { PeerRecorder } from "./peer_parts.ts";
import type { RecordingManifest, RecordingStorage } from "./storage.ts";
import { createUi } from "./ui.ts";
import { TextIndexer } from "./text_indexer.ts";
import { CopyFilesView } from "./views/copy_files.ts";
import type { RecordingIndex } from "./index/recording_index.ts";
import { reindex, type ReindexResult } from "./index/reindex.ts";
import { applyEventRetention, applyRetention } from "./retention.ts";
import type { RecordingId } from "./recording_id.ts";
import { jsonLogger, type Logger } from "../log.ts";
import {
  createRecorderMetrics,
  type RecorderMetrics,
} from "../metrics/recorder_metrics.ts";
import { metricsHandler } from "../metrics/metrics_handler.ts";
import { EVENTS_UPLOAD_PATH } from "../protocol/records.ts";
import type { EventStore } from "./events_store.ts";
import type { EventIndex, EventQuery } from "./index/events_index.ts";
import { handleEventsUpload } from "./events_ingest.ts";
import { parseEventQuery } from "./events_query.ts";
import type { ManifestSigner } from "./integrity/signing_key.ts";
import { BUNDLE_CONTENT_TYPE } from "./integrity/bundle.ts";
import { bundleOf } from "./integrity/bundle_stream.ts";

/** I/O seams of {@linkcode createRecorder}. */
export interface RecorderDeps {
  /** The storage backend (build one with `createStorage`). */
  storage: RecordingStorage;
  /** Clock in Unix ms. @default {Date.now} */
  now?: () => number;
  /** Called when an upload ends. */
  onUpload?: (result: IngestResult) => void;
  /**
   * Makes the SHA-256 checked against a v2 end record (`serve.ts` passes
   * `node:crypto`'s). @default {TypeScript Sha256}
   */
  digest?: () => IncrementalDigest;
  /** Logger. @default {jsonLogger("recorder")} */
  logger?: Logger;
  /**
   * The searchable index (`createIndex` builds the configured one). Without
   * one, every query lists storage.
   */
  index?: RecordingIndex;
  /** The index is new or was rebuilt: `recover()` fills it from storage. */
  indexFresh?: boolean;
  /**
   * Other recorders holding parts of sessions that failed over between
   * recorders not sharing storage (`peer_parts.ts`; `serve.ts` builds them
   * from `peers` in the config). @default {[]}
   */
  peers?: readonly PeerRecorder[];
  /**
   * API events: where streams are stored and indexed. Without it, events
   * uploads are refused (503) and `/v1/events` answers 404.
   */
  events?: { store: EventStore; index: EventIndex };
  /**
   * Signs final manifests (`integrity/`; `serve.ts` loads the configured
   * `signing.privateKeyFile`). Without it they carry the hash chain only.
   */
  signer?: ManifestSigner;
}

/** Where a recorder counts (see `docs/metrics.md`). */
export interface RecorderMetricsDeps {
  /** The recorder's metrics. @default {createRecorderMetrics()} */
  metrics?: RecorderMetrics;
}

/** A recorder: its Hono app and its lifecycle. */
export interface Recorder {
  /** What `GET /metrics` exposes. */
  metrics: RecorderMetrics;
  /** The app; serve `app.fetch` with any runtime. */
  app: Hono<RecorderEnv>;
  /** The storage it writes to. */
  storage: RecordingStorage;
  /** The upload handler (live upload count). */
  ingestor: Ingestor;
  /** Derives text indexes of finished recordings. */
  indexer: TextIndexer;
  /** The searchable index, when there is one. */
  index?: RecordingIndex;
  /** Rebuilds the index from storage (`execgate recorder reindex`). */
  reindex(): Promise<ReindexResult | undefined>;
  /** Deletes what `retention.days` says is too old. @returns How many. */
  applyRetention(): Promise<number>;
  /**
   * Finds recordings the index holds as live that no recorder refreshes
   * any more (a crashed replica's, by storage's `staleAfterMs`), recovers
   * them as `partial` and updates the index. @returns How many.
   */
  sweepStale(): Promise<number>;
  /** Finalises recordings a previous run left unfinished. @returns How many. */
  recover(): Promise<number>;
  /** Ends live uploads (kept `partial`) and closes storage. */
  close(): Promise<void>;
}

/**
 * Builds the recorder service.
 * @param config The resolved configuration (`parseRecorderConfig`).
 * @param deps Storage, clock, observers.
 * @returns The recorder.
 * @example
 * ```ts
 * import { createRecorder, DiskStorage, parseRecorderConfig } from "./mod.ts";
 * const config = parseRecorderConfig({ auth: { viewerTokens: ["v".repeat(16)] } });
 * const dir = await Deno.makeTempDir();
 * const r = createRecorder(config, { storage: new DiskStorage({ dir }) });
 * const res = await r.app.request("/v1/recordings");
 * if (res.status !== 401) throw new Error(String(res.status));
 * await r.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function createRecorder(
  config: RecorderConfig,
  deps: RecorderDeps & RecorderMetricsDeps,
): Recorder {
  const metrics = deps.metrics ?? createRecorderMetrics();
  // Uploads go to the storage as they are; everything read sees a session
  // that failed over between recorders sharing it as one recording.
  const storage = new JoinedStorage(deps.storage, deps.peers ?? []);
  // `?own=1`: this recorder's own part as stored, not joined (what a peer
  // recorder asks for; joining on both sides would loop).
  const readFrom = (c: Context<RecorderEnv>): RecordingStorage =>
    c.req.query("own") === "1" ? deps.storage : storage;
  const log = deps.logger ?? jsonLogger("recorder");
  const authority = new TokenAuthority({
    uploader: config.auth.uploaderTokens,
    viewer: config.auth.viewerTokens,
    moderators: config.auth.moderators,
  });
  const index = deps.index;
  // The index is a view of storage: a failure to update it is logged, never
  // an upload's failure (reindex repairs it).
  const indexing = (what: string, id: string, p: Promise<unknown>) =>
    p.catch((e) =>
      log.warn(`index ${what} failed`, {
        recordingId: id,
        error: (e as Error)?.message ?? String(e),
      })
    );
  const indexer = new TextIndexer(storage, {
    maxTextChars: config.limits.maxTextChars,
    ...(deps.digest ? { digest: deps.digest } : {}),
    onError: (id, e) =>
      log.warn("text index failed", {
        recordingId: id.id,
        error: (e as Error)?.message ?? String(e),
      }),
    ...(index
      ? {
        onText: (id: RecordingId, text: string) =>
          indexing("text", id.id, index.putText(id.id, text)),
      }
      : {}),
  });
  /**
   * The recording a part shows as: its first part when that is in this
   * storage (a session that failed over between recorders sharing it).
   */
  const shownAs = async (
    id: RecordingId,
  ): Promise<{ id: RecordingId; joined?: RecordingManifest }> => {
    if (id.part === undefined) return { id };
    const first = partId(id, 1);
    const joined = await storage.get(first);
    return joined?.parts?.some((p) => p.id === id.id)
      ? { id: first, joined }
      : { id };
  };
  const ingestor = new Ingestor({
    storage: deps.storage,
    ...(index
      ? {
        onStarted: (m: RecordingManifest) => {
          const raw = parseRecordingId(m.id);
          if (!raw) return;
          void indexing(
            "put",
            m.id,
            shownAs(raw).then(async ({ id, joined }) => {
              await index.put(joined ?? m);
              // Its text so far becomes searchable while it is live.
              indexer.follow(id);
            }),
          );
        },
      }
      : {}),
    // The final ack waits for this: a listing after it shows the end.
    onFinished: async (raw) => {
      const { id, joined } = await shownAs(raw).catch(() => ({
        id: raw,
        joined: undefined,
      }));
      if (index) {
        await indexing(
          "put",
          id.id,
          (joined ? Promise.resolve(joined) : storage.get(id)).then((m) =>
            m && index.put(m)
          ),
        );
      }
      indexer.schedule(id);
    },
    limits: config.limits,
    ackIntervalMs: config.ackIntervalMs,
    ...(deps.now ? { now: deps.now } : {}),
    onResult: (r: IngestResult) => {
      metrics.recordings[r.outcome].inc();
      deps.onUpload?.(r);
    },
    metrics: metrics.ingest,
    ...(deps.digest ? { digest: deps.digest } : {}),
    ...(deps.signer ? { signer: deps.signer } : {}),
  });
  const query = index
    ? (q: RecordingQuery) => index.query(q)
    : async (q: RecordingQuery) =>
      runQuery(await storage.list(), q, (m) => {
        const id = parseRecordingId(m.id);
        return id ? indexer.text(id, m) : Promise.resolve(undefined);
      });
  /** Every listing (API and UI), timed by kind. */
  const search = async (q: RecordingQuery) => {
    const t = performance.now();
    try {
      return await query(q);
    } finally {
      metrics.indexQuery[q.q ? "text" : "list"].observe(
        (performance.now() - t) / 1000,
      );
    }
  };
  const rebuild = async () => {
    if (!index) return undefined;
    const r = await reindex(storage, index, (raw, m) => {
      const id = parseRecordingId(raw);
      return id ? indexer.text(id, m) : Promise.resolve(undefined);
    }, { log });
    return r;
  };
  const uploader = requireRole(authority, "uploader");
  const viewer = requireRole(authority, "viewer");
  // Recovered recordings are sealed as ingest seals them (same digest, key).
  const recovering = {
    seal: {
      digest: deps.digest ?? (() => new Sha256()),
      ...(deps.signer ? { signer: deps.signer } : {}),
    },
  };
  const copies = new CopyFilesView(
    storage,
    deps.digest ? { digest: deps.digest } : {},
  );
  const app = new Hono<RecorderEnv>();

  app.get(
    "/healthz",
    (c) => c.json({ ok: true, liveUploads: ingestor.liveUploads }),
  );

  // Prometheus text; a viewer credential or one of `metrics.tokens`.
  metrics.uploadsActive.collect(() => ingestor.liveUploads);
  const serveMetrics = metricsHandler(metrics.registry);
  const metricsTokens = new Set(config.metrics.tokens);
  app.get("/metrics", async (c, next) => {
    const h = c.req.header("authorization") ?? "";
    const bearer = /^Bearer (.+)$/i.exec(h)?.[1];
    if (bearer !== undefined && metricsTokens.has(bearer)) {
      return serveMetrics(c.req.raw);
    }
    return await viewer(c, next);
  }, (c) => serveMetrics(c.req.raw));

  app.post(
    RECORDS_UPLOAD_PATH,
    uploader,
    (c) => ingestor.handle(c.req.raw),
  );

  const events = deps.events;
  /** The events streams being taken (awaited by close). */
  const eventStreams = new Set<Promise<void>>();
  /** Which stored stream each events stream continues (response joins). */
  const eventLineage = new Map<string, string[]>();
  app.post(
    EVENTS_UPLOAD_PATH,
    uploader,
    (c) =>
      events
        ? handleEventsUpload(c.req.raw, {
          ...events,
          logger: log,
          ackIntervalMs: config.ackIntervalMs,
          maxStreamBytes: config.events.maxStreamBytes,
          maxStreamAgeMs: config.events.maxStreamAgeMs,
          signal: closing.signal,
          running: eventStreams,
          lineage: eventLineage,
          ...(deps.now ? { now: deps.now } : {}),
        })
        : jsonError(
          503,
          "This recorder does not store API events (they need disk storage)",
        ),
  );
  app.get("/v1/events", viewer, async (c) => {
    if (!events) return jsonError(404, "This recorder stores no API events");
    let q;
    try {
      q = parseEventQuery(new URL(c.req.url).searchParams);
    } catch (e) {
      return jsonError(400, (e as Error).message);
    }
    return c.json(await events.index.query(q));
  });

  app.get("/v1/recordings", viewer, async (c) => {
    let q;
    try {
      q = parseRecordingQuery(new URL(c.req.url).searchParams);
    } catch (e) {
      return jsonError(400, (e as Error).message);
    }
    return c.json(await search(q));
  });

  const moderator = requireRole(authority, "moderator");
  /** Ends a live session for a moderator (API and UI); false when not live here. */
  const terminate = (id: string, by: string, reason: string): boolean => {
    if (!ingestor.terminate(id, by, reason)) return false;
    log.info("session ended by a moderator", {
      recordingId: id,
      moderator: by,
      reason,
    });
    return true;
  };
  // A moderator ends a live session: the proxy holding it is told on the
  // upload's acknowledgement stream. Body: {"reason": "…"} (required).
  app.post("/v1/recordings/:y/:m/:d/:sid/terminate", moderator, async (c) => {
    const { y, m, d, sid } = c.req.param();
    const id = parseRecordingId(`${y}/${m}/${d}/${sid}`);
    if (!id) return jsonError(404, "No such recording");
    let reason: unknown;
    try {
      reason = (await c.req.json() as { reason?: unknown })?.reason;
    } catch {
      return jsonError(400, 'The body must be JSON: {"reason": "…"}');
    }
    if (typeof reason !== "string" || reason.trim() === "") {
      return jsonError(400, 'The body must give a "reason" (a string)');
    }
    const by = c.get("moderator");
    if (!terminate(id.id, by, reason.trim().slice(0, 1000))) {
      const man = await storage.get(id);
      return man
        ? jsonError(
          409,
          `Recording ${
            JSON.stringify(id.id)
          } is not live on this recorder (status ${man.status})`,
        )
        : jsonError(404, "No such recording");
    }
    return c.json({ terminated: id.id, by }, 202);
  });

  app.get("/v1/recordings/:y/:m/:d/:sid", viewer, async (c) => {
    const { y, m, d, sid } = c.req.param();
    const id = parseRecordingId(`${y}/${m}/${d}/${sid}`);
    const man = id && await readFrom(c).get(id);
    if (!id || !man) return jsonError(404, "No such recording");
    return c.json(man);
  });

  const download = (
    view: "cast" | "evidence" | "stdout",
  ): MiddlewareHandler<RecorderEnv> =>
    async function downloadView(c) {
      const p = c.req.param() as Record<string, string>;
      let format: 2 | 3 = 2;
      try {
        if (view === "cast") format = castFormatOf(c.req.queries("format"));
      } catch (e) {
        return jsonError(400, (e as Error).message);
      }
      const id = parseRecordingId(`${p.y}/${p.m}/${p.d}/${p.sid}`);
      const from = readFrom(c);
      const man = id && await from.get(id);
      if (!id || !man) return jsonError(404, "No such recording");
      const records = man.format === "records";
      if (view === "stdout" && !records) {
        return jsonError(
          404,
          `Recording ${
            JSON.stringify(id.id)
          } was uploaded as asciicast (protocol v1): its raw stdout was not stored`,
        );
      }
      const stored = await from.openStored(id);
      if (!stored) return jsonError(404, "No such recording");
      const name = `${id.year}-${id.month}-${id.day}-${id.sessionId}`;
      const [body, type, ext] = view === "cast"
        ? [
          format === 3
            ? records ? castV3OfRecords(stored) : castV3OfCast(stored, man.end)
            : records
            ? castOfRecords(stored)
            : stored,
          "application/x-asciicast",
          "cast",
        ]
        : view === "stdout"
        ? [
          channelOfRecords(stored, RecordType.STDOUT),
          "application/octet-stream",
          "stdout",
        ]
        : records
        ? [stored, RECORDS_CONTENT_TYPE, "records"]
        : [stored, "application/x-asciicast", "cast"];
      return new Response(body, {
        headers: {
          "content-type": type,
          "content-disposition": `attachment; filename="${name}.${ext}"`,
          "cache-control": "no-store",
        },
      });
    };
  app.get("/v1/recordings/:y/:m/:d/:sid/cast", viewer, download("cast"));
  app.get(
    "/v1/recordings/:y/:m/:d/:sid/evidence",
    viewer,
    download("evidence"),
  );
  app.get("/v1/recordings/:y/:m/:d/:sid/stdout", viewer, download("stdout"));
  // What a `kubectl cp` session copied (views/copy_files.ts).
  app.get("/v1/recordings/:y/:m/:d/:sid/files", viewer, async (c) => {
    const { y, m, d, sid } = c.req.param();
    const id = parseRecordingId(`${y}/${m}/${d}/${sid}`);
    const man = id && await storage.get(id);
    if (!id || !man) return jsonError(404, "No such recording");
    const files = await copies.files(id);
    if (!files) {
      return jsonError(
        404,
        `Recording ${JSON.stringify(id.id)} is not a kubectl cp session`,
      );
    }
    return c.json(files);
  });
  // One file for `execgate verify` (integrity/bundle.ts): this recorder's
  // own stored manifest, evidence and derived cast (a failed-over part is
  // signed and bundled on its own).
  app.get("/v1/recordings/:y/:m/:d/:sid/bundle", viewer, async (c) => {
    const { y, m, d, sid } = c.req.param();
    const id = parseRecordingId(`${y}/${m}/${d}/${sid}`);
    const man = id && await deps.storage.get(id);
    if (!id || !man) return jsonError(404, "No such recording");
    if (man.format !== "records" || man.status === "recording") {
      return jsonError(
        409,
        `Recording ${JSON.stringify(id.id)} has no bundle: ${
          man.status === "recording"
            ? "it is still being recorded"
            : "it was uploaded as asciicast (protocol v1)"
        }`,
      );
    }
    return new Response(await bundleOf(deps.storage, id, man), {
      headers: {
        "content-type": BUNDLE_CONTENT_TYPE,
        "content-disposition":
          `attachment; filename="${y}-${m}-${d}-${sid}.bundle.tar"`,
        "cache-control": "no-store",
      },
    });
  });
  // The live view: what is stored so far, then each new event as it is
  // stored, until the recording is finalised (a finished one streams whole
  // and ends at once). Polls storage; stops when the client goes away or
  // the recorder closes (the player then reconnects and starts over).
  const closing = new AbortController();
  app.get("/v1/recordings/:y/:m/:d/:sid/live", viewer, async (c) => {
    const { y, m, d, sid } = c.req.param();
    const raw = `${y}/${m}/${d}/${sid}`;
    const id = parseRecordingId(raw);
    if (!id || !await storage.get(id)) {
      return jsonError(404, `No such recording: ${JSON.stringify(raw)}`);
    }
    const body = liveCastEvents(storage, id, {
      signal: closing.signal,
      ...(deps.now ? { now: deps.now } : {}),
    });
    return new Response(body, {
      headers: {
        "content-type": LIVE_CONTENT_TYPE,
        "cache-control": "no-store",
        "x-accel-buffering": "no",
      },
    });
  });

  if (config.ui.enabled) {
    app.get("/", (c) => c.redirect("/ui", 302));
    app.get("/favicon.ico", (c) => c.redirect("/ui/favicon.ico", 301));
    app.route(
      "/ui",
      createUi({
        storage,
        authority,
        title: config.ui.title,
        search,
        terminate,
        files: (id: RecordingId) => copies.files(id),
        ...(events ? { events: (q: EventQuery) => events.index.query(q) } : {}),
      }),
    );
  }

  app.notFound((c) =>
    c.json({
      error: `No route for ${c.req.method} ${new URL(c.req.url).pathname}`,
    }, 404)
  );
  app.onError((e, c) => {
    log.error("request failed", {
      method: c.req.method,
      path: new URL(c.req.url).pathname,
      error: (e as Error)?.stack ?? String(e),
    });
    return c.json({ error: `Internal error: ${(e as Error).message}` }, 500);
  });

  return {
    app,
    metrics,
    storage,
    ingestor,
    indexer,
    ...(index ? { index } : {}),
    reindex: rebuild,
    applyRetention: () =>
      config.retention.days === undefined
        ? Promise.resolve(0)
        // Texts being derived land first: a deletion is never undone by one.
        : indexer.idle().then(async () =>
          await applyRetention({
            storage,
            ...(index ? { index } : {}),
            days: config.retention.days!,
            ...(deps.now ? { now: deps.now } : {}),
            log,
          }) + (events
            ? await applyEventRetention({
              ...events,
              days: config.retention.days!,
              ...(deps.now ? { now: deps.now } : {}),
              log,
            })
            : 0)
        ),
    async sweepStale() {
      if (!index) return 0;
      const live = await index.query({ status: "recording", limit: 1000 });
      const stale = [];
      for (const m of live.items) {
        const id = parseRecordingId(m.id);
        if (!id || ingestor.isLive(id.id)) continue;
        const now = await storage.get(id);
        if (now && now.status !== "recording") stale.push(id);
      }
      if (stale.length === 0) return 0;
      await storage.recover(recovering);
      for (const id of stale) {
        const m = await storage.get(id);
        if (m) await index.put(m);
        indexer.schedule(id);
        log.info("recovered a recording its recorder left unfinished", {
          recordingId: id.id,
          status: m?.status,
        });
      }
      return stale.length;
    },
    async recover() {
      const n = await storage.recover(recovering);
      // A new index, or recordings that changed behind its back: rebuild.
      if (index && (deps.indexFresh || n > 0)) await rebuild();
      return n;
    },
    async close() {
      closing.abort();
      await ingestor.shutdown();
      // Open events streams end (error line to the proxy) once stored.
      await Promise.all([...eventStreams]);
      await indexer.close();
      await index?.close();
      await storage.close();
    },
  };
}
