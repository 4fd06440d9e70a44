import assert from "node:assert/strict";
import {
  encodeRecord,
  encodeRecordHeader,
  MAX_RECORD_PAYLOAD,
  RECORDS_CONTENT_TYPE,
  RECORDS_UPLOAD_PATH,
  RecordType,
} from "../protocol/records.ts";
import { concatBytes } from "../bytes.ts";
import {
  MIN_HEADER_BYTES,
  MIN_LINE_BYTES,
  parseRecorderConfig,
} from "./config.ts";
import { DiskStorage } from "./disk_storage.ts";
import type { IngestResult } from "./ingest.ts";
import { type ServedRecorder, serveRecorder } from "./serve.ts";
import { filesUnder, linesOf, startS3, type TestS3 } from "./_test_util.ts";
import { SESSION_HEADER } from "../recording/wire.ts";
import {
  buildSession,
  endRecordOf,
  type TestSession,
  uploadRecords,
} from "./_test_records.ts";
import { asciinemaAccepts } from "../../tests/_recorder.ts";

const UP = "uploader-token-0123456789";
const VIEW = "viewer-token-0123456789";
const enc = new TextEncoder();

interface Fixture {
  url: string;
  dir: string;
  served: ServedRecorder;
  nextResult(): Promise<IngestResult>;
  close(): Promise<void>;
}

async function start(
  kind: "disk" | "s3",
  over: Record<string, unknown> = {},
): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "execgate-rec-v2-" });
  let s3: TestS3 | undefined;
  if (kind === "s3") s3 = await startS3("execgate-v2");
  const config = parseRecorderConfig({
    listen: { hostname: "127.0.0.1", port: 0 },
    auth: { uploaderTokens: [UP], viewerTokens: [VIEW] },
    storage: s3
      ? {
        kind: "s3",
        bucket: "execgate-v2",
        endpoint: s3.endpoint,
        region: "us-east-1",
        forcePathStyle: true,
        accessKeyId: "S3RVER",
        secretAccessKey: "S3RVER",
        segmentBytes: 5 * 1024 * 1024,
      }
      : { kind: "disk", dir },
    ...over,
  });
  const waiting: ((r: IngestResult) => void)[] = [];
  const done: IngestResult[] = [];
  const served = await serveRecorder(config, {
    ...(s3 ? {} : { storage: new DiskStorage({ dir }) }),
    onUpload: (r) => {
      const w = waiting.shift();
      if (w) w(r);
      else done.push(r);
    },
  });
  return {
    url: served.url,
    dir,
    served,
    nextResult: () => {
      const r = done.shift();
      return r ? Promise.resolve(r) : new Promise((res) => waiting.push(res));
    },
    async close() {
      await served.close();
      await s3?.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function get(f: Fixture, path: string) {
  const res = await fetch(f.url + path, {
    headers: { authorization: `Bearer ${VIEW}` },
  });
  return {
    status: res.status,
    type: res.headers.get("content-type"),
    bytes: new Uint8Array(await res.arrayBuffer()),
  };
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

function sessions(): TestSession[] {
  const euro = enc.encode("€"); // 3 bytes
  const control = new Uint8Array(300_000);
  for (let i = 0; i < control.length; i++) control[i] = i % 32;
  return [
    {
      sessionId: "tty",
      tty: true,
      steps: [
        {
          at: 1,
          resize: '{"Width":100,"Height":30}\n',
          shows: { width: 100, height: 30 },
        },
        { at: 5, out: 1, data: "$ ls\r\n\x1b[1;34mdir\x1b[0m\r\n" },
        {
          at: 7,
          resize: '{"Width":0,"Height":0}',
          shows: { width: 0, height: 0 },
        },
        {
          at: 8,
          resize: "{bad",
          shows: 'resize message is not a terminal size (not JSON): "{bad"',
        },
        {
          at: 9,
          resize: '{"Width":-1,"Height":2}',
          shows:
            'resize message is not a terminal size (Width and Height are not both non-negative integers): "{\\"Width\\":-1,\\"Height\\":2}"',
        },
        { at: 10, marker: "failover to recorder-2" },
        { at: 12, status: '{"metadata":{},"status":"Success"}' },
      ],
      endAt: 13,
    },
    {
      sessionId: "no-tty",
      tty: false,
      steps: [
        { at: 2, out: 1, data: "a\nb\n" },
        { at: 3, out: 2, data: "oops\n" },
        {
          at: 4,
          status:
            '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}',
        },
      ],
      endAt: 5,
    },
    {
      sessionId: "utf8-split",
      tty: false,
      steps: [
        { at: 1, out: 1, data: enc.encode("é").subarray(0, 1) },
        { at: 2, out: 2, data: euro.subarray(0, 1) },
        { at: 3, out: 1, data: enc.encode("é").subarray(1) },
        { at: 4, out: 2, data: euro.subarray(1, 2) },
        {
          at: 5,
          out: 2,
          data: concatBytes([euro.subarray(2), enc.encode("\n")]),
        },
      ],
      endAt: 6,
    },
    {
      sessionId: "invalid-utf8",
      tty: true,
      steps: [
        { at: 1, out: 1, data: new Uint8Array([0x61, 0xff, 0xfe, 0x62]) },
        { at: 2, out: 1, data: new Uint8Array([0xe2, 0x82]) },
      ],
      endAt: 3,
    },
    {
      sessionId: "control-300k",
      tty: false,
      steps: [
        { at: 1, out: 1, data: control.subarray(0, 100_000) },
        { at: 2, out: 1, data: control.subarray(100_000) },
      ],
      endAt: 4,
    },
    {
      sessionId: "big-resize",
      tty: true,
      steps: [{
        at: 1,
        resize: " ".repeat(5000),
        shows:
          `resize message is not a terminal size (5000 bytes, the first 4096 shown): ${
            JSON.stringify(" ".repeat(4096))
          }`,
      }],
      endAt: 2,
    },
  ];
}

for (const kind of ["disk", "s3"] as const) {
  Deno.test(`Recorder v2 (${kind}) stores the uploaded records byte for byte and derives the cast the v1 encoder made`, async () => {
    const f = await start(kind);
    try {
      for (const s of sessions()) {
        const built = buildSession(s);
        const r = await uploadRecords(f.url, UP, s.sessionId, built.records);
        assert.equal(r.status, 200, s.sessionId);
        assert.deepEqual(r.acks[0], { ack: 0 });
        const last = r.acks.at(-1)!;
        assert.equal(
          last.complete,
          true,
          `${s.sessionId}: ${JSON.stringify(r.acks)}`,
        );
        assert.equal(last.ack, built.records.length);
        const result = await f.nextResult();
        assert.equal(result.outcome, "complete", s.sessionId);
        const id = result.id!;
        const m = JSON.parse(
          text((await get(f, `/v1/recordings/${id}`)).bytes),
        );
        assert.equal(m.status, "complete");
        assert.equal(m.format, "records");
        assert.equal(m.castBytes, built.records.length);
        assert.deepEqual(m.end, built.end);
        const ev = await get(f, `/v1/recordings/${id}/evidence`);
        assert.equal(ev.type, RECORDS_CONTENT_TYPE);
        assert.deepEqual(ev.bytes, built.records, `${s.sessionId} evidence`);
        const cast = await get(f, `/v1/recordings/${id}/cast`);
        assert.equal(cast.type, "application/x-asciicast");
        assert.equal(text(cast.bytes), built.cast, `${s.sessionId} cast`);
        const out = await get(f, `/v1/recordings/${id}/stdout`);
        assert.deepEqual(out.bytes, built.stdout, `${s.sessionId} stdout`);
        if (kind === "disk") {
          const played = await asciinemaAccepts(built.cast);
          assert.ok(played.ok, `${s.sessionId}: ${played.text}`);
        }
      }
      const m = JSON.parse(
        text((await get(f, "/v1/recordings?q=oops")).bytes),
      );
      assert.deepEqual(
        m.items.map((i: { sessionId: string }) => i.sessionId),
        ["no-tty"],
        "the text index is built from stdout/stderr",
      );
      const exit = JSON.parse(
        text(
          (await get(f, `/v1/recordings?limit=100`)).bytes,
        ),
      ).items.find((i: { sessionId: string }) => i.sessionId === "no-tty");
      assert.equal(exit.end.exitCode, 3);
    } finally {
      await f.close();
    }
  });

  Deno.test(`Recorder v2 (${kind}) serves 5 MiB of random stdout byte for byte`, async () => {
    const f = await start(kind);
    try {
      // Fixed-seed pseudo-random bytes (xorshift32).
      const data = new Uint8Array(5 * 1024 * 1024);
      let x = 0x9e3779b9;
      for (let i = 0; i < data.length; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        data[i] = x & 0xff;
      }
      const steps = [];
      for (let off = 0; off < data.length; off += MAX_RECORD_PAYLOAD) {
        steps.push({
          at: off / MAX_RECORD_PAYLOAD,
          out: 1 as const,
          data: data.subarray(off, off + MAX_RECORD_PAYLOAD),
        });
      }
      const built = buildSession({
        sessionId: "cp",
        tty: false,
        steps,
        endAt: 10,
      });
      const r = await uploadRecords(f.url, UP, "cp", built.records);
      assert.equal(
        r.acks.at(-1)?.complete,
        true,
        JSON.stringify(r.acks.at(-1)),
      );
      const id = (await f.nextResult()).id!;
      const out = await get(f, `/v1/recordings/${id}/stdout`);
      assert.equal(out.type, "application/octet-stream");
      assert.equal(out.bytes.length, data.length);
      assert.deepEqual(out.bytes, data);
      const ev = await get(f, `/v1/recordings/${id}/evidence`);
      assert.deepEqual(ev.bytes, built.records);
    } finally {
      await f.close();
    }
  });

  Deno.test(`Recorder v2 (${kind}) keeps every complete record before a problem after the header, partial, with what and where`, async () => {
    const f = await start(kind, {
      limits: {
        maxLineBytes: MIN_LINE_BYTES,
        maxHeaderBytes: MIN_HEADER_BYTES,
        maxRecordingBytes: MIN_LINE_BYTES,
      },
    });
    try {
      const cases: {
        name: string;
        body: (sid: string) => { body: Uint8Array; kept: Uint8Array };
        reason: RegExp;
      }[] = [
        {
          name: "unknown record type",
          body: (sid) => {
            const b = base(sid);
            const bad = encodeRecord(99 as 2, 0, enc.encode("x"));
            return { body: concatBytes([b.beforeEnd, bad]), kept: b.beforeEnd };
          },
          reason: /^Cannot decode record at byte \d+: type 99 is unknown$/,
        },
        {
          name: "oversize record",
          body: (sid) => {
            const b = base(sid);
            const h = encodeRecordHeader(RecordType.STDOUT, 0, 0);
            new DataView(h.buffer).setUint32(9, MAX_RECORD_PAYLOAD + 1);
            return {
              body: concatBytes([b.beforeEnd, h, new Uint8Array(100)]),
              kept: b.beforeEnd,
            };
          },
          reason:
            /^Cannot decode stdout record at byte \d+: payload of 1048577 bytes exceeds the limit of 1048576$/,
        },
        {
          name: "record after the end",
          body: (sid) => {
            const b = base(sid);
            const after = encodeRecord(RecordType.STDOUT, 1, enc.encode("x"));
            return {
              body: concatBytes([b.records, after]),
              kept: b.records,
            };
          },
          reason:
            /^Cannot decode record at byte \d+: stdout after the end record$/,
        },
        {
          name: "torn record at the end",
          body: (sid) => {
            const b = base(sid);
            const torn = encodeRecord(RecordType.STDOUT, 1, enc.encode("hello"))
              .subarray(0, 15);
            return {
              body: concatBytes([b.beforeEnd, torn]),
              kept: b.beforeEnd,
            };
          },
          reason:
            /^Cannot decode record at byte \d+: the upload ended 15 bytes into it$/,
        },
        {
          name: "over maxRecordingBytes",
          body: (sid) => {
            const big = buildSession({
              sessionId: sid,
              tty: false,
              steps: [
                { at: 1, out: 1, data: "x".repeat(300_000) },
                { at: 2, out: 1, data: "y".repeat(300_000) },
              ],
              endAt: 3,
            });
            const first = buildSession({
              sessionId: sid,
              tty: false,
              steps: [{ at: 1, out: 1, data: "x".repeat(300_000) }],
              endAt: false,
            });
            return { body: big.records, kept: first.records };
          },
          reason: new RegExp(
            `^the upload exceeded the limit of ${MIN_LINE_BYTES} bytes at byte ${MIN_LINE_BYTES}$`,
          ),
        },
        {
          name: "end record not JSON",
          body: (sid) => {
            const b = base(sid);
            const bad = encodeRecord(RecordType.END, 9, enc.encode("{bad"));
            return { body: concatBytes([b.beforeEnd, bad]), kept: b.beforeEnd };
          },
          reason:
            /^Cannot accept the end record at byte \d+: it is not valid JSON/,
        },
        {
          name: "end record digest mismatch",
          body: (sid) => {
            const b = base(sid);
            const end = structuredClone(b.end!);
            end.channels.stdout.sha256 = "0".repeat(64);
            const body = concatBytes([b.beforeEnd, endRecordOf(end, 9)]);
            return { body, kept: body };
          },
          reason:
            /^the end record says stdout is 6 bytes with SHA-256 0{64}, but the recorder stored 6 bytes with SHA-256 [0-9a-f]{64}$/,
        },
        {
          name: "end record castBytes mismatch",
          body: (sid) => {
            const b = base(sid);
            const body = concatBytes([
              b.beforeEnd,
              endRecordOf({ ...b.end!, castBytes: 5 }, 9),
            ]);
            return { body, kept: body };
          },
          reason:
            /^the end record says castBytes 5, but \d+ bytes of records came before it$/,
        },
      ];
      for (const [i, c] of cases.entries()) {
        const sid = `after-${i}`;
        const { body, kept } = c.body(sid);
        const r = await uploadRecords(f.url, UP, sid, body);
        assert.equal(r.status, 200, c.name);
        const errors = r.acks.filter((a) => a.error);
        assert.equal(errors.length, 1, `${c.name}: ${JSON.stringify(r.acks)}`);
        assert.match(errors[0]!.error!, c.reason, c.name);
        const result = await f.nextResult();
        assert.equal(result.outcome, "partial", c.name);
        const m = JSON.parse(
          text((await get(f, `/v1/recordings/${result.id}`)).bytes),
        );
        assert.equal(m.status, "partial", c.name);
        assert.match(m.partialReason, c.reason, c.name);
        assert.equal(m.castBytes, kept.length, c.name);
        const ev = await get(f, `/v1/recordings/${result.id}/evidence`);
        assert.deepEqual(ev.bytes, kept, c.name);
        const cast = text(
          (await get(f, `/v1/recordings/${result.id}/cast`)).bytes,
        );
        assert.match(cast, /^\{"version":2,/, c.name);
        if (kind === "disk") {
          const played = await asciinemaAccepts(cast);
          assert.ok(played.ok, `${c.name}: ${played.text}`);
        }
      }
    } finally {
      await f.close();
    }
  });
}

/** A small complete session. */
function base(sid: string) {
  return buildSession({
    sessionId: sid,
    tty: false,
    steps: [
      { at: 1, out: 1, data: "hello\n" },
      {
        at: 2,
        resize: '{"Width":90,"Height":20}',
        shows: { width: 90, height: 20 },
      },
    ],
    endAt: 3,
  });
}

Deno.test("Recorder v2 keeps what arrived before a disconnect, partial", async () => {
  const f = await start("disk");
  try {
    const b = base("gone");
    const abort = new AbortController();
    const res = await fetch(f.url + RECORDS_UPLOAD_PATH, {
      method: "POST",
      headers: {
        "content-type": RECORDS_CONTENT_TYPE,
        authorization: `Bearer ${UP}`,
        [SESSION_HEADER]: "gone",
      },
      body: new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(b.beforeEnd); // and never ends
        },
      }),
      duplex: "half",
      signal: abort.signal,
    } as RequestInit);
    // Read acks until every byte sent is acknowledged, then go away.
    for await (const line of linesOf(res.body!)) {
      if (JSON.parse(line).ack === b.beforeEnd.length) break;
    }
    abort.abort();
    const result = await f.nextResult();
    assert.equal(result.outcome, "partial");
    assert.match(result.reason!, /^the upload was interrupted at byte \d+/);
    const ev = await get(f, `/v1/recordings/${result.id}/evidence`);
    assert.deepEqual(ev.bytes, b.beforeEnd);
  } finally {
    await f.close();
  }
});

Deno.test("Recorder v2 refuses a bad header and stores nothing", async () => {
  const f = await start("disk");
  try {
    const good = base("h");
    const headerOf = (json: string) =>
      encodeRecord(RecordType.HEADER, 0, enc.encode(json));
    const cases: [string, Uint8Array, RegExp][] = [
      [
        "not JSON",
        headerOf("{"),
        /^Cannot accept the header record at byte 0: it is not valid JSON/,
      ],
      [
        "wrong version",
        headerOf('{"version":3,"width":80,"height":24,"sessionId":"h"}'),
        /^Cannot accept the header record at byte 0: header version is 3, expected 2$/,
      ],
      [
        "other session",
        headerOf('{"version":2,"width":80,"height":24,"sessionId":"x"}'),
        /does not match the session id "h"$/,
      ],
      [
        "output first",
        encodeRecord(RecordType.STDOUT, 0, enc.encode("x")),
        /^Cannot decode record at byte 0: the stream starts with stdout, expected header$/,
      ],
      [
        "torn header",
        good.records.subarray(0, 40),
        /^Cannot decode record at byte 0: the upload ended 40 bytes into it$/,
      ],
      [
        "header over maxHeaderBytes",
        headerOf(" ".repeat(600 * 1024)),
        /^Cannot accept the header record at byte 0: 614400 bytes exceed the limit of 524288$/,
      ],
    ];
    for (const [name, body, reason] of cases) {
      const full = name === "torn header"
        ? body
        : concatBytes([body, good.records]);
      const r = await uploadRecords(f.url, UP, "h", full);
      assert.equal(r.status, 200, name);
      assert.match(r.acks.at(-1)?.error ?? "", reason, name);
      const result = await f.nextResult();
      assert.equal(result.outcome, "rejected", name);
      assert.deepEqual(await filesUnder(f.dir), [], name);
    }
  } finally {
    await f.close();
  }
});

Deno.test("Recorder v2 stores the same evidence and cast whatever the body's chunk boundaries", async () => {
  const f = await start("disk");
  try {
    const b = buildSession({
      sessionId: "split",
      tty: false,
      steps: [
        { at: 1, out: 1, data: "é\n" },
        {
          at: 2,
          resize: '{"Width":1,"Height":2}',
          shows: { width: 1, height: 2 },
        },
        { at: 3, out: 2, data: "e" },
      ],
      endAt: 4,
    });
    for (let i = 0; i <= b.records.length; i++) {
      const sid = `split-${i}`;
      const built = buildSession({
        sessionId: sid,
        tty: false,
        steps: [
          { at: 1, out: 1, data: "é\n" },
          {
            at: 2,
            resize: '{"Width":1,"Height":2}',
            shows: { width: 1, height: 2 },
          },
          { at: 3, out: 2, data: "e" },
        ],
        endAt: 4,
      });
      const bytes = built.records;
      const r = await uploadRecords(
        f.url,
        UP,
        sid,
        ReadableStream.from([bytes.slice(0, i), bytes.slice(i)]),
      );
      assert.equal(r.acks.at(-1)?.complete, true, `split at ${i}`);
      const id = (await f.nextResult()).id!;
      assert.deepEqual(
        (await get(f, `/v1/recordings/${id}/evidence`)).bytes,
        bytes,
      );
      assert.equal(
        text((await get(f, `/v1/recordings/${id}/cast`)).bytes),
        built.cast,
        `split at ${i}`,
      );
    }
  } finally {
    await f.close();
  }
});

Deno.test("Recorder v2 stores a session the upstream refused as refused, and a live one as recording", async () => {
  const f = await start("disk");
  try {
    const b = buildSession({
      sessionId: "no",
      tty: false,
      steps: [],
      endAt: 1,
    });
    const end = {
      ...b.end!,
      reason: "refused",
      upstream: { status: 403, message: "forbidden" },
    };
    const r = await uploadRecords(
      f.url,
      UP,
      "no",
      concatBytes([b.beforeEnd, endRecordOf(end, 1)]),
    );
    assert.equal(r.acks.at(-1)?.done, true);
    assert.equal(r.acks.at(-1)?.complete, false);
    const result = await f.nextResult();
    assert.equal(result.outcome, "refused");
    const m = JSON.parse(
      text((await get(f, `/v1/recordings/${result.id}`)).bytes),
    );
    assert.equal(m.status, "refused");
    assert.deepEqual(m.end.upstream, end.upstream);

    // A live upload: the header is acknowledged at once and shown recording.
    const live = base("live");
    let finish!: () => void;
    const closed = new Promise<void>((r) => finish = r);
    const res = await fetch(f.url + RECORDS_UPLOAD_PATH, {
      method: "POST",
      headers: {
        "content-type": RECORDS_CONTENT_TYPE,
        authorization: `Bearer ${UP}`,
        [SESSION_HEADER]: "live",
      },
      body: new ReadableStream<Uint8Array>({
        async start(c) {
          c.enqueue(live.beforeEnd);
          await closed;
          c.enqueue(live.endRecord);
          c.close();
        },
      }),
      duplex: "half",
    } as RequestInit);
    // Read acks without cancelling the response (a break would).
    const acks = linesOf(res.body!);
    let id = "";
    while (true) {
      const next = await acks.next();
      assert.ok(!next.done, "the ack stream ended early");
      if (JSON.parse(next.value).ack === live.beforeEnd.length) break;
    }
    const list = JSON.parse(
      text((await get(f, "/v1/recordings?status=recording")).bytes),
    );
    assert.deepEqual(
      list.items.map((i: { sessionId: string }) => i.sessionId),
      ["live"],
    );
    id = list.items[0].id;
    const cast = text((await get(f, `/v1/recordings/${id}/cast`)).bytes);
    assert.match(cast, /"hello\\r\\n"/, "the cast of a live recording so far");
    finish();
    for await (const line of acks) {
      const a = JSON.parse(line);
      if (a.done) assert.equal(a.complete, true);
    }
    assert.equal((await f.nextResult()).outcome, "complete");
  } finally {
    await f.close();
  }
});

Deno.test("Recorder v2 keeps an upload that ends without its end record, partial; refuses a declared size over the limit", async () => {
  const f = await start("disk", {
    limits: {
      maxLineBytes: MIN_LINE_BYTES,
      maxHeaderBytes: MIN_HEADER_BYTES,
      maxRecordingBytes: MIN_LINE_BYTES,
    },
  });
  try {
    const b = base("noend");
    const r = await uploadRecords(f.url, UP, "noend", b.beforeEnd);
    assert.equal(r.acks.at(-1)?.done, true);
    assert.equal(r.acks.at(-1)?.complete, false);
    const result = await f.nextResult();
    assert.equal(result.outcome, "partial");
    assert.equal(result.reason, "the upload ended without the end record");
    const ev = await get(f, `/v1/recordings/${result.id}/evidence`);
    assert.deepEqual(ev.bytes, b.beforeEnd);

    const res = await fetch(f.url + RECORDS_UPLOAD_PATH, {
      method: "POST",
      headers: {
        authorization: `Bearer ${UP}`,
        [SESSION_HEADER]: "big",
        "content-type": RECORDS_CONTENT_TYPE,
      },
      body: new Uint8Array(MIN_LINE_BYTES + 1),
    });
    assert.equal(res.status, 413);
    assert.match(
      await res.text(),
      new RegExp(`exceeds the limit of ${MIN_LINE_BYTES} bytes`),
    );
  } finally {
    await f.close();
  }
});

Deno.test("parseEndRecord takes stdinBytes when it is a byte count, and end records without it", async () => {
  const { parseEndRecord } = await import("./records_ingest.ts");
  const d = { bytes: 0, sha256: "" };
  const end = (more: Record<string, unknown>) =>
    new TextEncoder().encode(JSON.stringify({
      sessionId: "s",
      reason: "normal",
      castBytes: 0,
      channels: { stdout: d, stderr: d },
      ...more,
    }));
  assert.equal(parseEndRecord(end({ stdinBytes: 6656 }), "s").stdinBytes, 6656);
  assert.equal(parseEndRecord(end({}), "s").stdinBytes, undefined);
  for (const bad of [-1, 1.5, "12", null, 2 ** 60]) {
    assert.throws(
      () => parseEndRecord(end({ stdinBytes: bad }), "s"),
      /its stdinBytes is not a byte count/,
      String(bad),
    );
  }
});
