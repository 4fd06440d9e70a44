import assert from "node:assert/strict";
import { parseRecorderConfig } from "./config.ts";
import { CastEncoder } from "../recording/cast_encoder.ts";
import { RecordingSession } from "../recording/recording_session.ts";
import { memoryLogger } from "../log.ts";
import { DiskStorage } from "./disk_storage.ts";
import { makeRecordingId } from "./recording_id.ts";
import type { IngestResult } from "./ingest.ts";
import { type ServedRecorder, serveRecorder } from "./serve.ts";
import {
  filesUnder,
  linesOf,
  testBody,
  testHeader,
  upload,
} from "./_test_util.ts";
import { MAX_REQUEST_HEAD_BYTES, SESSION_HEADER } from "../recording/wire.ts";
import {
  encodeRecord,
  RecordDecoder,
  RECORDS_UPLOAD_PATH,
  RecordType,
} from "../protocol/records.ts";
import { generateSigningKey } from "./integrity/signing_key.ts";
import { runVerify } from "./integrity/verify_command.ts";

const UP = "uploader-token-0123456789";
const VIEW = "viewer-token-0123456789";

interface Fixture {
  url: string;
  dir: string;
  served: ServedRecorder;
  /** Resolves with the next finished upload. */
  nextResult(): Promise<IngestResult>;
  close(): Promise<void>;
}

async function start(
  over: Record<string, unknown> = {},
  dir?: string,
): Promise<Fixture> {
  const owned = dir === undefined;
  dir ??= await Deno.makeTempDir({ prefix: "execgate-rec-app-" });
  const config = parseRecorderConfig({
    listen: { hostname: "127.0.0.1", port: 0 },
    auth: { uploaderTokens: [UP], viewerTokens: [VIEW] },
    storage: { kind: "disk", dir },
    ...over,
  });
  const waiting: ((r: IngestResult) => void)[] = [];
  const done: IngestResult[] = [];
  const served = await serveRecorder(config, {
    ...(over.storage ? {} : { storage: new DiskStorage({ dir }) }),
    onUpload: (r) => {
      const w = waiting.shift();
      if (w) w(r);
      else done.push(r);
    },
  });
  return {
    url: served.url,
    dir: dir!,
    served,
    nextResult: () => {
      const r = done.shift();
      return r ? Promise.resolve(r) : new Promise((res) => waiting.push(res));
    },
    async close() {
      await served.close();
      // A folder this fixture made is its own to remove.
      if (owned) await Deno.remove(dir!, { recursive: true });
    },
  };
}

async function get(f: Fixture, path: string, token?: string) {
  const res = await fetch(f.url + path, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

const EVENTS: [number, string, string][] = [
  [0.1, "o", "hello \x1b[1;32mworld\x1b[0m\r\n"],
  [0.2, "r", "100x30"],
  [0.3, "o", "done\r\n"],
];

Deno.test("Recorder stores an upload as it arrives and acknowledges it, complete", async () => {
  const f = await start();
  try {
    const { body, cast } = testBody(testHeader("sess-1"), EVENTS, {
      exitCode: 3,
    });
    const r = await upload(f.url, UP, "sess-1", body);
    assert.equal(r.status, 200);
    assert.deepEqual(r.acks[0], { ack: 0 });
    const last = r.acks.at(-1)!;
    assert.equal(last.done, true);
    assert.equal(last.complete, true);
    assert.equal(last.ack, body.length);
    assert.match(last.id!, /^\d{4}\/\d{2}\/\d{2}\/sess-1$/);
    assert.equal((await f.nextResult()).outcome, "complete");

    const detail = await get(f, `/v1/recordings/${last.id}`, VIEW);
    assert.equal(detail.status, 200);
    const m = JSON.parse(detail.body);
    assert.equal(m.status, "complete");
    assert.equal(m.end.exitCode, 3);
    assert.equal(m.header.kubernetes.podName, "web-0");

    const dl = await get(f, `/v1/recordings/${last.id}/cast`, VIEW);
    assert.equal(dl.status, 200);
    assert.equal(
      dl.body,
      cast,
      "the .cast is pure asciicast: manifest line stripped",
    );
    assert.match(
      dl.headers.get("content-disposition")!,
      /^attachment; filename="\d{4}-\d{2}-\d{2}-sess-1\.cast"$/,
    );
    // On disk: the date layout.
    assert.deepEqual(
      (await filesUnder(f.dir)).map((p) =>
        p.replace(/^\d{4}\/\d{2}\/\d{2}\//, "D/")
      ),
      ["D/sess-1.json", "D/sess-1.records", "D/sess-1.txt"],
    );
    // The same session id again is refused before streaming.
    const again = await upload(f.url, UP, "sess-1", body);
    assert.equal(again.status, 409);
  } finally {
    await f.close();
  }
});

Deno.test("Recorder refuses missing credentials (401) and the wrong kind (403)", async () => {
  const f = await start();
  try {
    const { body } = testBody(testHeader("auth-1"), EVENTS);
    assert.equal((await upload(f.url, undefined, "auth-1", body)).status, 401);
    assert.equal(
      (await upload(f.url, "not-a-valid-token-at-all", "auth-1", body)).status,
      401,
    );
    const asViewer = await upload(f.url, VIEW, "auth-1", body);
    assert.equal(asViewer.status, 403);
    assert.match(asViewer.error!, /viewer credential cannot do this/);
    assert.equal((await upload(f.url, UP, "auth-1", body)).status, 200);
    const id = (await f.nextResult()).id!;
    for (
      const path of [
        "/v1/recordings",
        `/v1/recordings/${id}`,
        `/v1/recordings/${id}/cast`,
      ]
    ) {
      assert.equal((await get(f, path)).status, 401, path);
      assert.equal((await get(f, path, "x".repeat(20))).status, 401, path);
      assert.equal((await get(f, path, UP)).status, 403, path);
      assert.equal((await get(f, path, VIEW)).status, 200, path);
    }
    // The UI cookie never grants an upload.
    const res = await fetch(f.url + RECORDS_UPLOAD_PATH, {
      method: "POST",
      headers: { cookie: `execgate_viewer=${UP}`, [SESSION_HEADER]: "auth-2" },
      body: body as BodyInit,
    });
    assert.equal(res.status, 401);
    await res.body?.cancel();
  } finally {
    await f.close();
  }
});

Deno.test("Recorder refuses path traversal in session ids and recording paths, storing nothing", async () => {
  const f = await start();
  try {
    const { body } = testBody(testHeader("x"), EVENTS);
    for (
      const sid of [
        "../x",
        "..%2Fx",
        "/etc/passwd",
        "a/b",
        "..",
        "a b",
        "x".repeat(65),
        "",
      ]
    ) {
      const r = await upload(f.url, UP, sid, body);
      assert.equal(r.status, 400, sid);
      assert.match(r.error!, /Session id|Missing/, sid);
    }
    assert.equal((await upload(f.url, UP, undefined, body)).status, 400);
    for (
      const path of [
        "/v1/recordings/2026/11/27/..%2F..%2Fetc%2Fpasswd/cast",
        "/v1/recordings/%2e%2e/%2e%2e/%2e%2e/passwd/cast",
        "/v1/recordings/2026/11/27/%2Fetc%2Fpasswd",
        "/v1/recordings/2026/13/01/abc/cast",
        "/v1/recordings/..%5C..%5Cx/cast",
      ]
    ) {
      const r = await get(f, path, VIEW);
      assert.equal(r.status, 404, path);
    }
    assert.deepEqual(await filesUnder(f.dir), []);
  } finally {
    await f.close();
  }
});

Deno.test("Recorder accepts the worst header and output a proxy can write with its default limits", async () => {
  const f = await start();
  try {
    const word = "'\u0001\"\\\u001b".repeat(MAX_REQUEST_HEAD_BYTES / 5)
      .slice(0, MAX_REQUEST_HEAD_BYTES);
    const e = new CastEncoder({
      sessionId: "worst",
      argv: [word],
      tty: true,
      identity: {
        hostname: "h",
        nodeId: "n",
        userId: "u",
        loginName: "l",
        groups: [],
      },
      kubernetes: {
        podName: "p",
        namespace: "n",
        container: "c",
        sessionType: "exec",
      },
      proxy: "proxy",
      startMs: 1_790_000_000_000,
    });
    const dec = new TextDecoder();
    const enc = new TextEncoder();
    const t = (ms: number) => ms * 1000;
    const output = new Uint8Array(300_000).map((_, i) => i % 32);
    const parts = [
      encodeRecord(
        RecordType.HEADER,
        t(1_790_000_000_000),
        enc.encode(dec.decode(e.begin()).slice(0, -1)),
      ),
      encodeRecord(
        RecordType.RESIZE,
        t(1),
        enc.encode('{"Width":0,"Height":0}'),
      ),
      encodeRecord(
        RecordType.RESIZE,
        t(2),
        enc.encode('{"Width":4000000,"Height":70000}'),
      ),
      encodeRecord(RecordType.STDOUT, t(3), output),
      encodeRecord(RecordType.STATUS, t(4), enc.encode("x".repeat(100_000))),
    ];
    e.output(1, output, 1_790_000_000_003);
    e.status(enc.encode("x".repeat(100_000)));
    const lines = dec.decode(
      e.end("normal", 1_790_000_000_004, "d".repeat(100_000)),
    )
      .trimEnd().split("\n");
    const end = JSON.parse(lines.at(-1)!)["execgate.end"];
    end.castBytes = parts.reduce((n, p) => n + p.length, 0);
    parts.push(
      encodeRecord(RecordType.END, t(4), enc.encode(JSON.stringify(end))),
    );
    const r = await upload(f.url, UP, "worst", ReadableStream.from(parts));
    assert.equal(r.acks.at(-1)?.complete, true, JSON.stringify(r.acks.at(-1)));
    const result = await f.nextResult();
    const m = JSON.parse(
      (await get(f, `/v1/recordings/${result.id}`, VIEW)).body,
    );
    assert.deepEqual(m.header.argv, [word]);
  } finally {
    await f.close();
  }
});

Deno.test("Recorder stores an attempt the API server refused as refused, never complete, and lists it", async () => {
  const f = await start();
  try {
    const { body, cast } = testBody(testHeader("nope"), [], {
      reason: "refused",
      detail: "the upstream answered 403",
      upstream: { status: 403, message: 'pods "web-0" is forbidden' },
      exitCode: undefined,
    });
    const r = await upload(f.url, UP, "nope", body);
    const last = r.acks.at(-1)!;
    assert.equal(last.done, true);
    assert.equal(last.complete, false);
    const result = await f.nextResult();
    assert.equal(result.outcome, "refused");
    const m = JSON.parse(
      (await get(f, `/v1/recordings/${result.id}`, VIEW)).body,
    );
    assert.equal(m.status, "refused");
    assert.deepEqual(m.end.upstream, {
      status: 403,
      message: 'pods "web-0" is forbidden',
    });
    assert.equal(
      (await get(f, `/v1/recordings/${result.id}/cast`, VIEW)).body,
      cast,
    );
    const refused = JSON.parse(
      (await get(f, "/v1/recordings?status=refused", VIEW)).body,
    );
    assert.deepEqual(refused.items.map((i: { id: string }) => i.id), [
      result.id,
    ]);
    const complete = JSON.parse(
      (await get(f, "/v1/recordings?status=complete", VIEW)).body,
    );
    assert.deepEqual(complete.items, []);
    const bad = await get(f, "/v1/recordings?status=done", VIEW);
    assert.equal(bad.status, 400);
    assert.match(
      bad.body,
      /Parameter \\"status\\" is \\"done\\": expected one of/,
    );
    const page = await get(f, `/ui/r/${result.id}`, VIEW);
    assert.match(
      page.body,
      /refused by the API server: 403 pods &quot;web-0&quot; is forbidden/,
    );
  } finally {
    await f.close();
  }
});

Deno.test("Recorder acknowledges at every interval while the upload is idle", async () => {
  const f = await start({ ackIntervalMs: 20 });
  try {
    let ctl!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start: (c) => void (ctl = c),
    });
    const { body: full } = testBody(testHeader("idle"), EVENTS);
    // The header record alone.
    const cut = new RecordDecoder().push(full)[1]!.offset;
    ctl.enqueue(full.slice(0, cut));
    const res = await fetch(f.url + RECORDS_UPLOAD_PATH, {
      method: "POST",
      headers: { authorization: `Bearer ${UP}`, [SESSION_HEADER]: "idle" },
      body,
      duplex: "half",
    } as RequestInit);
    const acks = [];
    const lines = linesOf(res.body!);
    // Nothing more is sent: acks keep coming anyway.
    while (acks.length < 4) {
      const next = await lines.next();
      assert.ok(!next.done);
      acks.push(JSON.parse(next.value));
    }
    const idle = { ack: cut, stored: cut };
    // The header's ack names the recording (the proxy needs it to fail over).
    assert.deepEqual(acks[1], { ...idle, id: acks[1].id });
    assert.match(acks[1].id, /^\d{4}\/\d\d\/\d\d\/idle$/);
    assert.deepEqual(acks.slice(2), [idle, idle]);
    ctl.enqueue(full.slice(cut));
    ctl.close();
    let last;
    for await (const line of lines) last = JSON.parse(line);
    assert.equal(last.done, true);
    assert.equal(last.complete, true);
    await f.nextResult();
  } finally {
    await f.close();
  }
});

Deno.test("Recorder lists recordings with filters, text search and pages", async () => {
  const f = await start();
  try {
    const sessions = [
      {
        sid: "a1",
        h: { srcNodeUser: "alice@example.com", timestamp: 1_790_000_100 },
        k: { podName: "web-0" },
        out: "Listing \x1b[1mfiles\x1b[0m: secret.txt\r\n",
        exit: 0,
      },
      {
        sid: "b1",
        h: {
          srcNodeUser: "bob@example.com",
          srcNode: "bobs-mac",
          timestamp: 1_790_000_200,
          command: "psql -U admin",
        },
        k: { podName: "db-0", namespace: "data" },
        out: "psql (16.1)\r\n",
        exit: 2,
      },
      {
        sid: "t1",
        h: {
          srcNodeUser: undefined,
          srcNodeTags: ["tag:ci"],
          timestamp: 1_790_000_300,
        },
        k: { podName: "web-1", container: "sidecar" },
        out: "deploying\r\n",
        exit: 0,
      },
    ];
    for (const s of sessions) {
      const header = testHeader(s.sid, s.h as never);
      header.kubernetes = { ...header.kubernetes, ...s.k };
      const r = await upload(
        f.url,
        UP,
        s.sid,
        testBody(header, [[0.1, "o", s.out]], { exitCode: s.exit }).body,
      );
      assert.equal(r.acks.at(-1)?.complete, true);
      await f.nextResult();
    }
    const ids = async (query: string) => {
      const r = await get(f, `/v1/recordings?${query}`, VIEW);
      assert.equal(r.status, 200, `${query}: ${r.body}`);
      return JSON.parse(r.body).items.map((m: { sessionId: string }) =>
        m.sessionId
      );
    };
    assert.deepEqual(await ids(""), ["t1", "b1", "a1"], "newest first");
    assert.deepEqual(await ids("user=alice@example.com"), ["a1"]);
    assert.deepEqual(await ids("host=bobs-mac"), ["b1"]);
    assert.deepEqual(await ids("tag=tag:ci"), ["t1"]);
    assert.deepEqual(await ids("namespace=data"), ["b1"]);
    assert.deepEqual(await ids("pod=web-0"), ["a1"]);
    assert.deepEqual(await ids("container=sidecar"), ["t1"]);
    assert.deepEqual(await ids("command=PSQL"), ["b1"]);
    assert.deepEqual(await ids("exit=2"), ["b1"]);
    assert.deepEqual(await ids("from=1790000150&to=1790000250"), ["b1"]);
    assert.deepEqual(
      await ids("q=files:%20secret"),
      ["a1"],
      "escapes stripped before search",
    );
    assert.deepEqual(await ids("q=DEPLOY"), ["t1"]);
    assert.deepEqual(await ids("q=nowhere"), []);
    assert.deepEqual(await ids("status=complete&pod=web-1"), ["t1"]);
    // Pages.
    const p1 = JSON.parse((await get(f, "/v1/recordings?limit=2", VIEW)).body);
    assert.deepEqual(p1.items.map((m: { sessionId: string }) => m.sessionId), [
      "t1",
      "b1",
    ]);
    assert.ok(p1.nextCursor);
    const p2 = JSON.parse(
      (await get(f, `/v1/recordings?limit=2&cursor=${p1.nextCursor}`, VIEW))
        .body,
    );
    assert.deepEqual(p2.items.map((m: { sessionId: string }) => m.sessionId), [
      "a1",
    ]);
    assert.equal(p2.nextCursor, undefined);
    // Clear errors for bad parameters.
    const bad = await get(f, "/v1/recordings?limit=0", VIEW);
    assert.equal(bad.status, 400);
    assert.match(JSON.parse(bad.body).error, /Parameter "limit" is "0"/);
    assert.equal((await get(f, "/v1/recordings?cursor=zzz", VIEW)).status, 400);
  } finally {
    await f.close();
  }
});

Deno.test("Recorder restarted on the same folder recovers a recording cut by a crash, and keeps finished ones", async () => {
  const dir = await Deno.makeTempDir({ prefix: "execgate-rec-crash-" });
  // A first recorder, in a child process we can kill hard.
  const script =
    new URL("./_testdata/run_recorder.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--config",
      new URL("../../deno.json", import.meta.url).pathname,
      script,
      JSON.stringify({
        listen: { hostname: "127.0.0.1", port: 0 },
        auth: { uploaderTokens: [UP], viewerTokens: [VIEW] },
        storage: { kind: "disk", dir },
        ackIntervalMs: 50,
      }),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const out = linesOf(child.stdout);
  const first = await out.next();
  const url = JSON.parse(first.value as string).url as string;
  let killed = false;
  try {
    const finished = testBody(testHeader("fin"), EVENTS);
    const r = await upload(url, UP, "fin", finished.body);
    assert.equal(r.acks.at(-1)?.complete, true);

    let ctl!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start: (c) => void (ctl = c),
    });
    const crash = testBody(testHeader("crash"), [[
      0.1,
      "o",
      "before the crash\r\n",
    ]], false);
    const head = crash.body;
    ctl.enqueue(head);
    const res = await fetch(url + RECORDS_UPLOAD_PATH, {
      method: "POST",
      headers: { authorization: `Bearer ${UP}`, [SESSION_HEADER]: "crash" },
      body,
      duplex: "half",
    } as RequestInit);
    const acks = linesOf(res.body!);
    for await (const line of acks) {
      if (JSON.parse(line).ack === head.length) break;
    }
    child.kill("SIGKILL");
    killed = true;
    await child.status;
    ctl.error(new Error("recorder gone"));
    await acks.return(undefined).catch(() => {});

    // A new recorder on the same folder, with a signing key: it seals what
    // it recovers.
    const key = await generateSigningKey();
    await Deno.writeTextFile(`${dir}/.k.key`, key.privatePem);
    await Deno.writeTextFile(`${dir}/.k.pub`, key.publicPem);
    const f = await start({
      signing: { privateKeyFile: `${dir}/.k.key` },
    }, dir);
    try {
      const list = JSON.parse((await get(f, "/v1/recordings", VIEW)).body)
        .items as { sessionId: string; status: string; id: string }[];
      const byId = Object.fromEntries(list.map((m) => [m.sessionId, m]));
      assert.equal(byId.fin?.status, "complete");
      assert.equal(byId.crash?.status, "partial");
      assert.equal(
        (await get(f, `/v1/recordings/${byId.fin!.id}/cast`, VIEW)).body,
        finished.cast,
      );
      assert.equal(
        (await get(f, `/v1/recordings/${byId.crash!.id}/cast`, VIEW)).body,
        crash.cast,
      );
      assert.deepEqual(
        JSON.parse(
          (await get(f, "/v1/recordings?q=before%20the%20crash", VIEW)).body,
        ).items.map((m: { sessionId: string }) => m.sessionId),
        ["crash"],
      );
      // The recovered recording verifies, signed by the restarted recorder.
      const v = await runVerify([
        `${dir}/${byId.crash!.id}`,
        "--key",
        `${dir}/.k.pub`,
      ]);
      assert.equal(v.exitCode, 0, v.output);
      assert.match(v.output, /recording .*crash \(partial\)/);
      assert.match(
        v.output,
        /WARN partial: the recorder stopped before the session ended; recovered at restart/,
      );
      assert.match(
        v.output,
        new RegExp(`OK signature: valid, key ${key.keyId}`),
      );
    } finally {
      await f.close();
    }
  } finally {
    if (!killed) {
      child.kill("SIGKILL");
      await child.status;
    }
    await child.stdout.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Recorder configured for S3 stores, lists and serves recordings; a second replica on the bucket lists them too", async () => {
  const { startS3, s3StorageConfig } = await import("./_test_util.ts");
  const s3 = await startS3("execgate-test");
  const config = parseRecorderConfig({
    listen: { hostname: "127.0.0.1", port: 0 },
    auth: { uploaderTokens: [UP], viewerTokens: [VIEW] },
    storage: s3StorageConfig(s3),
  });
  const a = await serveRecorder(config);
  const b = await serveRecorder(config);
  try {
    const { body, cast } = testBody(testHeader("s3-1"), EVENTS);
    const r = await upload(a.url, UP, "s3-1", body);
    assert.equal(r.acks.at(-1)?.complete, true);
    const id = r.acks.at(-1)!.id!;
    for (const url of [a.url, b.url]) {
      const f = { url } as Fixture;
      const list = JSON.parse(
        (await get(f, "/v1/recordings?q=world", VIEW)).body,
      );
      assert.deepEqual(list.items.map((m: { id: string }) => m.id), [id]);
      assert.equal(
        (await get(f, `/v1/recordings/${id}/cast`, VIEW)).body,
        cast,
      );
    }
  } finally {
    await a.close();
    await b.close();
    await s3.close();
  }
});

Deno.test("Recorder acknowledges the header at once, so RecordingSession.start resolves before any idle ack", async () => {
  const f = await start({ ackIntervalMs: 60_000 });
  try {
    const tap = await RecordingSession.start({
      sessionId: "early-ack",
      identity: {
        hostname: "h",
        nodeId: "n",
        userId: "u",
        loginName: "l",
        groups: [],
      },
      kubernetes: {
        podName: "ghost",
        namespace: "default",
        container: "c",
        sessionType: "exec",
      },
      argv: ["id"],
      tty: false,
      proxyHostname: "proxy",
      recorderUrls: [f.url],
      enforce: true,
      uploaderToken: UP,
      logger: memoryLogger(),
    });
    assert.ok(tap instanceof RecordingSession);
    await tap.end("refused", "the upstream answered 404", {
      status: 404,
      message: 'pods "ghost" not found',
    });
    const result = await f.nextResult();
    assert.equal(result.outcome, "refused");
    const m = JSON.parse(
      (await get(f, `/v1/recordings/${result.id}`, VIEW)).body,
    );
    assert.equal(m.status, "refused");
    assert.equal(m.header.kubernetes.podName, "ghost");
    assert.equal(m.end.upstream.status, 404);
  } finally {
    await f.close();
  }
});

Deno.test("Recorder still serves a recording stored by the v1 upload (.cast): list, cast, evidence; no raw stdout", async () => {
  const dir = await Deno.makeTempDir({ prefix: "execgate-rec-v1-" });
  try {
    const storage = new DiskStorage({ dir });
    const id = makeRecordingId("old", new Date());
    const cast = JSON.stringify(testHeader("old")) + "\n" +
      '[0.1,"o","old \\u001b[1mtimes\\u001b[0m\\r\\n"]\n';
    const bytes = new TextEncoder().encode(cast);
    const manifest = {
      id: id.id,
      sessionId: "old",
      status: "complete" as const,
      header: testHeader("old"),
      castBytes: bytes.length,
      startedAt: 1,
      updatedAt: 1,
      finishedAt: 1,
    };
    const w = await storage.create(
      id,
      { ...manifest, status: "recording" },
      bytes,
    );
    await w.finish(manifest);
    const f = await start({}, dir);
    try {
      assert.equal(
        (await get(f, `/v1/recordings/${id.id}/cast`, VIEW)).body,
        cast,
      );
      assert.equal(
        (await get(f, `/v1/recordings/${id.id}/evidence`, VIEW)).body,
        cast,
      );
      const out = await get(f, `/v1/recordings/${id.id}/stdout`, VIEW);
      assert.equal(out.status, 404);
      assert.match(out.body, /protocol v1/);
      const found = JSON.parse(
        (await get(f, "/v1/recordings?q=old%20times", VIEW)).body,
      );
      assert.deepEqual(found.items.map((m: { id: string }) => m.id), [id.id]);
    } finally {
      await f.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
