import assert from "node:assert/strict";
import {
  encodeRecord,
  EVENTS_UPLOAD_PATH,
  RecordDecoder,
  RecordType,
} from "../protocol/records.ts";
import { memoryLogger } from "../log.ts";
import { EventStream } from "../recording/event_stream.ts";
import { createRecorder } from "./app.ts";
import { parseRecorderConfig } from "./config.ts";
import { MemoryEventStore } from "./events_store.ts";
import { rebuildEventIndex } from "./events_factory.ts";
import { MemoryEventIndex } from "./index/events_index.ts";
import { DiskStorage } from "./disk_storage.ts";
import { DiskEventStore } from "./events_disk_store.ts";
import { SqliteIndex } from "./index/sqlite_index.ts";
import { parseRecordingId } from "./recording_id.ts";
import { testHeader, upload } from "./_test_util.ts";

const UP = "uploader-token-0123456789";
const VIEW = "viewer-token-0123456789ab";
const enc = new TextEncoder();
const opts = { sanitizeOps: false, sanitizeResources: false };

async function startRecorder() {
  const dir = await Deno.makeTempDir();
  const store = new MemoryEventStore();
  const index = new MemoryEventIndex();
  const r = createRecorder(
    parseRecorderConfig({
      auth: { uploaderTokens: [UP], viewerTokens: [VIEW] },
      ackIntervalMs: 100,
    }),
    {
      storage: new DiskStorage({ dir }),
      events: { store, index },
      logger: memoryLogger(),
    },
  );
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    r.app.fetch,
  );
  const url = `http://127.0.0.1:${server.addr.port}`;
  return {
    url,
    store,
    index,
    async query(q: string) {
      const res = await fetch(`${url}/v1/events?${q}`, {
        headers: { authorization: `Bearer ${VIEW}` },
      });
      return await res.json();
    },
    async close() {
      await server.shutdown();
      await r.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

function event(id: string, extra: Record<string, unknown> = {}) {
  return {
    phase: "request",
    id,
    timeMs: 1_700_000_000_000,
    caller: { srcNode: "n", srcNodeID: "i", srcNodeUser: "bob@example.com" },
    verb: "get",
    resource: "pods",
    namespace: "default",
    ...extra,
  };
}

let streams = 0;
async function post(url: string, body: Uint8Array[]) {
  const res = await fetch(url + EVENTS_UPLOAD_PATH, {
    method: "POST",
    headers: {
      authorization: `Bearer ${UP}`,
      "x-execgate-session": `s${streams++}`,
    },
    body: ReadableStream.from(body),
    duplex: "half",
  } as RequestInit);
  return (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
}

Deno.test(
  "EventStream: fail closed resolves once stored and indexed; the response record joins it",
  opts,
  async () => {
    const rec = await startRecorder();
    const log = memoryLogger();
    const s = new EventStream({
      urls: [rec.url],
      proxyHostname: "p",
      token: UP,
      logger: log,
    });
    try {
      await s.send(event("e1"), { wait: true });
      const page = await rec.query("verb=get");
      assert.equal(page.items.length, 1);
      assert.equal(page.items[0].request.id, "e1");
      await s.send(
        { phase: "response", id: "e1", timeMs: 1, status: 200 },
        { wait: true },
      );
      const again = await rec.query("user=bob%40example.com");
      assert.equal(again.items[0].response.status, 200);
      await s.send(event("e2", { verb: "create" }), { wait: false });
      await s.send(event("e3", { verb: "delete" }), { wait: true });
      assert.equal((await rec.query("")).items.length, 3);
      assert.equal(s.stats.streams, 1, "one stream for all of them");
      assert.equal(s.stats.queued, 0, "every event acknowledged");
    } finally {
      await s.close();
      await rec.close();
    }
  },
);

Deno.test(
  "EventStream: fail closed with no recorder rejects with the reason; fail open counts the loss and logs it once",
  opts,
  async () => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const dead = `http://127.0.0.1:${(l.addr as Deno.NetAddr).port}`;
    l.close();
    const log = memoryLogger();
    const s = new EventStream({
      urls: [dead],
      proxyHostname: "p",
      logger: log,
    });
    await assert.rejects(
      s.send(event("x"), { wait: true }),
      /no recorder accepted the events stream \(tried: .*connection refused/,
    );
    for (let i = 0; i < 5; i++) await s.send(event(`y${i}`), { wait: false });
    for (let i = 0; i < 50 && s.stats.lost < 5; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(s.stats.lost, 5);
    assert.equal(
      log.lines.filter((x) => x.msg === "API events are being lost (fail open)")
        .length,
      1,
    );
    await s.close();
  },
);

Deno.test(
  "EventStream: fail open drops past the queue bound",
  opts,
  async () => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const dead = `http://127.0.0.1:${(l.addr as Deno.NetAddr).port}`;
    l.close();
    const s = new EventStream({
      urls: [dead],
      proxyHostname: "p",
      logger: memoryLogger(),
      maxQueueBytes: 300,
    });
    for (let i = 0; i < 10; i++) {
      await s.send(event(`z${i}`, { pad: "x".repeat(100) }), { wait: false });
    }
    // Past the bound at once (dropped without waiting for the connection).
    assert.ok(s.stats.lost >= 8, String(s.stats.lost));
    assert.equal(s.stats.queued + s.stats.lost, 10, "queued or lost");
    assert.ok(s.stats.queued >= 1, "the first ones wait for an upload");
    // Then the connection fails: the queued ones are lost too.
    for (let i = 0; i < 100 && s.stats.queued > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(s.stats.queued, 0);
    assert.equal(s.stats.lost, 10);
    await s.close();
  },
);

Deno.test(
  "POST /v2/events stores the records byte for byte and refuses malformed streams",
  opts,
  async () => {
    const rec = await startRecorder();
    try {
      const header = encodeRecord(
        RecordType.HEADER,
        1,
        enc.encode('{"kind":"events"}'),
      );
      const e1 = encodeRecord(
        RecordType.EVENT,
        2,
        enc.encode(JSON.stringify(event("a1"))),
      );
      const lines = await post(rec.url, [
        header,
        e1.subarray(0, 7),
        e1.subarray(7),
      ]);
      assert.deepEqual(lines.at(-1), {
        ack: header.length + e1.length,
        done: true,
      });
      const stored = [...rec.store.streams.values()][0]!;
      assert.deepEqual(
        new Uint8Array(stored.flatMap((c) => [...c])),
        new Uint8Array([...header, ...e1]),
      );
      // The index is rebuilt from the evidence alone.
      const fresh = new MemoryEventIndex();
      assert.equal(await rebuildEventIndex(rec.store, fresh), 1);

      const bad: [string, Uint8Array[], RegExp][] = [
        ["not an events header", [
          encodeRecord(RecordType.HEADER, 1, enc.encode('{"version":2}')),
        ], /kind.*events/],
        ["a recording's record", [
          header,
          encodeRecord(RecordType.STDOUT, 1, enc.encode("x")),
        ], /does not belong in an events stream/],
        ["an event that is not JSON", [
          header,
          encodeRecord(RecordType.EVENT, 1, enc.encode("{nope")),
        ], /Cannot decode event at byte/],
        ["an event without an id", [
          header,
          encodeRecord(RecordType.EVENT, 1, enc.encode('{"phase":"request"}')),
        ], /"id"/],
        [
          "a stream ending inside a record",
          [header, e1.subarray(0, 20)],
          /ends inside a record/,
        ],
      ];
      for (const [name, body, re] of bad) {
        const got = await post(rec.url, body);
        const err = got.find((l) => l.error)?.error ?? "";
        assert.match(err, re, name);
      }
    } finally {
      await rec.close();
    }
  },
);

Deno.test(
  "POST /v2/recordings stops a recording at an API event record (events have their own stream)",
  opts,
  async () => {
    const rec = await startRecorder();
    try {
      const body = new Uint8Array([
        ...encodeRecord(
          RecordType.HEADER,
          1,
          enc.encode(JSON.stringify(testHeader("mixed"))),
        ),
        ...encodeRecord(
          RecordType.EVENT,
          2,
          enc.encode(JSON.stringify(event("m"))),
        ),
      ]);
      const r = await upload(rec.url, UP, "mixed", body);
      assert.equal(r.status, 200);
      const err = r.acks.find((a) => a.error)?.error ?? "";
      assert.match(err, /an API event record belongs to an events stream/);
      assert.equal((await rec.query("")).items.length, 0);
    } finally {
      await rec.close();
    }
  },
);

Deno.test(
  "EventStream: opens on the next recorder of the list when the first is down, and again after the recorder it used goes away",
  opts,
  async () => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const dead = `http://127.0.0.1:${(l.addr as Deno.NetAddr).port}`;
    l.close();
    const a = await startRecorder();
    const b = await startRecorder();
    const s = new EventStream({
      urls: [dead, a.url, b.url],
      proxyHostname: "p",
      token: UP,
      logger: memoryLogger(),
      ackTimeoutMs: 1000,
    });
    try {
      await s.send(event("f1"), { wait: true });
      assert.equal((await a.query("")).items.length, 1);
      await a.close();
      // The stream to a breaks (its server is gone); the next waiting send
      // either fails with the reason or lands on b. Once broken, b takes it.
      let sent = false;
      for (let i = 0; i < 50 && !sent; i++) {
        sent = await s.send(event(`f2-${i}`), { wait: true }).then(
          () => true,
          () => false,
        );
      }
      assert.ok(sent);
      assert.ok((await b.query("")).items.length >= 1);
      assert.equal(s.stats.streams, 2);
    } finally {
      await s.close();
      await b.close();
    }
  },
);

Deno.test(
  "EventStream across streams the recorder ends at events.maxStreamBytes: every event stored exactly once, fail-closed senders acknowledged, each file within the bound",
  opts,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "execgate-evrot-" });
    const BOUND = 4096;
    const store = new DiskEventStore({ dir: `${dir}/events` });
    const sqlite = new SqliteIndex(`${dir}/index.sqlite`);
    const index = sqlite.events();
    const rlog = memoryLogger();
    const r = createRecorder(
      parseRecorderConfig({
        auth: { uploaderTokens: [UP], viewerTokens: [VIEW] },
        ackIntervalMs: 100,
        events: { maxStreamBytes: BOUND },
      }),
      {
        storage: new DiskStorage({ dir: `${dir}/rec` }),
        events: { store, index },
        logger: rlog,
      },
    );
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      r.app.fetch,
    );
    const url = `http://127.0.0.1:${server.addr.port}`;
    const log = memoryLogger();
    const s = new EventStream({
      urls: [url],
      proxyHostname: "p",
      token: UP,
      logger: log,
    });
    const N = 400;
    const ids = Array.from({ length: N }, (_, i) => `r${i}`);
    try {
      // Bursts of concurrent senders, every third one fail closed, so cuts
      // fall between queued, in-flight and waiting records.
      for (let b = 0; b < N; b += 50) {
        await Promise.all(
          ids.slice(b, b + 50).map((id, i) =>
            s.send(event(id, { target: `/api/v1/pods/${id}` }), {
              wait: i % 3 === 0,
            })
          ),
        );
      }
      await s.close();
      assert.equal(s.stats.lost, 0);
      assert.equal(s.stats.sent, N);
      const files = await store.list();
      assert.ok(files.length >= 10, `rotated: ${files.length} streams`);
      assert.equal(s.stats.streams, files.length);
      // The evidence: each event exactly once over all streams, each stream
      // a HEADER and then events, within the bound.
      const seen = new Map<string, number>();
      for (const f of files) {
        const bytes = await Deno.readFile(`${dir}/events/${f}.records`);
        assert.ok(bytes.length <= BOUND, `${f}: ${bytes.length} bytes`);
        const recs = new RecordDecoder().push(bytes);
        assert.equal(recs[0]!.type, RecordType.HEADER);
        for (const rec of recs.slice(1)) {
          const e = JSON.parse(new TextDecoder().decode(rec.payload));
          seen.set(e.id, (seen.get(e.id) ?? 0) + 1);
        }
      }
      assert.deepEqual([...seen.keys()].sort(), [...ids].sort());
      assert.ok([...seen.values()].every((n) => n === 1), "stored once each");
      // And the index holds every one.
      const found = new Set<string>();
      let cursor: string | undefined;
      do {
        const page = await index.query({
          limit: 1000,
          ...(cursor ? { cursor } : {}),
        });
        for (const e of page.items) found.add(e.request.id);
        cursor = page.next;
      } while (cursor);
      assert.equal(found.size, N);
      assert.ok(
        rlog.lines.some((l) =>
          l.msg === "events stream ended at its size bound"
        ),
      );
      assert.ok(
        log.lines.some((l) => l.msg === "events stream ended by the recorder"),
      );
      assert.ok(!log.lines.some((l) => l.msg === "events stream broke"));
    } finally {
      await s.close();
      await server.shutdown();
      await r.close();
      await sqlite.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "EventStream: a recorder that ends a stream without taking an event refuses the waiting sender, no new stream for ever",
  opts,
  async () => {
    const lines = new TextEncoder();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (req) => {
        const reader = req.body!.getReader();
        const body = new ReadableStream<Uint8Array>({
          async start(c) {
            // Ack the HEADER record, then end at the first event.
            const first = (await reader.read()).value!;
            const headerLen = 13 + new DataView(first.buffer, first.byteOffset)
              .getUint32(9);
            c.enqueue(lines.encode(JSON.stringify({ ack: headerLen }) + "\n"));
            let got = first.length;
            while (got <= headerLen) {
              const { value, done } = await reader.read();
              if (done) break;
              got += value.length;
            }
            c.enqueue(
              lines.encode(
                JSON.stringify({ ack: headerLen, done: true, full: true }) +
                  "\n",
              ),
            );
            c.close();
            await reader.cancel().catch(() => {});
          },
        });
        return new Response(body);
      },
    );
    const log = memoryLogger();
    const s = new EventStream({
      urls: [`http://127.0.0.1:${server.addr.port}`],
      proxyHostname: "p",
      logger: log,
    });
    try {
      await assert.rejects(
        s.send(event("x1"), { wait: true }),
        /without taking an event/,
      );
      assert.equal(s.stats.streams, 1);
    } finally {
      await s.close();
      await server.shutdown();
    }
  },
);

Deno.test(
  "EventStream across a stream the recorder ends at events.maxStreamAgeMs: a quiet stream closes, the next event goes on a new one",
  opts,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "execgate-evage-" });
    const store = new DiskEventStore({ dir: `${dir}/events` });
    const index = new MemoryEventIndex();
    const rlog = memoryLogger();
    let clock = 1_790_000_000_000;
    const r = createRecorder(
      parseRecorderConfig({
        auth: { uploaderTokens: [UP], viewerTokens: [VIEW] },
        ackIntervalMs: 20,
        events: { maxStreamAgeMs: 60_000 },
      }),
      {
        storage: new DiskStorage({ dir: `${dir}/rec` }),
        events: { store, index },
        logger: rlog,
        now: () => clock,
      },
    );
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      r.app.fetch,
    );
    const log = memoryLogger();
    const s = new EventStream({
      urls: [`http://127.0.0.1:${server.addr.port}`],
      proxyHostname: "p",
      token: UP,
      logger: log,
    });
    try {
      await s.send(event("old"), { wait: true });
      clock += 61_000;
      // The next keepalive tick ends the stream (polled, not timed).
      for (
        let i = 0;
        i < 500 &&
        !log.lines.some((l) => l.msg === "events stream ended by the recorder");
        i++
      ) await new Promise((res) => setTimeout(res, 10));
      assert.ok(
        rlog.lines.some((l) =>
          l.msg === "events stream ended at its age bound" &&
          l.maxStreamAgeMs === 60_000
        ),
      );
      const first = await store.list();
      assert.equal(first.length, 1);
      const st = await store.stat(parseRecordingId(first[0]!)!);
      assert.equal(st?.open, false, "closed: retention may delete it");
      await s.send(event("new"), { wait: true });
      // The response of a request the first stream took comes on the new
      // one (a watch that outlives a stream): it joins its request.
      await s.send(
        { phase: "response", id: "old", timeMs: 2, status: 200 },
        { wait: true },
      );
      await s.close();
      const all = await store.list();
      assert.equal(all.length, 2, "the next event opened a new stream");
      assert.equal(s.stats.streams, 2);
      assert.equal(s.stats.lost, 0);
      const rows = (await index.query({ limit: 10 })).items;
      assert.deepEqual(rows.map((e) => e.request.id).sort(), ["new", "old"]);
      assert.equal(
        rows.find((e) => e.request.id === "old")?.response?.status,
        200,
      );
      assert.ok(!log.lines.some((l) => l.msg === "events stream broke"));
      // A third stream cannot claim the first one again, so it cannot
      // answer for its requests.
      const second = all.find((x) => x !== first[0])!;
      const header = enc.encode(
        JSON.stringify({ kind: "events", continues: first[0] }),
      );
      const acks = await post(`http://127.0.0.1:${server.addr.port}`, [
        encodeRecord(RecordType.HEADER, 0, header),
        encodeRecord(
          RecordType.EVENT,
          1,
          enc.encode(JSON.stringify({
            phase: "response",
            id: "old",
            timeMs: 3,
            status: 403,
          })),
        ),
      ]);
      assert.equal(acks.at(-1).done, true);
      assert.ok(
        rlog.lines.some((l) =>
          l.msg === "events stream continues no stream of this recorder" &&
          l.continues === first[0]
        ),
      );
      assert.equal(
        (await index.query({ limit: 10 })).items.find((e) =>
          e.request.id === "old"
        )?.response?.status,
        200,
        "not replaced",
      );
      // Rebuilt from the stored streams, the join is the same.
      const rebuilt = new MemoryEventIndex();
      await rebuildEventIndex(store, rebuilt);
      const back = (await rebuilt.query({ limit: 10 })).items;
      assert.equal(
        back.find((e) => e.request.id === "old")?.response?.status,
        200,
      );
      assert.ok(second);
    } finally {
      await s.close();
      await server.shutdown();
      await r.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
