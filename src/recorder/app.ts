/**
 * `createRecorder`: the recorder service as a Hono app, runtime-neutral.
 *
 * Routes:
 * - `POST /v1/recordings` (uploader): the live upload (see `ingest.ts`).
 * - `GET /v1/recordings` (viewer): list with filters, text search, pages.
 * - `GET /v1/recordings/YYYY/MM/DD/<sid>` (viewer): manifest and status.
 * - `GET /v1/recordings/YYYY/MM/DD/<sid>/cast` (viewer): the `.cast` download.
 * - `GET /ui…`: the web UI (viewer, login form); `GET /healthz`.
 *
 * @module
 */

import { Hono } from "hono";
import { UPLOAD_PATH } from "../recording/wire.ts";
import { requireRole, TokenAuthority } from "./auth.ts";
import type { RecorderConfig } from "./config.ts";
import { Ingestor, type IngestResult, jsonError } from "./ingest.ts";
import { parseRecordingQuery, runQuery } from "./query.ts";
import { parseRecordingId } from "./recording_id.ts";
import type { RecordingStorage } from "./storage.ts";
import { createUi } from "./ui.ts";

/** I/O seams of {@linkcode createRecorder}. */
export interface RecorderDeps {
  /** The storage backend (build one with `createStorage`). */
  storage: RecordingStorage;
  /** Clock in Unix ms. @default {Date.now} */
  now?: () => number;
  /** Called when an upload ends. */
  onUpload?: (result: IngestResult) => void;
}

/** A recorder: its Hono app and its lifecycle. */
export interface Recorder {
  /** The app; serve `app.fetch` with any runtime. */
  app: Hono;
  /** The storage it writes to. */
  storage: RecordingStorage;
  /** The upload handler (live upload count). */
  ingestor: Ingestor;
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
  deps: RecorderDeps,
): Recorder {
  const { storage } = deps;
  const authority = new TokenAuthority({
    uploader: config.auth.uploaderTokens,
    viewer: config.auth.viewerTokens,
  });
  const ingestor = new Ingestor({
    storage,
    limits: config.limits,
    ackIntervalMs: config.ackIntervalMs,
    ...(deps.now ? { now: deps.now } : {}),
    ...(deps.onUpload ? { onResult: deps.onUpload } : {}),
  });
  const uploader = requireRole(authority, "uploader");
  const viewer = requireRole(authority, "viewer");
  const app = new Hono();

  app.get(
    "/healthz",
    (c) => c.json({ ok: true, liveUploads: ingestor.liveUploads }),
  );

  app.post(UPLOAD_PATH, uploader, (c) => ingestor.handle(c.req.raw));

  app.get("/v1/recordings", viewer, async (c) => {
    let q;
    try {
      q = parseRecordingQuery(new URL(c.req.url).searchParams);
    } catch (e) {
      return jsonError(400, (e as Error).message);
    }
    const page = await runQuery(await storage.list(), q, (m) => {
      const id = parseRecordingId(m.id);
      return id ? storage.readText(id) : Promise.resolve(undefined);
    });
    return c.json(page);
  });

  app.get("/v1/recordings/:y/:m/:d/:sid", viewer, async (c) => {
    const { y, m, d, sid } = c.req.param();
    const id = parseRecordingId(`${y}/${m}/${d}/${sid}`);
    const man = id && await storage.get(id);
    if (!id || !man) return jsonError(404, "No such recording");
    return c.json(man);
  });

  app.get("/v1/recordings/:y/:m/:d/:sid/cast", viewer, async (c) => {
    const { y, m, d, sid } = c.req.param();
    const id = parseRecordingId(`${y}/${m}/${d}/${sid}`);
    const body = id && await storage.openCast(id);
    if (!id || !body) return jsonError(404, "No such recording");
    return new Response(body, {
      headers: {
        "content-type": "application/x-asciicast",
        "content-disposition":
          `attachment; filename="${id.year}-${id.month}-${id.day}-${id.sessionId}.cast"`,
        "cache-control": "no-store",
      },
    });
  });

  if (config.ui.enabled) {
    app.get("/", (c) => c.redirect("/ui", 302));
    app.route("/ui", createUi({ storage, authority, title: config.ui.title }));
  }

  app.notFound((c) =>
    c.json({
      error: `No route for ${c.req.method} ${new URL(c.req.url).pathname}`,
    }, 404)
  );
  app.onError((e, c) => {
    console.error("recorder: request failed:", e);
    return c.json({ error: `Internal error: ${(e as Error).message}` }, 500);
  });

  return {
    app,
    storage,
    ingestor,
    recover: () => storage.recover(),
    async close() {
      await ingestor.shutdown();
      await storage.close();
    },
  };
}
