import assert from "node:assert/strict";
import { makeRecordingId } from "./recording_id.ts";
import { RecordingExistsError, type RecordingManifest } from "./storage.ts";
import { STORAGE_KINDS, testBody, testHeader } from "./_test_util.ts";
import { encodeRecord, RecordType } from "../protocol/records.ts";
import { concatBytes } from "../bytes.ts";
import { castOfRecords } from "./views/cast_view.ts";
import { DiskStorage } from "./disk_storage.ts";
import { nodeSha256 } from "../adapter/deno/sha256.ts";
import {
  generateSigningKey,
  signerFromText,
  verifierFromText,
} from "./integrity/signing_key.ts";
import { verifyRecording } from "./integrity/verify.ts";

const enc = new TextEncoder();
const DAY = new Date(Date.UTC(2026, 10, 27, 12));

function manifest(
  sessionId: string,
  over: Partial<RecordingManifest> = {},
): RecordingManifest {
  const id = makeRecordingId(sessionId, DAY);
  return {
    id: id.id,
    sessionId,
    status: "recording",
    header: testHeader(sessionId),
    castBytes: 0,
    startedAt: DAY.getTime(),
    updatedAt: DAY.getTime(),
    ...over,
  };
}

async function text(stream: ReadableStream<Uint8Array> | undefined) {
  assert.ok(stream, "expected a cast stream");
  return await new Response(stream).text();
}

function headerLine(sessionId: string) {
  return enc.encode(JSON.stringify(testHeader(sessionId)) + "\n");
}

for (const kind of STORAGE_KINDS) {
  Deno.test(`RecordingStorage (${kind.name}) stores a finished recording: cast, manifest, text`, async () => {
    const fx = await kind.make();
    try {
      const st = fx.open();
      const id = makeRecordingId("s1", DAY);
      const { cast } = testBody(testHeader("s1"), [[
        0.1,
        "o",
        "hello \x1b[31mred\x1b[0m\r\n",
      ], [0.2, "r", "100x30"]]);
      const w = await st.create(id, manifest("s1"), headerLine("s1"));
      assert.equal((await st.get(id))?.status, "recording");
      await w.write(enc.encode(cast.slice(cast.indexOf("\n") + 1)));
      await w.sync(true);
      assert.equal(w.durableBytes, enc.encode(cast).length);
      await w.finish(manifest("s1", { status: "complete", finishedAt: 1 }));
      assert.equal(await st.readText(id), undefined);
      await st.writeText(id, "hello red\n");
      const again = fx.open(); // a fresh instance sees it too (restart, other replica)
      for (const s of [st, again]) {
        const m = await s.get(id);
        assert.equal(m?.status, "complete");
        assert.equal(m?.castBytes, enc.encode(cast).length);
        assert.equal(await text(await s.openStored(id)), cast);
        assert.equal(await s.readText(id), "hello red\n");
        assert.deepEqual((await s.list()).map((x) => x.id), [id.id]);
        assert.equal(await s.exists(id), true);
      }
      await assert.rejects(
        () => st.create(id, manifest("s1"), headerLine("s1")),
        RecordingExistsError,
      );
      await st.close();
      await again.close();
    } finally {
      await fx.close();
    }
  });

  Deno.test(`RecordingStorage (${kind.name}) abort leaves nothing behind`, async () => {
    const fx = await kind.make();
    try {
      const st = fx.open();
      const id = makeRecordingId("gone", DAY);
      const w = await st.create(id, manifest("gone"), headerLine("gone"));
      await w.write(enc.encode('[0.1,"o","x"]\n'));
      await w.sync(true);
      await w.abort();
      assert.equal(await st.exists(id), false);
      assert.equal(await st.get(id), undefined);
      assert.equal(await st.openStored(id), undefined);
      assert.deepEqual(await st.list(), []);
    } finally {
      await fx.close();
    }
  });

  Deno.test(`RecordingStorage (${kind.name}) a recorder that stopped mid-session leaves a partial recording, recovered at restart without touching finished ones`, async () => {
    const fx = await kind.make();
    try {
      let clock = DAY.getTime();
      const st = fx.open({ now: () => clock });
      // A finished recording first.
      const done = makeRecordingId("done", DAY);
      const { cast: doneCast } = testBody(testHeader("done"), [[
        0.1,
        "o",
        "finished\r\n",
      ]]);
      const wd = await st.create(done, manifest("done"), headerLine("done"));
      await wd.write(enc.encode(doneCast.slice(doneCast.indexOf("\n") + 1)));
      await wd.finish(manifest("done", { status: "complete" }));
      // Then one whose recorder dies: complete lines, then a torn one.
      const id = makeRecordingId("cut", DAY);
      const w = await st.create(id, manifest("cut"), headerLine("cut"));
      await w.write(enc.encode('[0.1,"o","before the crash\\r\\n"]\n'));
      await w.write(enc.encode('[0.2,"o","tor'));
      await w.sync(true); // acknowledged bytes are durable
      // ... the process dies: no finish, no abort. A new recorder starts.
      clock += 3_600_000;
      const restarted = fx.open({ now: () => clock });
      const seen = await restarted.get(id);
      assert.equal(
        seen?.status,
        "partial",
        "never shown as recording or complete",
      );
      assert.equal(await restarted.recover(), 1);
      const m = await restarted.get(id);
      assert.equal(m?.status, "partial");
      assert.match(m?.partialReason ?? "", /stopped before the session ended/);
      const expected = JSON.stringify(testHeader("cut")) + "\n" +
        '[0.1,"o","before the crash\\r\\n"]\n';
      assert.equal(
        await text(await restarted.openStored(id)),
        expected,
        "torn line trimmed",
      );
      assert.equal(m?.castBytes, enc.encode(expected).length);
      assert.equal(await restarted.readText(id), "before the crash\n");
      const d = await restarted.get(done);
      assert.equal(d?.status, "complete");
      assert.equal(await text(await restarted.openStored(done)), doneCast);
      assert.equal(await restarted.recover(), 0, "recovery is idempotent");
      assert.deepEqual(
        (await restarted.list()).map((x) => x.id).sort(),
        [done.id, id.id].sort(),
      );
    } finally {
      await fx.close();
    }
  });

  Deno.test(`RecordingStorage (${kind.name}) keeps a refused recording refused, through a restart and recovery`, async () => {
    const fx = await kind.make();
    try {
      const st = fx.open();
      const id = makeRecordingId("refused", DAY);
      const w = await st.create(
        id,
        manifest("refused"),
        headerLine("refused"),
      );
      const end = {
        sessionId: "refused",
        endTime: 1,
        reason: "refused" as const,
        upstream: { status: 404, message: 'pods "x" not found' },
        channels: {
          stdout: { bytes: 0, sha256: "" },
          stderr: { bytes: 0, sha256: "" },
        },
        castBytes: headerLine("refused").length,
      };
      await w.finish(
        manifest("refused", { status: "refused", end, finishedAt: 2 }),
      );
      const restarted = fx.open();
      assert.equal(await restarted.recover(), 0);
      for (const s of [st, restarted]) {
        const m = await s.get(id);
        assert.equal(m?.status, "refused");
        assert.deepEqual(m?.end?.upstream, end.upstream);
        assert.equal(
          await text(await s.openStored(id)),
          new TextDecoder().decode(headerLine("refused")),
        );
        assert.deepEqual((await s.list()).map((x) => x.status), ["refused"]);
      }
      await st.close();
      await restarted.close();
    } finally {
      await fx.close();
    }
  });
}

for (const kind of STORAGE_KINDS) {
  Deno.test(`RecordingStorage (${kind.name}) recovers a record stream cut by a crash: torn last record trimmed, text index, format kept`, async () => {
    const fx = await kind.make();
    try {
      let clock = DAY.getTime();
      const st = fx.open({ now: () => clock });
      const id = makeRecordingId("cut2", DAY);
      const header = encodeRecord(
        RecordType.HEADER,
        0,
        enc.encode(JSON.stringify(testHeader("cut2"))),
      );
      const out = encodeRecord(
        RecordType.STDOUT,
        100_000,
        enc.encode("before the crash\n"),
      );
      const torn = encodeRecord(RecordType.STDOUT, 200_000, enc.encode("torn"))
        .subarray(0, 15);
      const w = await st.create(
        id,
        manifest("cut2", { format: "records" }),
        header,
      );
      await w.write(out);
      await w.write(torn);
      await w.sync(true);
      // The process dies. A new recorder starts.
      clock += 3_600_000;
      const restarted = fx.open({ now: () => clock });
      assert.equal((await restarted.get(id))?.status, "partial");
      assert.equal(await restarted.recover(), 1);
      const m = await restarted.get(id);
      assert.equal(m?.status, "partial");
      assert.equal(m?.format, "records");
      assert.equal(m?.header.sessionId, "cut2");
      assert.equal(m?.integrity, undefined, "not sealed: no seal was given");
      const kept = concatBytes([header, out]);
      assert.equal(m?.castBytes, kept.length);
      const stored = new Uint8Array(
        await new Response(await restarted.openStored(id)).arrayBuffer(),
      );
      assert.deepEqual(stored, kept, "torn record trimmed");
      assert.equal(await restarted.readText(id), "before the crash\n");
      const cast = await text(castOfRecords((await restarted.openStored(id))!));
      assert.equal(
        cast,
        JSON.stringify(testHeader("cut2")) + "\n" +
          '[0.1,"o","before the crash\\r\\n"]\n',
      );
      assert.equal(await restarted.recover(), 0, "recovery is idempotent");
    } finally {
      await fx.close();
    }
  });
}

for (const kind of STORAGE_KINDS) {
  Deno.test(`RecordingStorage (${kind.name}) seals a record stream it recovers over the evidence it kept: verify passes signed and chain-only, a flipped byte names its segment`, async () => {
    const MiB = 1024 * 1024;
    const key = await generateSigningKey();
    const signer = await signerFromText(key.privatePem);
    const verifier = await verifierFromText(key.publicPem);
    for (const signed of [true, false]) {
      const fx = await kind.make();
      try {
        let clock = DAY.getTime();
        const st = fx.open({ now: () => clock });
        const sid = signed ? "sealed-signed" : "sealed-chain";
        const id = makeRecordingId(sid, DAY);
        const header = encodeRecord(
          RecordType.HEADER,
          0,
          enc.encode(JSON.stringify(testHeader(sid))),
        );
        // 1.5 MiB of output: the kept evidence spans two chain segments.
        const out = concatBytes([1, 2].map((n) =>
          encodeRecord(
            RecordType.STDOUT,
            n * 100_000,
            new Uint8Array(0.75 * MiB).fill(0x78),
          )
        ));
        const torn = encodeRecord(
          RecordType.STDOUT,
          200_000,
          enc.encode("torn"),
        ).subarray(0, 15);
        const w = await st.create(
          id,
          manifest(sid, { format: "records" }),
          header,
        );
        await w.write(out);
        await w.write(torn);
        await w.sync(true);
        // The process dies. A new recorder starts and recovers.
        clock += 3_600_000;
        const restarted = fx.open({ now: () => clock });
        assert.equal(
          await restarted.recover({
            seal: { digest: nodeSha256, ...(signed ? { signer } : {}) },
          }),
          1,
        );
        const m = (await restarted.get(id))!;
        const kept = concatBytes([header, out]);
        assert.equal(m.status, "partial");
        assert.equal(m.castBytes, kept.length);
        assert.equal(m.integrity?.bytes, kept.length, "the chain: kept bytes");
        assert.equal(m.integrity?.segments.length, 2);
        assert.equal(m.integrity?.keyId, signed ? key.keyId : undefined);
        const stored = new Uint8Array(
          await new Response(await restarted.openStored(id)).arrayBuffer(),
        );
        assert.deepEqual(stored, kept, "torn record trimmed");
        const verify = (ev: Uint8Array) =>
          verifyRecording({
            manifest: m,
            openEvidence: () => Promise.resolve(ReadableStream.from([ev])),
            keys: signed ? [verifier] : [],
            digest: nodeSha256,
          });
        const good = await verify(stored);
        assert.equal(good.ok, true, JSON.stringify(good.lines));
        const said = good.lines.map((l) => `${l.level} ${l.message}`);
        assert.ok(
          said.includes(
            "warn partial: the recorder stopped before the session ended; " +
              `recovered ${
                kind.name === "disk" ? "at restart" : "from its segments"
              }; what is verified is the evidence the recorder kept, not the whole session`,
          ),
          said.join("\n"),
        );
        assert.ok(
          said.includes(
            `ok evidence: ${kept.length} bytes match the chain (2 segments of ${MiB} bytes)`,
          ),
          said.join("\n"),
        );
        if (signed) {
          assert.ok(
            said.some((l) =>
              l.startsWith(`ok signature: valid, key ${key.keyId}`)
            ),
            said.join("\n"),
          );
        } else {
          assert.ok(
            said.some((l) => l.startsWith("warn not signed:")),
            said.join("\n"),
          );
        }
        const flipped = stored.slice();
        flipped[MiB + 1]! ^= 1;
        const bad = await verify(flipped);
        assert.equal(bad.ok, false);
        assert.ok(
          bad.lines.some((l) =>
            l.level === "fail" &&
            l.message.startsWith(
              `evidence bytes ${MiB} to ${
                kept.length - 1
              } (segment 1) do not match the chain`,
            )
          ),
          JSON.stringify(bad.lines),
        );
        assert.equal(
          await restarted.recover({ seal: { digest: nodeSha256, signer } }),
          0,
          "a sealed recording is not recovered again",
        );
        await st.close();
        await restarted.close();
      } finally {
        await fx.close();
      }
    }
  });
}

Deno.test("DiskStorage.get never calls a recording that finishes while it reads partial", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const st = new DiskStorage({ dir });
    const header = enc.encode(JSON.stringify(testHeader("race")) + "\n");
    // Many interleavings of a get() with the finish() of the same upload.
    for (let i = 0; i < 40; i++) {
      const id = makeRecordingId(`race-${i}`, DAY);
      const base = {
        id: id.id,
        sessionId: id.sessionId,
        status: "recording" as const,
        header: testHeader(id.sessionId),
        castBytes: 0,
        startedAt: 1,
        updatedAt: 1,
      };
      const w = await st.create(id, base, header);
      const seen: string[] = [];
      const reads = Array.from({ length: 4 }, async (_, k) => {
        for (let j = 0; j < k; j++) await Promise.resolve();
        seen.push((await st.get(id))!.status);
      });
      await Promise.all([
        ...reads,
        w.finish({ ...base, status: "complete", finishedAt: 2 }),
      ]);
      seen.push((await st.get(id))!.status);
      for (const s of seen) {
        assert.ok(s === "recording" || s === "complete", `saw ${s}`);
      }
      assert.equal(seen.at(-1), "complete");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
