/**
 * The live view (`views/live_view.ts`) over a real recorder on disk and on
 * S3 (s3rver): bytes stored after the stream opened arrive on it, it ends
 * with `done` when the recording is finalised, a finished recording streams
 * whole and ends at once, an unknown id is a 404 naming it, and a client
 * that goes away stops the polling.
 */
import assert from "node:assert/strict";
import { parseRecorderConfig } from "./config.ts";
import { type ServedRecorder, serveRecorder } from "./serve.ts";
import { DiskStorage } from "./disk_storage.ts";
import { S3Storage } from "./s3_storage.ts";
import { makeRecordingId } from "./recording_id.ts";
import type { RecordingStorage } from "./storage.ts";
import { buildSession, START_MS } from "./_test_records.ts";
import { startS3, testHeader } from "./_test_util.ts";
import { followCast, liveCastEvents } from "./views/live_view.ts";
import {
  encodeRecord,
  RECORDS_CONTENT_TYPE,
  RECORDS_UPLOAD_PATH,
  RecordType,
} from "../protocol/records.ts";
import { SESSION_HEADER } from "../recording/wire.ts";

const UP = "uploader-token-0123456789";
const VIEW = "viewer-token-0123456789";
const enc = new TextEncoder();
function bytes(...parts: ArrayLike<number>[]): Uint8Array {
  return new Uint8Array(parts.flatMap((p) => [...Array.from(p)]));
}

/** Generous bound of every wait for a condition. */
const WAIT_MS = 30_000;

/** One Server-Sent Event. */
interface Sse {
  event: string;
  data: string;
}

/** Reads Server-Sent Events off a response body, one at a time. */
function sseReader(body: ReadableStream<Uint8Array>) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  return {
    /** The next event with data, or `undefined` at the end. */
    async next(): Promise<Sse | undefined> {
      for (;;) {
        const end = buf.indexOf("\n\n");
        if (end !== -1) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let event = "message";
          const data: string[] = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("event: ")) event = line.slice(7);
            else if (line.startsWith("data: ")) data.push(line.slice(6));
          }
          if (data.length > 0) return { event, data: data.join("\n") };
          continue; // retry, comment
        }
        const r = await reader.read();
        if (r.done) return undefined;
        buf += r.value;
      }
    },
    /** Events until one whose data includes `text` (it included). */
    async until(text: string): Promise<Sse[]> {
      const seen: Sse[] = [];
      for (;;) {
        const e = await this.next();
        if (!e) throw new Error(`The stream ended before ${text}`);
        seen.push(e);
        if (e.data.includes(text)) return seen;
      }
    },
    cancel: () => reader.cancel(),
  };
}

/** Rejects after `ms` (a bound on a wait, never the condition itself). */
function bounded<T>(p: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Timed out after ${ms} ms: ${what}`)),
        ms,
      );
    }),
  ]);
}

/** A live upload whose body the test feeds. */
async function liveUpload(url: string, sessionId: string) {
  let push!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => push = c });
  const res = await fetch(url + RECORDS_UPLOAD_PATH, {
    method: "POST",
    headers: {
      "content-type": RECORDS_CONTENT_TYPE,
      authorization: `Bearer ${UP}`,
      [SESSION_HEADER]: sessionId,
    },
    body,
    duplex: "half",
  } as RequestInit);
  const acks = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  return {
    push: (b: Uint8Array) => push.enqueue(b),
    /** Ends the body and reads the acks to their end. */
    async end() {
      push.close();
      for (;;) if ((await acks.read()).done) break;
    },
  };
}

async function serve(storage: RecordingStorage, dir: string) {
  return await serveRecorder(
    parseRecorderConfig({
      listen: { hostname: "127.0.0.1", port: 0 },
      auth: { uploaderTokens: [UP], viewerTokens: [VIEW] },
      storage: { kind: "disk", dir },
      ackIntervalMs: 50,
    }),
    { storage },
  );
}

/** Waits until the recorder lists a live recording; its id. */
async function liveId(served: ServedRecorder): Promise<string> {
  return await bounded(
    (async () => {
      for (;;) {
        const res = await fetch(`${served.url}/v1/recordings`, {
          headers: { authorization: `Bearer ${VIEW}` },
        });
        const items = (await res.json()).items as { id: string }[];
        if (items[0]) return items[0].id;
        await new Promise((r) => setTimeout(r, 20));
      }
    })(),
    "the live recording is listed",
  );
}

function openLive(served: ServedRecorder, id: string, signal?: AbortSignal) {
  return fetch(`${served.url}/v1/recordings/${id}/live`, {
    headers: { authorization: `Bearer ${VIEW}` },
    ...(signal ? { signal } : {}),
  });
}

/** The events of a cast, resizes in the player's `{cols, rows}` form. */
function playerEvents(cast: string): unknown[] {
  return cast.split("\n").filter((l) => l !== "").slice(1).map((l) => {
    const e = JSON.parse(l);
    const size = e[1] === "r" && /^(\d+)x(\d+)$/.exec(e[2]);
    return size ? [e[0], "r", { cols: +size[1]!, rows: +size[2]! }] : e;
  });
}

const STORAGES: {
  name: string;
  make(): Promise<
    { storage: RecordingStorage; dir: string; close(): Promise<void> }
  >;
}[] = [
  {
    name: "disk",
    async make() {
      const dir = await Deno.makeTempDir({ prefix: "execgate-live-" });
      return {
        storage: new DiskStorage({ dir }),
        dir,
        close: () => Deno.remove(dir, { recursive: true }),
      };
    },
  },
  {
    name: "s3",
    async make() {
      const s3 = await startS3();
      const dir = await Deno.makeTempDir({ prefix: "execgate-live-" });
      return {
        storage: new S3Storage({
          client: s3.client,
          bucket: s3.bucket,
          prefix: "rec/",
          flushIntervalMs: 100,
        }),
        dir,
        async close() {
          await s3.close();
          await Deno.remove(dir, { recursive: true });
        },
      };
    },
  },
];

for (const kind of STORAGES) {
  Deno.test(`GET …/live (${kind.name}) follows a live recording: bytes stored after it opened arrive, and it ends when the recording is finalised`, async () => {
    const fx = await kind.make();
    const served = await serve(fx.storage, fx.dir);
    try {
      const built = buildSession({
        sessionId: "follow",
        tty: true,
        steps: [
          { at: 5, out: 1, data: "before-open\r\n" },
          // An é split across two records.
          { at: 700, out: 1, data: bytes(enc.encode("after-open "), [0xc3]) },
          { at: 710, out: 1, data: bytes([0xa9], enc.encode(" done\r\n")) },
          {
            at: 720,
            resize: '{"Width":100,"Height":30}',
            shows: { width: 100, height: 30 },
          },
        ],
        endAt: 900,
      });
      // The session's records, one at a time (the first output before the
      // stream opens).
      const records: Uint8Array[] = [];
      {
        let off = 0;
        const all = built.records;
        while (off < all.length) {
          const v = new DataView(all.buffer, all.byteOffset + off);
          const len = 13 + v.getUint32(9);
          records.push(all.subarray(off, off + len));
          off += len;
        }
      }
      const up = await liveUpload(served.url, "follow");
      up.push(records[0]!); // header
      up.push(records[1]!); // before-open
      const id = await liveId(served);
      const res = await openLive(served, id);
      assert.equal(res.status, 200);
      assert.equal(
        res.headers.get("content-type"),
        "text/event-stream; charset=utf-8",
      );
      const sse = sseReader(res.body!);
      const first = await bounded(sse.until("before-open"), "before-open");
      const header = JSON.parse(first[0]!.data);
      assert.equal(header.version, 2);
      assert.equal(header.sessionId, "follow");
      assert.equal(typeof header.time, "number");
      // Written after the stream opened: it arrives on it.
      for (const r of records.slice(2, -1)) up.push(r);
      const later = await bounded(sse.until('"r"'), "the resize");
      const text = later.map((e) => JSON.parse(e.data))
        .filter((e) => e[1] === "o").map((e) => e[2]).join("");
      assert.equal(text, "after-open \u00e9 done\r\n");
      // The end record: the stream says done and ends.
      up.push(records.at(-1)!);
      await up.end();
      const rest: Sse[] = [];
      for (;;) {
        const e = await bounded(sse.next(), "the end of the stream");
        if (!e) break;
        rest.push(e);
      }
      assert.deepEqual(rest.at(-1), {
        event: "done",
        data: '{"status":"complete"}',
      });
      // What it sent is the .cast's events.
      const cast =
        await (await fetch(`${served.url}/v1/recordings/${id}/cast`, {
          headers: { authorization: `Bearer ${VIEW}` },
        })).text();
      const sent = [...first, ...later, ...rest.slice(0, -1)].slice(1)
        .map((e) => JSON.parse(e.data));
      assert.deepEqual(sent, playerEvents(cast));
    } finally {
      await served.close();
      await fx.close();
    }
  });
}

Deno.test("GET …/live of a finished recording streams it whole and ends at once; an unknown id is a 404 naming it", async () => {
  const fx = await STORAGES[0]!.make();
  const served = await serve(fx.storage, fx.dir);
  try {
    const built = buildSession({
      sessionId: "done",
      tty: false,
      steps: [{ at: 5, out: 1, data: "all of it\n" }],
      endAt: 10,
    });
    const up = await liveUpload(served.url, "done");
    up.push(built.records);
    await up.end();
    const id = await liveId(served);
    const res = await openLive(served, id);
    const events: Sse[] = [];
    const sse = sseReader(res.body!);
    for (let e; (e = await bounded(sse.next(), "the stream")) !== undefined;) {
      events.push(e);
    }
    assert.equal(JSON.parse(events[0]!.data).time, undefined);
    assert.deepEqual(
      events.slice(1, -1).map((e) => JSON.parse(e.data)),
      playerEvents(built.cast),
    );
    assert.deepEqual(events.at(-1), {
      event: "done",
      data: '{"status":"complete"}',
    });

    const unknown = await openLive(served, "2026/01/02/nobody");
    assert.equal(unknown.status, 404);
    assert.deepEqual(await unknown.json(), {
      error: 'No such recording: "2026/01/02/nobody"',
    });
    const anonymous = await fetch(`${served.url}/v1/recordings/${id}/live`);
    assert.equal(anonymous.status, 401);
    await anonymous.body?.cancel();
    const uploader = await fetch(`${served.url}/v1/recordings/${id}/live`, {
      headers: { authorization: `Bearer ${UP}` },
    });
    assert.equal(uploader.status, 403);
    await uploader.body?.cancel();
  } finally {
    await served.close();
    await fx.close();
  }
});

/** Counts a storage's reads of manifests and evidence. */
function counting(storage: RecordingStorage) {
  const counts = { get: 0, openStored: 0 };
  const wrapped = new Proxy(storage, {
    get(target, prop) {
      const v = Reflect.get(target, prop);
      if (typeof v !== "function") return v;
      if (prop === "get" || prop === "openStored") {
        return (...args: unknown[]) => {
          counts[prop]++;
          return v.apply(target, args);
        };
      }
      return v.bind(target);
    },
  });
  return { storage: wrapped, counts };
}

Deno.test("GET …/live stops polling storage when the client goes away", async () => {
  const fx = await STORAGES[0]!.make();
  const { storage, counts } = counting(fx.storage);
  const served = await serve(storage, fx.dir);
  try {
    const built = buildSession({
      sessionId: "gone",
      tty: true,
      steps: [{ at: 5, out: 1, data: "watch me" }],
      endAt: false,
    });
    const up = await liveUpload(served.url, "gone");
    up.push(built.records);
    const id = await liveId(served);
    const abort = new AbortController();
    const res = await openLive(served, id, abort.signal);
    const sse = sseReader(res.body!);
    await bounded(sse.until("watch me"), "the output");
    abort.abort();
    await sse.cancel().catch(() => {});
    // Polling is once a second: once the count holds still for three
    // seconds, the stream has stopped. (A stream nobody reads is not
    // pulled, so even an uncancelled one stops, but only after its next
    // item, the 15 s heartbeat: the bound is below that.)
    await bounded(
      (async () => {
        let last = -1;
        while (counts.get !== last) {
          last = counts.get;
          await new Promise((r) => setTimeout(r, 3000));
        }
      })(),
      "the live stream stops polling",
      14_000,
    );
    await up.end();
  } finally {
    await served.close();
    await fx.close();
  }
});

Deno.test("liveCastEvents: cancelling the body ends the follower at once and leaves no timer", async () => {
  const dir = await Deno.makeTempDir({ prefix: "execgate-live-" });
  try {
    const st = new DiskStorage({ dir });
    const id = makeRecordingId("cancel", new Date(START_MS));
    const header = testHeader("cancel", { tty: true });
    const w = await st.create(
      id,
      {
        id: id.id,
        sessionId: id.sessionId,
        status: "recording",
        format: "records",
        header,
        castBytes: 0,
        startedAt: START_MS,
        updatedAt: START_MS,
      },
      encodeRecord(
        RecordType.HEADER,
        START_MS * 1000,
        enc.encode(JSON.stringify(header)),
      ),
    );
    await w.write(encodeRecord(RecordType.STDOUT, 1000, enc.encode("one")));
    const sse = sseReader(
      liveCastEvents(st, id, { pollMs: 60_000, heartbeatMs: 60_000 }),
    );
    await sse.until("one");
    // The follower now sleeps a minute; cancelling must not wait for it
    // (the test's op sanitizer fails on a timer left behind).
    await bounded(sse.cancel(), "cancel", 5000);
    // The signal (the recorder closing) ends the body, read or not.
    const closing = new AbortController();
    const body = sseReader(
      liveCastEvents(st, id, { pollMs: 60_000, signal: closing.signal }),
    );
    await body.until("one");
    closing.abort();
    assert.equal(await bounded(body.next(), "the body ends", 5000), undefined);
    // A signal stops followCast the same way.
    const stop = new AbortController();
    const items = followCast(st, id, { pollMs: 60_000, signal: stop.signal });
    const seen: unknown[] = [];
    const done = (async () => {
      for await (const i of items) {
        seen.push(i);
        if (seen.length === 2) stop.abort();
      }
    })();
    await bounded(done, "followCast stops on abort", 5000);
    assert.deepEqual(seen.map((i) => Object.keys(i as object)[0]), [
      "line",
      "line",
    ]);
    await w.finish({
      id: id.id,
      sessionId: id.sessionId,
      status: "partial",
      format: "records",
      header,
      castBytes: 0,
      startedAt: START_MS,
      updatedAt: START_MS,
      finishedAt: START_MS,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("followCast of a partial recording flushes what the decoders held back and ends with its status", async () => {
  const dir = await Deno.makeTempDir({ prefix: "execgate-live-" });
  try {
    const st = new DiskStorage({ dir });
    const id = makeRecordingId("torn", new Date(START_MS));
    const header = testHeader("torn");
    const w = await st.create(
      id,
      {
        id: id.id,
        sessionId: id.sessionId,
        status: "recording",
        format: "records",
        header,
        castBytes: 0,
        startedAt: START_MS,
        updatedAt: START_MS,
      },
      encodeRecord(
        RecordType.HEADER,
        START_MS * 1000,
        enc.encode(JSON.stringify(header)),
      ),
    );
    // Half of a two-byte character, then the upload stops.
    await w.write(
      encodeRecord(RecordType.STDOUT, 2000, bytes(enc.encode("ok"), [0xc3])),
    );
    await w.finish({
      id: id.id,
      sessionId: id.sessionId,
      status: "partial",
      format: "records",
      header,
      castBytes: 0,
      startedAt: START_MS,
      updatedAt: START_MS,
      finishedAt: START_MS,
    });
    const items = [];
    for await (const i of followCast(st, id)) items.push(i);
    assert.deepEqual(
      items.slice(1).map((i) => "line" in i ? JSON.parse(i.line) : i),
      [[0.002, "o", "ok"], [0.002, "o", "\ufffd"], { end: "partial" }],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
