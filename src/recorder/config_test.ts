import assert from "node:assert/strict";
import {
  MIN_HEADER_BYTES,
  MIN_LINE_BYTES,
  parseRecorderConfig,
} from "./config.ts";
import { MAX_HEADER_LINE_BYTES } from "../recording/wire.ts";

Deno.test("parseRecorderConfig fills every default", () => {
  const c = parseRecorderConfig();
  assert.deepEqual(c.listen, { hostname: "0.0.0.0", port: 8443 });
  assert.deepEqual(c.storage, {
    kind: "disk",
    dir: "./recordings",
    fsync: false,
  });
  assert.equal(c.limits.maxLineBytes, 1024 * 1024);
  // The default header limit leaves a margin over the proxy's worst header.
  assert.equal(c.limits.maxHeaderBytes, 512 * 1024);
  assert.ok(c.limits.maxHeaderBytes >= 2 * MAX_HEADER_LINE_BYTES);
  assert.equal(c.ackIntervalMs, 1000);
  assert.equal(c.tls, undefined);
});

Deno.test("parseRecorderConfig reads EXECGATE_RECORDER_* over the raw object", () => {
  const c = parseRecorderConfig({ listen: { port: 1 } }, {
    EXECGATE_RECORDER_PORT: "9443",
    EXECGATE_RECORDER_UPLOADER_TOKENS:
      "aaaaaaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbbbbbb",
    EXECGATE_RECORDER_STORAGE: "s3",
    EXECGATE_RECORDER_S3_BUCKET: "recs",
    EXECGATE_RECORDER_S3_FORCE_PATH_STYLE: "true",
    EXECGATE_RECORDER_S3_PREFIX: "execgate/",
  });
  assert.equal(c.listen.port, 9443);
  assert.deepEqual(c.auth.uploaderTokens, [
    "aaaaaaaaaaaaaaaaaaaa",
    "bbbbbbbbbbbbbbbbbbbb",
  ]);
  assert.equal(c.storage.kind, "s3");
  if (c.storage.kind === "s3") {
    assert.equal(c.storage.bucket, "recs");
    assert.equal(c.storage.forcePathStyle, true);
    assert.equal(c.storage.segmentBytes, 8 * 1024 * 1024);
  }
});

Deno.test("parseRecorderConfig refuses impossible values naming the field", () => {
  const cases: [unknown, RegExp][] = [
    [{ storage: { kind: "s3" } }, /storage\.bucket: Required/],
    [
      { storage: { kind: "s3", bucket: "abc", prefix: "../x/" } },
      /storage\.prefix: prefix must be empty or end with/,
    ],
    [{ listen: { port: 70000 } }, /listen\.port/],
    [
      { auth: { uploaderTokens: ["short"] } },
      /auth\.uploaderTokens\.0: tokens need at least 16 characters/,
    ],
    [{
      auth: {
        uploaderTokens: ["x".repeat(16)],
        viewerTokens: ["x".repeat(16)],
      },
    }, /auth\.viewerTokens: a token cannot be both/],
    [{ storage: { kind: "nfs" } }, /storage\.kind/],
    [{ unknown: true }, /Unrecognized key/],
    [[], /expected a JSON object/],
    [
      { limits: { maxHeaderBytes: 64 * 1024 } },
      new RegExp(
        `limits\\.maxHeaderBytes: must be at least ${MIN_HEADER_BYTES} bytes`,
      ),
    ],
    [
      { limits: { maxLineBytes: 2048 } },
      new RegExp(
        `limits\\.maxLineBytes: must be at least ${MIN_LINE_BYTES} bytes`,
      ),
    ],
    [
      { limits: { maxLineBytes: MIN_LINE_BYTES, maxHeaderBytes: 600_000 } },
      /limits\.maxLineBytes: must be at least limits\.maxHeaderBytes/,
    ],
    [
      { limits: { maxRecordingBytes: 4096 } },
      /limits\.maxRecordingBytes: must be at least limits\.maxLineBytes/,
    ],
  ];
  for (const [raw, re] of cases) {
    assert.throws(
      () => parseRecorderConfig(raw),
      (e) => e instanceof RangeError && re.test(e.message),
      JSON.stringify(raw),
    );
  }
  assert.throws(
    () => parseRecorderConfig({}, { EXECGATE_RECORDER_PORT: "eighty" }),
    /listen\.port: Expected number/,
  );
});
