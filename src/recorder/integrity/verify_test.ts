import assert from "node:assert/strict";
import { parseRecorderConfig } from "../config.ts";
import { DiskStorage } from "../disk_storage.ts";
import { serveRecorder } from "../serve.ts";
import { buildSession, uploadRecords } from "../_test_records.ts";
import { s3StorageConfig, startS3 } from "../_test_util.ts";
import { generateSigningKey, signerFromText } from "./signing_key.ts";
import type { ManifestSigner } from "./signing_key.ts";
import { runVerify } from "./verify_command.ts";
import { tarEntries } from "./bundle.ts";
import {
  encodeRecord,
  RecordDecoder,
  RECORDS_CONTENT_TYPE,
  RecordType,
} from "../../protocol/records.ts";
import {
  type Continuation,
  CONTINUES_HEADER,
  PART_HEADER,
  SESSION_HEADER,
} from "../../recording/wire.ts";
import { concatBytes } from "../../bytes.ts";

const UP = "uploader-token-0123456789";
const VIEW = "viewer-token-0123456789";
const MiB = 1024 * 1024;

/** 1.5 MiB of stdout (two chain segments) and some stderr. */
function bigSession(sessionId: string) {
  const chunk = "0123456789abcdef".repeat(32 * 1024); // 512 KiB
  return buildSession({
    sessionId,
    tty: false,
    steps: [
      { at: 1, out: 1, data: chunk },
      { at: 2, out: 2, data: "warning\n" },
      { at: 3, out: 1, data: chunk },
      { at: 4, out: 1, data: chunk },
    ],
    endAt: 5,
  });
}

interface Rec {
  dir: string;
  url: string;
  close(): Promise<void>;
}

async function recorder(
  signer: ManifestSigner | undefined,
  dir?: string,
  storage?: Record<string, unknown>,
): Promise<Rec> {
  dir ??= await Deno.makeTempDir({ prefix: "execgate-verify-" });
  const config = parseRecorderConfig({
    listen: { hostname: "127.0.0.1", port: 0 },
    auth: { uploaderTokens: [UP], viewerTokens: [VIEW] },
    storage: storage ?? { kind: "disk", dir },
  });
  const served = await serveRecorder(config, {
    ...(storage ? {} : { storage: new DiskStorage({ dir }) }),
    ...(signer ? { signer } : {}),
  });
  return { dir, url: served.url, close: () => served.close() };
}

async function record(r: Rec, sessionId: string): Promise<string> {
  const s = bigSession(sessionId);
  const up = await uploadRecords(r.url, UP, sessionId, s.records);
  const done = up.acks.at(-1);
  assert.equal(done?.done, true, JSON.stringify(up));
  assert.equal(done?.complete, true);
  return done!.id!;
}

async function withKeyFiles<T>(
  fn: (
    files: { dir: string; pub: (n: number) => string },
    keys: Awaited<ReturnType<typeof generateSigningKey>>[],
  ) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "execgate-keys-" });
  const keys = [await generateSigningKey(), await generateSigningKey()];
  for (const [i, k] of keys.entries()) {
    await Deno.writeTextFile(`${dir}/k${i}.pub`, k.publicPem);
  }
  try {
    return await fn({ dir, pub: (n) => `${dir}/k${n}.pub` }, keys);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function flip(path: string, at: number) {
  const b = await Deno.readFile(path);
  b[at]! ^= 0x01;
  await Deno.writeFile(path, b);
}

Deno.test("verify: a clean signed recording passes; one flipped byte in evidence, manifest or signature fails with the right message", async () => {
  await withKeyFiles(async (files, keys) => {
    const r = await recorder(await signerFromText(keys[0]!.privatePem));
    try {
      const id = await record(r, "clean");
      const base = `${r.dir}/${id}`;
      const m = JSON.parse(await Deno.readTextFile(`${base}.json`));
      assert.equal(m.integrity.segments.length, 2);
      assert.equal(m.integrity.keyId, keys[0]!.keyId);

      let v = await runVerify([base, "--key", files.pub(0)]);
      assert.equal(v.exitCode, 0, v.output);
      assert.match(
        v.output,
        /OK evidence: \d+ bytes match the chain \(2 segments of 1048576 bytes\)/,
      );
      assert.match(
        v.output,
        /OK end record: stdout \(1572864 bytes\), stderr \(8 bytes\)/,
      );
      assert.match(
        v.output,
        new RegExp(`OK signature: valid, key ${keys[0]!.keyId}`),
      );
      assert.match(v.output, /\nverified$/);

      // Without a key: everything else is checked, the signature is not.
      v = await runVerify([`${base}.records`]);
      assert.equal(v.exitCode, 0, v.output);
      assert.match(
        v.output,
        /WARN signature not checked: .*pass its public key with --key/,
      );
      // With the wrong key only: fails, naming both ids.
      v = await runVerify([base, "--key", files.pub(1)]);
      assert.equal(v.exitCode, 1, v.output);
      assert.match(
        v.output,
        new RegExp(
          `signed by key "${
            keys[0]!.keyId
          }", which is none of the given keys \\(${keys[1]!.keyId}\\)`,
        ),
      );

      // Evidence: byte 1048577 is in segment 1.
      await flip(`${base}.records`, MiB + 1);
      v = await runVerify([base, "--key", files.pub(0)]);
      assert.equal(v.exitCode, 1, v.output);
      assert.match(
        v.output,
        /FAIL evidence bytes 1048576 to \d+ \(segment 1\) do not match the chain/,
      );
      assert.doesNotMatch(v.output, /segment 0\)/);
      assert.match(
        v.output,
        /FAIL the end record says stdout is 1572864 bytes/,
      );
      assert.match(v.output, /OK signature/); // the manifest itself is intact
      assert.match(v.output, /\nFAILED$/);
      await flip(`${base}.records`, MiB + 1);
      assert.equal(
        (await runVerify([base, "--key", files.pub(0)])).exitCode,
        0,
      );

      // Manifest: one letter of the user's name.
      const text = await Deno.readTextFile(`${base}.json`);
      const at = new TextEncoder().encode(text).indexOf(
        "alice@example.com".charCodeAt(0),
        text.indexOf("alice@example.com"),
      );
      await flip(`${base}.json`, at);
      v = await runVerify([base, "--key", files.pub(0)]);
      assert.equal(v.exitCode, 1, v.output);
      assert.match(
        v.output,
        /FAIL signature: does not match the manifest \(key .*\): the manifest or its signature was changed/,
      );
      assert.match(
        v.output,
        /FAIL the manifest's header is not the evidence's header record/,
      );
      await flip(`${base}.json`, at);

      // Unsigned bookkeeping (updatedAt) may change without breaking it.
      const unsigned = JSON.parse(await Deno.readTextFile(`${base}.json`));
      unsigned.updatedAt += 1;
      unsigned.textTruncated = true;
      await Deno.writeTextFile(`${base}.json`, JSON.stringify(unsigned));
      assert.equal(
        (await runVerify([base, "--key", files.pub(0)])).exitCode,
        0,
      );

      // Signature: one byte of its base64.
      const sigText = await Deno.readTextFile(`${base}.json`);
      const sigAt = sigText.indexOf('"signature":"') + 14;
      const edited = sigText.slice(0, sigAt) +
        (sigText[sigAt] === "A" ? "B" : "A") + sigText.slice(sigAt + 1);
      await Deno.writeTextFile(`${base}.json`, edited);
      v = await runVerify([base, "--key", files.pub(0)]);
      assert.equal(v.exitCode, 1, v.output);
      assert.match(v.output, /FAIL signature: does not match the manifest/);
      await Deno.writeTextFile(`${base}.json`, sigText);

      // Evidence removed at the end, or bytes added.
      const ev = await Deno.readFile(`${base}.records`);
      await Deno.writeFile(`${base}.records`, ev.subarray(0, ev.length - 1));
      v = await runVerify([base, "--key", files.pub(0)]);
      assert.match(
        v.output,
        /FAIL evidence bytes 1048576 to \d+ \(segment 1\) do not match the chain/,
      );
      await Deno.writeFile(`${base}.records`, new Uint8Array([...ev, 0]));
      v = await runVerify([base, "--key", files.pub(0)]);
      assert.equal(v.exitCode, 1);
      assert.match(
        v.output,
        /FAIL evidence bytes 1048576 to \d+ \(segment 1\) do not match the chain/,
      );
      await Deno.writeFile(`${base}.records`, ev);

      // An integrity block removed is a failure, not a pass.
      const bare = JSON.parse(sigText);
      delete bare.integrity;
      await Deno.writeTextFile(`${base}.json`, JSON.stringify(bare));
      v = await runVerify([base]);
      assert.equal(v.exitCode, 1);
      assert.match(v.output, /FAIL the manifest has no integrity block/);
      await Deno.writeTextFile(`${base}.json`, "{");
      v = await runVerify([base]);
      assert.equal(v.exitCode, 1);
      assert.match(
        v.output,
        /FAIL Cannot read the manifest .*: it is not valid JSON/,
      );
    } finally {
      await r.close();
      await Deno.remove(r.dir, { recursive: true });
    }
  });
});

Deno.test("verify: the bundle route's tar verifies; a flipped byte in its cast names the line", async () => {
  await withKeyFiles(async (files, keys) => {
    const r = await recorder(await signerFromText(keys[0]!.privatePem));
    try {
      const id = await record(r, "bundled");
      const res = await fetch(`${r.url}/v1/recordings/${id}/bundle`, {
        headers: { authorization: `Bearer ${VIEW}` },
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "application/x-tar");
      const tar = `${r.dir}/b.tar`;
      await Deno.writeFile(tar, new Uint8Array(await res.arrayBuffer()));
      const list = await new Deno.Command("tar", { args: ["-tf", tar] })
        .output();
      assert.equal(
        new TextDecoder().decode(list.stdout),
        "manifest.json\nevidence.records\nrecording.cast\n",
      );
      let v = await runVerify([tar, "--key", files.pub(0)]);
      assert.equal(v.exitCode, 0, v.output);
      assert.match(
        v.output,
        /OK cast: derives from the evidence byte for byte/,
      );

      // Flip a byte on the cast's third line.
      const bytes = await Deno.readFile(tar);
      const entries = await tarEntries((o, n) =>
        Promise.resolve(bytes.subarray(o, o + n))
      );
      const cast = entries.find((e) => e.name === "recording.cast")!;
      let line3 = cast.offset;
      for (let seen = 0; seen < 2; line3++) if (bytes[line3] === 0x0a) seen++;
      bytes[line3 + 1]! ^= 1;
      await Deno.writeFile(tar, bytes);
      v = await runVerify([tar, "--key", files.pub(0)]);
      assert.equal(v.exitCode, 1, v.output);
      assert.match(
        v.output,
        new RegExp(
          `FAIL the cast does not derive from the evidence: it differs at byte ${
            line3 + 1 - cast.offset
          } \\(line 3\\)`,
        ),
      );
      assert.match(v.output, /OK signature/);

      // A v3 download is checked against the v3 view.
      const v3 = new Uint8Array(
        await (await fetch(`${r.url}/v1/recordings/${id}/cast?format=v3`, {
          headers: { authorization: `Bearer ${VIEW}` },
        })).arrayBuffer(),
      );
      await Deno.writeFile(`${r.dir}/r3.cast`, v3);
      const base = `${r.dir}/${id}`;
      v = await runVerify([
        base,
        "--key",
        files.pub(0),
        "--cast",
        `${r.dir}/r3.cast`,
      ]);
      assert.equal(v.exitCode, 0, v.output);
      assert.match(v.output, /OK cast \(v3\): derives from the evidence/);
      v3[v3.length - 3]! ^= 1;
      await Deno.writeFile(`${r.dir}/r3.cast`, v3);
      v = await runVerify([
        base,
        "--key",
        files.pub(0),
        "--cast",
        `${r.dir}/r3.cast`,
      ]);
      assert.equal(v.exitCode, 1, v.output);
      assert.match(
        v.output,
        new RegExp(`it differs at byte ${v3.length - 3} \\(line \\d+\\)`),
      );
    } finally {
      await r.close();
      await Deno.remove(r.dir, { recursive: true });
    }
  });
});

Deno.test("verify: a recording signed by a rotated-out key verifies with that key; an unsigned one says not signed", async () => {
  await withKeyFiles(async (files, keys) => {
    const dir = await Deno.makeTempDir({ prefix: "execgate-verify-" });
    try {
      let r = await recorder(await signerFromText(keys[0]!.privatePem), dir);
      const old = await record(r, "before-rotation");
      await r.close();
      r = await recorder(await signerFromText(keys[1]!.privatePem), dir);
      const now = await record(r, "after-rotation");
      await r.close();
      r = await recorder(undefined, dir);
      const unsigned = await record(r, "unsigned");
      await r.close();

      const both = ["--key", files.pub(1), "--key", files.pub(0)];
      let v = await runVerify([`${dir}/${old}`, ...both]);
      assert.equal(v.exitCode, 0, v.output);
      assert.match(
        v.output,
        new RegExp(`OK signature: valid, key ${keys[0]!.keyId}`),
      );
      v = await runVerify([`${dir}/${now}`, ...both]);
      assert.equal(v.exitCode, 0, v.output);
      assert.match(
        v.output,
        new RegExp(`OK signature: valid, key ${keys[1]!.keyId}`),
      );
      v = await runVerify([`${dir}/${old}`, "--key", files.pub(1)]);
      assert.equal(v.exitCode, 1);
      v = await runVerify([`${dir}/${unsigned}`]);
      assert.equal(v.exitCode, 0, v.output);
      assert.match(v.output, /OK evidence: .* match the chain/);
      assert.match(v.output, /WARN not signed/);
      // With keys given a signature is required: one removed is a failure.
      v = await runVerify([`${dir}/${unsigned}`, ...both]);
      assert.equal(v.exitCode, 1, v.output);
      assert.match(
        v.output,
        /FAIL not signed: .*keys were given, so a signature is required/,
      );
      const path = `${dir}/${old}.json`;
      const stripped = JSON.parse(await Deno.readTextFile(path));
      delete stripped.integrity.signature;
      delete stripped.integrity.keyId;
      await Deno.writeTextFile(path, JSON.stringify(stripped));
      v = await runVerify([`${dir}/${old}`, ...both]);
      assert.equal(v.exitCode, 1, v.output);
      assert.match(v.output, /FAIL not signed/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("verify: an S3 object verifies from s3://bucket/id with the recorder's S3 variables", async () => {
  const s3 = await startS3("execgate-verify");
  const k = await generateSigningKey();
  const dir = await Deno.makeTempDir({ prefix: "execgate-verify-" });
  const env = {
    EXECGATE_RECORDER_S3_ENDPOINT: s3.endpoint,
    EXECGATE_RECORDER_S3_FORCE_PATH_STYLE: "true",
    EXECGATE_RECORDER_S3_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "S3RVER",
    AWS_SECRET_ACCESS_KEY: "S3RVER",
  };
  try {
    const r = await recorder(
      await signerFromText(k.privatePem),
      dir,
      s3StorageConfig(s3),
    );
    let id: string;
    try {
      id = await record(r, "in-s3");
    } finally {
      await r.close();
    }
    await Deno.writeTextFile(`${dir}/k.pub`, k.publicPem);
    const v = await runVerify(
      [`s3://execgate-verify/rec/${id}`, "--key", `${dir}/k.pub`],
      env,
    );
    assert.equal(v.exitCode, 0, v.output);
    assert.match(v.output, /OK signature: valid/);
    const missing = await runVerify(
      [`s3://execgate-verify/rec/2026/01/01/nope`],
      env,
    );
    assert.equal(missing.exitCode, 1);
    assert.match(
      missing.output,
      /FAIL Cannot read s3:\/\/.*: there is no manifest/,
    );
  } finally {
    await s3.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("verify: each part of a failed-over session is signed and verifies on its own", async () => {
  await withKeyFiles(async (files, keys) => {
    const r = await recorder(await signerFromText(keys[0]!.privatePem));
    try {
      const s = bigSession("failed-over");
      const bounds = new RecordDecoder().push(s.beforeEnd).map((x) => x.offset);
      const cut = bounds[2]!;
      const first = await uploadRecords(
        r.url,
        UP,
        "failed-over",
        s.beforeEnd.subarray(0, cut),
      );
      const id = first.acks.find((a) => a.id)!.id!;
      const headerRecord = new RecordDecoder().push(s.records)[0]!;
      const header = JSON.parse(new TextDecoder().decode(headerRecord.payload));
      const c: Continuation = {
        part: 2,
        recording: id,
        offset: cut,
        recorder: "https://rec-a.example",
        reason: "no acknowledgement for 1500 ms",
        at: header.timestamp * 1000 + 300,
      };
      const second = await uploadRecords(
        r.url,
        UP,
        "failed-over",
        concatBytes([
          encodeRecord(
            RecordType.HEADER,
            header.timestamp * 1e6,
            new TextEncoder().encode(
              JSON.stringify({ ...header, continues: c }),
            ),
          ),
          s.beforeEnd.subarray(cut),
          s.endRecord,
        ]),
        {
          headers: {
            "content-type": RECORDS_CONTENT_TYPE,
            authorization: `Bearer ${UP}`,
            [SESSION_HEADER]: "failed-over",
            [CONTINUES_HEADER]: id,
            [PART_HEADER]: "2",
          },
        },
      );
      assert.equal(second.acks.at(-1)?.complete, true, JSON.stringify(second));
      let v = await runVerify([`${r.dir}/${id}`, "--key", files.pub(0)]);
      assert.equal(v.exitCode, 0, v.output);
      assert.match(v.output, /recording .* \(partial\)/);
      assert.match(v.output, /OK signature: valid/);
      v = await runVerify([`${r.dir}/${id}~2`, "--key", files.pub(0)]);
      assert.equal(v.exitCode, 0, v.output);
      assert.match(
        v.output,
        /WARN this is a later part of a failed-over session/,
      );
      assert.match(v.output, /OK end record: castBytes matches the evidence/);
      assert.match(v.output, /OK signature: valid/);
      // The joined view is not what was signed: the bundle is the own part.
      const res = await fetch(`${r.url}/v1/recordings/${id}/bundle`, {
        headers: { authorization: `Bearer ${VIEW}` },
      });
      await Deno.writeFile(
        `${r.dir}/p1.tar`,
        new Uint8Array(await res.arrayBuffer()),
      );
      v = await runVerify([`${r.dir}/p1.tar`, "--key", files.pub(0)]);
      assert.equal(v.exitCode, 0, v.output);
    } finally {
      await r.close();
      await Deno.remove(r.dir, { recursive: true });
    }
  });
});
