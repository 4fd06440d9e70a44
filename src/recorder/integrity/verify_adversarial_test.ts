import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { encodeRecord, RecordType } from "../../protocol/records.ts";
import { concatBytes } from "../../bytes.ts";
import type { IncrementalDigest } from "../../recording/cast_encoder.ts";
import type { RecordingManifest } from "../storage.ts";
import { EvidenceChain } from "./evidence_chain.ts";
import { sealManifest } from "./seal.ts";
import {
  generateSigningKey,
  signerFromText,
  verifierFromText,
} from "./signing_key.ts";
import { firstDifference, verifyRecording } from "./verify.ts";

function sha(): IncrementalDigest {
  const h = createHash("sha256");
  return {
    update: (d: Uint8Array) => h.update(d),
    hex: () => h.digest("hex"),
  };
}

const enc = new TextEncoder();
const header = { version: 2, width: 80, height: 24, sessionId: "s" };

async function sealed(evidence: Uint8Array, segmentBytes = 64) {
  const k = await generateSigningKey();
  const c = new EvidenceChain(sha, segmentBytes);
  c.update(evidence);
  const m = await sealManifest(
    {
      id: "2026/01/02/s",
      sessionId: "s",
      status: "partial",
      format: "records",
      header: header as never,
      castBytes: evidence.length,
      startedAt: 1,
      updatedAt: 2,
    },
    c.finish(),
    await signerFromText(k.privatePem),
  );
  return { m, key: await verifierFromText(k.publicPem) };
}

const evidence = concatBytes([
  encodeRecord(RecordType.HEADER, 0, enc.encode(JSON.stringify(header))),
  encodeRecord(RecordType.STDOUT, 1, new Uint8Array(300).fill(0x61)),
]);

const run = (
  m: unknown,
  key: Awaited<ReturnType<typeof sealed>>["key"],
  ev = evidence,
) =>
  verifyRecording({
    manifest: m as RecordingManifest,
    openEvidence: () => Promise.resolve(ReadableStream.from([ev])),
    keys: [key],
    digest: sha,
  });

Deno.test("verifyRecording passes a sealed partial recording and its signature", async () => {
  const { m, key } = await sealed(evidence);
  const r = await run(m, key);
  assert.equal(r.ok, true, JSON.stringify(r.lines));
});

Deno.test("verifyRecording fails a malformed integrity block instead of trusting it", async () => {
  const { m, key } = await sealed(evidence);
  const cases: [string, (i: Record<string, unknown>) => void, RegExp][] = [
    ["wrong alg", (i) => i.alg = "none", /integrity.alg is "none"/],
    [
      "segments not hex",
      (i) => (i.segments as string[])[0] = "zz",
      /malformed/,
    ],
    ["segments missing", (i) => delete i.segments, /malformed/],
    ["bytes lie", (i) => i.bytes = 10 ** 12, /malformed/],
    ["segment size 0", (i) => i.segmentBytes = 0, /malformed/],
    ["segment size huge", (i) => i.segmentBytes = 2 ** 60, /malformed/],
    [
      "signature not base64",
      (i) => i.signature = "%%%",
      /not a base64 Ed25519 signature/,
    ],
    [
      "signature short",
      (i) => i.signature = btoa("x"),
      /not a base64 Ed25519 signature/,
    ],
    [
      "signature not a string",
      (i) => i.signature = 5,
      /not a base64 Ed25519 signature/,
    ],
    [
      "key id changed",
      (i) => i.keyId = "ed25519:0000000000000000",
      /none of the given keys/,
    ],
  ];
  for (const [name, edit, want] of cases) {
    const bad = structuredClone(m) as unknown as {
      integrity: Record<string, unknown>;
    };
    edit(bad.integrity);
    const r = await run(bad, key);
    assert.equal(r.ok, false, name);
    assert.match(r.lines.map((l) => l.message).join("\n"), want, name);
  }
  const none = structuredClone(m) as Partial<RecordingManifest>;
  delete none.integrity;
  const r = await run(none, key);
  assert.equal(r.ok, false);
  assert.match(
    r.lines[0]!.message,
    /no integrity block.*older recorders did not seal a recording they recovered after a crash/,
  );
});

Deno.test("verifyRecording finds the flipped segment for a flip at every byte", async () => {
  const { m, key } = await sealed(evidence, 64);
  for (let at = 0; at < evidence.length; at++) {
    const ev = evidence.slice();
    ev[at]! ^= 0x80;
    const r = await run(m, key, ev);
    assert.equal(r.ok, false);
    const seg = Math.floor(at / 64);
    assert.match(
      r.lines[0]!.message,
      new RegExp(
        `^evidence bytes ${
          seg * 64
        } to \\d+ \\(segment ${seg}\\) do not match the chain`,
      ),
      `byte ${at}`,
    );
  }
});

Deno.test("verifyRecording reports a manifest whose fields cannot be serialised, and unsigned fields changing does not matter", async () => {
  const { m, key } = await sealed(evidence);
  const ok = { ...m, updatedAt: 99, textTruncated: true };
  assert.equal((await run(ok, key)).ok, true);
  for (
    const edit of [{ status: "complete" }, { castBytes: 1 }, { startedAt: 0 }, {
      partialReason: "x",
    }]
  ) {
    const r = await run({ ...m, ...edit }, key);
    assert.equal(r.ok, false, JSON.stringify(edit));
    assert.ok(
      r.lines.some((l) => /signature: does not match/.test(l.message)),
      JSON.stringify(edit),
    );
  }
});

Deno.test("firstDifference names the byte and line, whatever the chunking", async () => {
  const a = enc.encode("one\ntwo\nthree\n");
  const b = enc.encode("one\ntwo\nthrEe\n");
  for (let cut = 0; cut <= a.length; cut++) {
    const d = await firstDifference(
      ReadableStream.from([a.subarray(0, cut), a.subarray(cut)]),
      ReadableStream.from([b]),
    );
    assert.deepEqual(d, { offset: 11, line: 3 });
  }
  assert.equal(
    await firstDifference(
      ReadableStream.from([a]),
      ReadableStream.from([a.subarray(0, 4), a.subarray(4)]),
    ),
    undefined,
  );
  const short = await firstDifference(
    ReadableStream.from([a]),
    ReadableStream.from([a.subarray(0, 5)]),
  );
  assert.equal(short?.offset, 5);
  assert.match(short!.detail!, /ends before/);
});
