import assert from "node:assert/strict";
import { CastEncoder, type CastEncoderOptions } from "./cast_encoder.ts";
import { Sha256 } from "./sha256.ts";
import {
  END_KEY,
  MAX_EVENT_LINE_BYTES,
  MAX_HEADER_LINE_BYTES,
  MAX_MANIFEST_LINE_BYTES,
  MAX_REQUEST_HEAD_BYTES,
} from "./wire.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const T0 = 1_764_201_600_123;

function options(over: Partial<CastEncoderOptions> = {}): CastEncoderOptions {
  return {
    sessionId: "sess-1",
    argv: ["sh", "-c", "echo 'hi'"],
    tty: true,
    identity: {
      hostname: "alice-laptop",
      nodeId: "nABC",
      userId: "u123",
      loginName: "alice@example.com",
      groups: [],
    },
    kubernetes: {
      podName: "web-0",
      namespace: "prod",
      container: "app",
      sessionType: "exec",
    },
    proxy: "execgate-a",
    protocol: "v5.channel.k8s.io",
    startMs: T0,
    ...over,
  };
}

function lines(chunks: Uint8Array[]): unknown[] {
  const text = chunks.map((c) => new TextDecoder().decode(c)).join("");
  assert.ok(text.endsWith("\n"));
  return text.slice(0, -1).split("\n").map((l) => JSON.parse(l));
}

Deno.test("CastEncoder writes the header first with the default size, then every resize as an event", () => {
  const e = new CastEncoder(options());
  const out = [
    e.begin(),
    e.resize({ width: 100, height: 30 }, T0 + 5),
    e.output(1, enc("$ "), T0 + 250),
    e.resize({ width: 120, height: 40 }, T0 + 1500),
    e.output(2, enc("oops\n"), T0 + 1750),
  ];
  const all = lines(out);
  assert.deepEqual(all[0], {
    version: 2,
    width: 80,
    height: 24,
    timestamp: 1_764_201_600,
    command: `sh -c 'echo '\\''hi'\\'''`,
    argv: ["sh", "-c", "echo 'hi'"],
    tty: true,
    srcNode: "alice-laptop",
    srcNodeID: "nABC",
    srcNodeUserID: "u123",
    srcNodeUser: "alice@example.com",
    kubernetes: {
      podName: "web-0",
      namespace: "prod",
      container: "app",
      sessionType: "exec",
    },
    proxy: "execgate-a",
    sessionId: "sess-1",
  });
  assert.deepEqual(all.slice(1), [
    [0.005, "r", "100x30"],
    [0.25, "o", "$ "],
    [1.5, "r", "120x40"],
    [1.75, "o", "oops\n"],
  ]);
  const bytes = out.reduce((n, c) => n + c.length, 0);
  assert.equal(e.castBytes, bytes);
});

Deno.test("CastEncoder uses tags instead of the user for a tagged device", () => {
  const e = new CastEncoder(options({
    identity: {
      hostname: "ci",
      nodeId: "n2",
      tags: ["tag:ci"],
      groups: [],
    },
  }));
  const [header] = lines([e.resize({ width: 1, height: 1 }, T0)]) as Record<
    string,
    unknown
  >[];
  assert.deepEqual(header!.srcNodeTags, ["tag:ci"]);
  assert.equal("srcNodeUser" in header!, false);
  assert.equal("srcNodeUserID" in header!, false);
});

Deno.test("CastEncoder writes the header before output that comes before any begin or resize", () => {
  const e = new CastEncoder(options());
  const all = lines([
    e.output(1, enc("x"), T0 + 1),
    e.resize({ width: 90, height: 20 }, T0 + 2),
  ]) as Record<string, unknown>[];
  assert.equal(all[0]!.width, 80);
  assert.equal(all[0]!.height, 24);
  assert.deepEqual(all.slice(1), [[0.001, "o", "x"], [0.002, "r", "90x20"]]);
});

Deno.test("CastEncoder writes a non-TTY header at once and shows \\n as \\r\\n", () => {
  const e = new CastEncoder(options({ tty: false }));
  const all = lines([e.begin(), e.output(1, enc("a\nb\n"), T0 + 10)]) as [
    Record<string, unknown>,
    ...unknown[],
  ];
  assert.equal(all[0].tty, false);
  assert.equal(all[0].width, 80);
  assert.deepEqual(all[1], [0.01, "o", "a\r\nb\r\n"]);
});

Deno.test("CastEncoder keeps a UTF-8 character split across frames whole, per channel", () => {
  const e = new CastEncoder(options());
  const euro = enc("€"); // e2 82 ac
  const snow = enc("☃");
  const all = lines([
    e.resize({ width: 80, height: 24 }, T0),
    e.output(1, euro.subarray(0, 1), T0 + 1),
    e.output(2, snow.subarray(0, 2), T0 + 2),
    e.output(1, euro.subarray(1), T0 + 3),
    e.output(2, snow.subarray(2), T0 + 4),
  ]);
  assert.deepEqual(all.slice(1), [
    [0, "r", "80x24"],
    [0.003, "o", "€"],
    [0.004, "o", "☃"],
  ]);
});

Deno.test("CastEncoder ends with the manifest: digests, status, exit code and castBytes", () => {
  const e = new CastEncoder(options());
  const out = [
    e.resize({ width: 80, height: 24 }, T0),
    e.output(1, enc("hello "), T0 + 1),
    e.output(1, enc("world"), T0 + 2),
    e.output(2, enc("err"), T0 + 3),
  ];
  const before = e.castBytes;
  e.status(enc(JSON.stringify({
    metadata: {},
    status: "Failure",
    reason: "NonZeroExitCode",
    details: { causes: [{ reason: "ExitCode", message: "3" }] },
  })));
  const last = e.end("normal", T0 + 4000);
  const text = new TextDecoder().decode(last);
  assert.equal(e.castBytes, before);
  const manifest = JSON.parse(text)[END_KEY];
  assert.equal(manifest.sessionId, "sess-1");
  assert.equal(manifest.reason, "normal");
  assert.equal(manifest.exitCode, 3);
  assert.equal(manifest.status.reason, "NonZeroExitCode");
  assert.equal(manifest.endTime, (T0 + 4000) / 1000);
  assert.equal(manifest.castBytes, out.reduce((n, c) => n + c.length, 0));
  assert.deepEqual(manifest.channels, {
    stdout: {
      bytes: 11,
      sha256: new Sha256().update(enc("hello world")).hex(),
    },
    stderr: { bytes: 3, sha256: new Sha256().update(enc("err")).hex() },
  });
  assert.throws(() => e.end("normal", T0), /twice/);
});

Deno.test("CastEncoder ends a session that never had output with a header and a manifest", () => {
  const e = new CastEncoder(options());
  const all = lines([e.end("upstream-gone", T0 + 1, "no upgrade")]) as Record<
    string,
    Record<string, unknown>
  >[];
  assert.equal(all.length, 2);
  assert.equal(all[0]!.width, 80);
  assert.equal(all[1]![END_KEY]!.detail, "no upgrade");
  assert.equal(all[1]![END_KEY]!.exitCode, undefined);
});

Deno.test("CastEncoder flushes an incomplete character at the end", () => {
  const e = new CastEncoder(options({ tty: false }));
  const all = lines([
    e.begin(),
    e.output(1, enc("€").subarray(0, 2), T0),
    e.end("normal", T0 + 2),
  ]);
  assert.deepEqual(all[1], [0.002, "o", "\ufffd"]);
});

Deno.test("CastEncoder keeps a status that is not JSON as text", () => {
  const e = new CastEncoder(options());
  e.status(enc("plain error"));
  const [, manifest] = lines([e.end("normal", T0)]) as Record<
    string,
    Record<string, unknown>
  >[];
  assert.equal(manifest![END_KEY]!.status, "plain error");
});

/** A fixed-seed generator (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(n: number, seed: number): Uint8Array {
  const next = random(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
  return out;
}

const controls = new Uint8Array(300_000).map((_, i) => i % 32);
const euros = enc("€".repeat(200_000)); // 3-byte characters across every cut

for (
  const [name, input, pieces] of [
    ["a 300,000-byte frame of control characters", controls, [300_000]],
    [
      "5 MiB of random bytes in random pieces",
      randomBytes(5 * 1024 * 1024, 7),
      [
        1,
        65535,
        65537,
        3,
        1_000_000,
        131072,
      ],
    ],
    ["3-byte characters in one frame", euros, [euros.length]],
    ["3-byte characters split at 64 KiB + 1", euros, [65537]],
  ] as const
) {
  Deno.test(`CastEncoder cuts ${name} into events under the line limit, decoding to the same text`, () => {
    for (const tty of [true, false]) {
      const e = new CastEncoder(options({ tty }));
      const out: Uint8Array[] = [e.begin()];
      let off = 0;
      let i = 0;
      while (off < input.length) {
        const n = pieces[i++ % pieces.length]!;
        out.push(e.output(1, input.subarray(off, off + n), T0 + i));
        off += n;
      }
      out.push(e.end("normal", T0 + i + 1));
      const body = new Uint8Array(out.reduce((n, c) => n + c.length, 0));
      let o = 0;
      for (const c of out) {
        body.set(c, o);
        o += c.length;
      }
      let text = "";
      let start = 0;
      let lineNo = 0;
      while (start < body.length) {
        const nl = body.indexOf(10, start);
        assert.ok(nl > 0);
        const line = body.subarray(start, nl + 1);
        assert.ok(
          line.length <= MAX_EVENT_LINE_BYTES,
          `line ${lineNo} has ${line.length} bytes`,
        );
        const v = JSON.parse(new TextDecoder().decode(line));
        if (Array.isArray(v)) text += v[2];
        start = nl + 1;
        lineNo++;
      }
      const expected = new TextDecoder().decode(input);
      assert.equal(text, tty ? expected : expected.replaceAll("\n", "\r\n"));
    }
  });
}

Deno.test("CastEncoder keeps the worst header a 16 KiB request can make under MAX_HEADER_LINE_BYTES", () => {
  // Every decoded byte of the request head in the argv, escaped the most.
  const word = "'\u0001\"\\\u001b".repeat(MAX_REQUEST_HEAD_BYTES / 5);
  const e = new CastEncoder(options({
    argv: [word.slice(0, MAX_REQUEST_HEAD_BYTES)],
  }));
  const header = e.begin();
  assert.ok(
    header.length <= MAX_HEADER_LINE_BYTES,
    `${header.length} > ${MAX_HEADER_LINE_BYTES}`,
  );
  const h = JSON.parse(new TextDecoder().decode(header));
  assert.equal(h.argv[0], word.slice(0, MAX_REQUEST_HEAD_BYTES));
});

Deno.test("CastEncoder records markers, the protocol and a refusal in the manifest", () => {
  const e = new CastEncoder(options({ protocol: undefined }));
  e.upgraded("v4.channel.k8s.io");
  const all = lines([
    e.begin(),
    e.marker("x".repeat(10_000), T0 + 1),
    e.end("refused", T0 + 2, "upstream answered 404", {
      status: 404,
      message: 'pods "nope" not found',
    }),
  ]) as unknown[];
  const marker = all[1] as [number, string, string];
  assert.equal(marker[1], "m");
  assert.ok(marker[2].length < 4200);
  const m = (all[2] as Record<string, Record<string, unknown>>)[END_KEY]!;
  assert.equal(m.reason, "refused");
  assert.deepEqual(m.upstream, {
    status: 404,
    message: 'pods "nope" not found',
  });
  assert.equal(m.protocol, "v4.channel.k8s.io");
});

Deno.test("CastEncoder cuts a huge Status but keeps its exit code", () => {
  const e = new CastEncoder(options());
  e.status(enc(JSON.stringify({
    metadata: {},
    status: "Failure",
    message: "\u0001".repeat(5 * 1024 * 1024),
    reason: "NonZeroExitCode",
    details: { causes: [{ reason: "ExitCode", message: "7" }] },
  })));
  const body = e.end("normal", T0 + 1);
  assert.ok(body.length <= MAX_MANIFEST_LINE_BYTES + 200_000);
  const last = new TextDecoder().decode(body).trim().split("\n").at(-1)!;
  assert.ok(enc(last).length <= MAX_MANIFEST_LINE_BYTES);
  const m = JSON.parse(last)[END_KEY];
  assert.equal(m.exitCode, 7);
  assert.equal(m.statusTruncated, true);
  assert.equal(typeof m.status, "string");
});
