/**
 * A fake recorder for tests: a real HTTP server (`Deno.serve` on 127.0.0.1,
 * port 0) speaking the upload protocol: version 2 (binary records,
 * `src/protocol/records.ts`, at `RECORDS_UPLOAD_PATH`) and version 1 (cast
 * lines, `src/recording/wire.ts`). It checks the bearer token, answers `200`
 * with an NDJSON ack stream, acks bytes as they arrive (or `ackStepBytes` per
 * `ackIntervalMs`, a throttled recorder) and every `ackIntervalMs` when idle,
 * decodes the records (v2) or strips the manifest line (v1), and keeps every
 * upload in memory for assertions. It can be told to stall (stop acking), to
 * die in the middle of a session, to refuse the header, or to give up
 * (`{"error"}`) midway, as the real recorder does at a limit.
 *
 * @module
 */

import {
  RecordDecoder,
  RECORDS_UPLOAD_PATH,
  RecordType,
  type SessionRecord,
} from "../protocol/records.ts";
import {
  ACK_CONTENT_TYPE,
  END_KEY,
  SESSION_HEADER,
  SESSION_ID_PATTERN,
  type SessionEnd,
  UPLOAD_PATH,
} from "../recording/wire.ts";

/** Options of {@linkcode startFakeRecorder}. */
export interface FakeRecorderOptions {
  /** Uploader token the recorder accepts. @default {"test-token"} */
  token?: string;
  /** Idle ack period. @default {100} */
  ackIntervalMs?: number;
  /** Answer every upload with this status instead of accepting it. @default {undefined} */
  refuseWith?: number;
  /**
   * Refuse every header: once the first line (v1) or record (v2) arrived,
   * send `{"error": refuseHeader}` instead of acknowledging it and end the
   * upload.
   * @default {undefined}
   */
  refuseHeader?: string;
  /**
   * A throttled recorder: acknowledge at most this many more bytes per
   * `ackIntervalMs` (slow but steady progress).
   * @default {undefined} (acknowledge what arrived, at once)
   */
  ackStepBytes?: number;
}

/** One upload the fake recorder received. */
export interface FakeUpload {
  /** Value of `X-Execgate-Session`. */
  sessionId: string;
  /** Request headers. */
  headers: Headers;
  /** Every body byte received so far, manifest included. */
  raw: Uint8Array;
  /** Which upload protocol: 2 (records) or 1 (cast lines). */
  version: 1 | 2;
  /** v2: the records decoded so far. */
  records: SessionRecord[];
  /** v2: the raw stdout bytes recorded so far, concatenated. */
  stdout: Uint8Array;
  /** v2: the raw stderr bytes recorded so far, concatenated. */
  stderr: Uint8Array;
  /** v2: set when the records could not be decoded. */
  formatError?: string;
  /** Bytes acknowledged so far. */
  acked: number;
  /** v1: set when the body ended: the cast (body without the manifest line). */
  cast?: string;
  /** Set when the body ended with a manifest line (v1) or END record (v2). */
  manifest?: SessionEnd;
  /**
   * Manifest present and its `castBytes` equals the bytes before it (v2: and
   * the stdout/stderr byte counts match the records).
   */
  complete: boolean;
  /** Set when the body broke instead of ending. */
  error?: string;
  /** Resolves when the body ended or broke. */
  ended: Promise<void>;
}

/** A running fake recorder. */
export interface FakeRecorder {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Uploads in arrival order. */
  readonly uploads: FakeUpload[];
  /** Resolves with the `n`-th upload (0-based) once it has started. */
  upload(n?: number): Promise<FakeUpload>;
  /**
   * Resolves once `predicate` holds for upload `n` (checked on every arrival
   * of bytes and at its end).
   */
  until(predicate: (u: FakeUpload) => boolean, n?: number): Promise<FakeUpload>;
  /** Stops sending acks (the body is still read). */
  stall(): void;
  /**
   * Stops reading request bodies but keeps sending idle acks (which then no
   * longer progress); TCP back-pressure reaches the uploader.
   */
  stallReading(): void;
  /**
   * Gives up on every open upload as the real recorder does at a limit:
   * sends `{"error": message}` on the ack stream and ends it.
   */
  giveUp(message: string): void;
  /** Breaks every open upload (ack streams end without `done`) and stops listening. */
  kill(): Promise<void>;
  /** Stops the server; open uploads are broken. */
  close(): Promise<void>;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/**
 * Starts a fake recorder.
 * @param options Token, ack period, refusal.
 * @returns The running recorder; `close()` it at the end of the test.
 * @example
 * ```ts
 * import { startFakeRecorder } from "./fake_recorder.ts";
 * const rec = await startFakeRecorder();
 * const res = await fetch(rec.url + "/v1/recordings", { method: "POST", body: "x" });
 * await res.body?.cancel();
 * await rec.close();
 * if (res.status !== 401) throw new Error(String(res.status));
 * ```
 */
export function startFakeRecorder(
  options: FakeRecorderOptions = {},
): Promise<FakeRecorder> {
  const token = options.token ?? "test-token";
  const ackIntervalMs = options.ackIntervalMs ?? 100;
  const uploads: FakeUpload[] = [];
  const watchers = new Set<() => void>();
  const breakers = new Set<() => void>();
  const quitters = new Set<(message: string) => void>();
  const pending = new Set<Promise<void>>();
  let stalled = false;
  let readingStalled = false;
  let resumeReading: (() => void) | undefined;
  const notify = () => {
    for (const w of [...watchers]) w();
  };

  const handler = (req: Request): Response => {
    const url = new URL(req.url);
    const json = (status: number, error: string) =>
      Response.json({ error }, { status });
    const version = url.pathname === RECORDS_UPLOAD_PATH
      ? 2
      : url.pathname === UPLOAD_PATH
      ? 1
      : 0;
    if (version === 0) return json(404, "not found");
    if (req.method !== "POST") return json(405, "method not allowed");
    if (options.refuseWith !== undefined) {
      return json(options.refuseWith, "refused by test");
    }
    if (req.headers.get("authorization") !== `Bearer ${token}`) {
      return json(401, "unauthorized");
    }
    const sessionId = req.headers.get(SESSION_HEADER) ?? "";
    if (!SESSION_ID_PATTERN.test(sessionId)) {
      return json(400, `bad session id "${sessionId}"`);
    }
    let markEnded!: () => void;
    const upload: FakeUpload = {
      sessionId,
      headers: req.headers,
      raw: new Uint8Array(),
      version,
      records: [],
      stdout: new Uint8Array(),
      stderr: new Uint8Array(),
      acked: 0,
      complete: false,
      ended: new Promise((r) => markEnded = r),
    };
    uploads.push(upload);
    notify();

    const enc = new TextEncoder();
    let ackCtl!: ReadableStreamDefaultController<Uint8Array>;
    let open = true;
    const send = (
      obj: { ack?: number; [k: string]: unknown },
      force = false,
    ) => {
      if (!open || (stalled && !force)) return;
      if (obj.ack !== undefined) upload.acked = Math.max(upload.acked, obj.ack);
      try {
        ackCtl.enqueue(enc.encode(JSON.stringify(obj) + "\n"));
      } catch { /* the client went away */ }
    };
    const acks = new ReadableStream<Uint8Array>({
      start(c) {
        ackCtl = c;
      },
      // Deno.serve: once response bytes were written, a client that aborts
      // shows up here, while a pending request-body read may never settle.
      cancel() {
        if (!open) return;
        upload.error ??= "the uploader went away";
        stop();
        reader.cancel().catch(() => {});
        markEnded();
        notify();
      },
    });
    const step = options.ackStepBytes;
    const ackable = () =>
      step === undefined
        ? upload.raw.length
        : Math.min(upload.raw.length, upload.acked + step);
    const timer = setInterval(() => {
      send({ ack: ackable() });
      notify();
    }, ackIntervalMs);
    const decoder = new RecordDecoder();
    const reader = req.body!.getReader();
    const stop = () => {
      open = false;
      clearInterval(timer);
      breakers.delete(breakNow);
      quitters.delete(giveUp);
    };
    const giveUp = (message: string) => {
      if (!open) return;
      send({ error: message }, true);
      stop();
      upload.error ??= `gave up: ${message}`;
      try {
        ackCtl.close();
      } catch { /* already closed */ }
      reader.cancel().catch(() => {});
      markEnded();
      notify();
    };
    quitters.add(giveUp);
    const breakNow = () => {
      if (!open) return;
      stop();
      upload.error ??= "killed";
      try {
        // Ending the ack stream without `done` is what a dying recorder's
        // client sees (erroring it instead makes Deno.serve log the error).
        ackCtl.close();
      } catch { /* already closed */ }
      reader.cancel().catch(() => {});
      markEnded();
      notify();
    };
    breakers.add(breakNow);
    send({ ack: 0 });

    const run = (async () => {
      try {
        while (true) {
          while (readingStalled && open) {
            await new Promise<void>((r) => resumeReading = r);
          }
          const { value, done } = await reader.read();
          if (done) break;
          upload.raw = concat(upload.raw, value);
          if (version === 2 && upload.formatError === undefined) {
            try {
              for (const r of decoder.push(value)) {
                const copy = { ...r, payload: r.payload.slice() };
                upload.records.push(copy);
                if (r.type === RecordType.STDOUT) {
                  upload.stdout = concat(upload.stdout, copy.payload);
                } else if (r.type === RecordType.STDERR) {
                  upload.stderr = concat(upload.stderr, copy.payload);
                }
              }
            } catch (e) {
              upload.formatError = (e as Error).message;
            }
          }
          if (
            options.refuseHeader !== undefined &&
            (version === 2
              ? upload.records.length > 0
              : upload.raw.includes(10))
          ) {
            giveUp(options.refuseHeader);
            return;
          }
          // Names the recording, as the real one does with the header's ack.
          if (step === undefined) {
            send({ ack: upload.raw.length, id: `fake/${sessionId}` });
          }
          notify();
        }
      } catch (e) {
        if (open) {
          upload.error = e instanceof Error ? e.message : String(e);
          stop();
          try {
            ackCtl.close();
          } catch { /* gone */ }
          markEnded();
          notify();
        }
        return;
      }
      if (!open) return;
      while (step !== undefined && upload.acked < upload.raw.length && open) {
        // A throttled recorder acknowledges the rest at its own pace.
        await new Promise<void>((r) => {
          const check = () => {
            if (upload.acked >= upload.raw.length || !open) {
              watchers.delete(check);
              r();
            }
          };
          watchers.add(check);
        });
      }
      if (!open) return;
      if (version === 2) finishRecords(upload);
      else finishUpload(upload);
      send({
        ack: upload.raw.length,
        done: true,
        id: `fake/${sessionId}`,
        complete: upload.complete,
      }, true);
      stop();
      try {
        ackCtl.close();
      } catch { /* gone */ }
      markEnded();
      notify();
    })();
    pending.add(run);
    run.finally(() => pending.delete(run));

    return new Response(acks, {
      status: 200,
      headers: { "content-type": ACK_CONTENT_TYPE },
    });
  };

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    handler,
  );
  let closed = false;
  const shutdown = async () => {
    if (closed) return;
    closed = true;
    readingStalled = false;
    resumeReading?.();
    for (const b of [...breakers]) b();
    await Promise.all([...pending]);
    await server.shutdown();
  };

  const waitFor = (
    predicate: (u: FakeUpload) => boolean,
    n: number,
  ): Promise<FakeUpload> =>
    new Promise((resolve) => {
      const check = () => {
        const u = uploads[n];
        if (u !== undefined && predicate(u)) {
          watchers.delete(check);
          resolve(u);
        }
      };
      watchers.add(check);
      check();
    });

  return Promise.resolve({
    url: `http://127.0.0.1:${server.addr.port}`,
    uploads,
    upload: (n = 0) => waitFor(() => true, n),
    until: (predicate, n = 0) => waitFor(predicate, n),
    stall() {
      stalled = true;
    },
    stallReading() {
      readingStalled = true;
    },
    giveUp(message) {
      for (const q of [...quitters]) q(message);
    },
    kill: shutdown,
    close: shutdown,
  });
}

/** v2: the manifest from the END record, and whether it matches. */
function finishRecords(upload: FakeUpload): void {
  const last = upload.records.at(-1);
  if (last?.type !== RecordType.END) return;
  const manifest = JSON.parse(new TextDecoder().decode(last.payload));
  upload.manifest = manifest as SessionEnd;
  upload.complete = upload.formatError === undefined &&
    manifest.castBytes === last.offset &&
    manifest.channels?.stdout?.bytes === upload.stdout.length &&
    manifest.channels?.stderr?.bytes === upload.stderr.length;
}

/** Splits the body into cast and manifest, as the real recorder does. */
function finishUpload(upload: FakeUpload): void {
  const text = new TextDecoder().decode(upload.raw);
  const body = text.endsWith("\n") ? text.slice(0, -1) : text;
  const start = body.lastIndexOf("\n") + 1;
  const lastLine = body.slice(start);
  let manifest: SessionEnd | undefined;
  try {
    const parsed = JSON.parse(lastLine);
    if (parsed && typeof parsed === "object" && END_KEY in parsed) {
      manifest = parsed[END_KEY] as SessionEnd;
    }
  } catch { /* no manifest */ }
  if (manifest === undefined) {
    upload.cast = text;
    return;
  }
  upload.cast = text.slice(0, start);
  upload.manifest = manifest;
  upload.complete =
    new TextEncoder().encode(upload.cast).length === manifest.castBytes;
}
