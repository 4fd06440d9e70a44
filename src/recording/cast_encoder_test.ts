import assert from "node:assert/strict";
import { CastEncoder, type CastEncoderOptions } from "./cast_encoder.ts";
import { Sha256 } from "./sha256.ts";
import { END_KEY } from "./wire.ts";

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

Deno.test("CastEncoder writes the TTY header at the first resize, then events and resize events", () => {
  const e = new CastEncoder(options());
  const out = [
    e.begin(),
    e.resize({ width: 100, height: 30 }, T0 + 5),
    e.output(1, enc("$ "), T0 + 250),
    e.resize({ width: 120, height: 40 }, T0 + 1500),
    e.output(2, enc("oops\n"), T0 + 1750),
  ];
  assert.equal(out[0]!.length, 0);
  const all = lines(out);
  assert.deepEqual(all[0], {
    version: 2,
    width: 100,
    height: 30,
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
    protocol: "v5.channel.k8s.io",
  });
  assert.deepEqual(all.slice(1), [
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

Deno.test("CastEncoder uses the default size when TTY output comes before a resize", () => {
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
  assert.deepEqual(all.slice(1), [[0.003, "o", "€"], [0.004, "o", "☃"]]);
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
