/**
 * `execgate verify` end to end: keys made with `execgate recorder keygen`,
 * a real recorder process signing with them, a real `kubectl exec` through
 * the proxy recorded, then `execgate verify` run as a process on the disk
 * folder, the bundle download and a cast download, with bytes flipped in
 * each, and a key rotation. Then recordings cut by a recorder killed
 * mid-upload, sealed by the recorder that recovers them at restart.
 */

import assert from "node:assert/strict";
import { kubectl, startStack } from "./_harness.ts";
import {
  spawnRecorderProcess,
  UPLOADER_TOKEN,
  VIEWER_TOKEN,
} from "./_recorder.ts";
import { testBody, testHeader } from "../src/recorder/_test_util.ts";
import {
  RECORDS_CONTENT_TYPE,
  RECORDS_UPLOAD_PATH,
} from "../src/protocol/records.ts";
import { SESSION_HEADER } from "../src/recording/wire.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const MiB = 1024 * 1024;

async function execgate(
  ...args: string[]
): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-net", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return {
    code: r.code,
    out: dec.decode(r.stdout) + dec.decode(r.stderr),
  };
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function flip(path: string, at: number) {
  const b = await Deno.readFile(path);
  b[at]! ^= 0x01;
  await Deno.writeFile(path, b);
}

Deno.test(
  "execgate verify: a recorded kubectl exec verifies from disk, bundle and cast; a flipped byte anywhere fails; a rotated-out key still verifies its recordings",
  opts,
  async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "execgate-verify-e2e-" });
    const recordings = `${dir}/recordings`;
    const port = freePort();
    const startRecorder = async (key: string) => {
      const file = `${dir}/recorder-${key}.json`;
      await Deno.writeTextFile(
        file,
        JSON.stringify({
          listen: { hostname: "127.0.0.1", port },
          auth: {
            uploaderTokens: [UPLOADER_TOKEN],
            viewerTokens: [VIEWER_TOKEN],
          },
          storage: { kind: "disk", dir: recordings },
          ackIntervalMs: 100,
          signing: { privateKeyFile: `${dir}/${key}.key` },
        }),
      );
      return await spawnRecorderProcess(file);
    };
    const k1 = await execgate("recorder", "keygen", "--out", `${dir}/k1`);
    const k2 = await execgate("recorder", "keygen", "--out", `${dir}/k2`);
    assert.equal(k1.code, 0, k1.out);
    assert.equal(k2.code, 0, k2.out);
    const id1 = /key (ed25519:[0-9a-f]{16})/.exec(k1.out)![1]!;
    const id2 = /key (ed25519:[0-9a-f]{16})/.exec(k2.out)![1]!;
    assert.equal((await Deno.stat(`${dir}/k1.key`)).mode! & 0o777, 0o600);

    let rec = await startRecorder("k1");
    const stack = await startStack({
      recorderUrls: [rec.url],
      recorderToken: UPLOADER_TOKEN,
    });
    const get = (path: string) =>
      fetch(`${rec.url}${path}`, {
        headers: { authorization: `Bearer ${VIEWER_TOKEN}` },
      });
    /** Runs a recorded exec and waits (bounded) for its final manifest. */
    const recordOne = async (script: string): Promise<string> => {
      const before = new Set(
        (await (await get("/v1/recordings")).json()).items.map((
          m: { id: string },
        ) => m.id),
      );
      const r = await kubectl(stack, "alice", [
        "exec",
        "demo",
        "--",
        "sh",
        "-c",
        script,
      ]);
      assert.equal(r.code, 0, r.stderr);
      for (let i = 0; i < 300; i++) {
        const items: { id: string; status: string }[] =
          (await (await get("/v1/recordings")).json()).items;
        const m = items.find((x) => !before.has(x.id));
        if (m && m.status !== "recording") {
          assert.equal(m.status, "complete");
          return m.id;
        }
        await new Promise((res) => setTimeout(res, 100));
      }
      throw new Error("the recording was not finalised within 30 s");
    };
    try {
      // 1.5 MiB of output: the evidence spans two chain segments.
      const id = await recordOne(
        "head -c 1572864 /dev/zero | tr '\\0' x; echo; echo done >&2",
      );
      const base = `${recordings}/${id}`;
      const key1 = ["--key", `${dir}/k1.pub`];

      await t.step(
        "a clean recording passes, from its disk folder",
        async () => {
          const v = await execgate("verify", base, ...key1);
          assert.equal(v.code, 0, v.out);
          assert.match(
            v.out,
            /OK evidence: \d+ bytes match the chain \(2 segments/,
          );
          assert.match(
            v.out,
            /OK end record: stdout \(1572865 bytes\), stderr \(5 bytes\)/,
          );
          assert.match(v.out, new RegExp(`OK signature: valid, key ${id1}`));
          assert.match(v.out, /\nverified\n$/);
        },
      );

      await t.step("one flipped evidence byte names its segment", async () => {
        await flip(`${base}.records`, MiB + 1);
        const v = await execgate("verify", base, ...key1);
        assert.equal(v.code, 1, v.out);
        assert.match(
          v.out,
          /FAIL evidence bytes 1048576 to \d+ \(segment 1\) do not match the chain/,
        );
        assert.match(v.out, /\nFAILED\n$/);
        await flip(`${base}.records`, MiB + 1);
      });

      await t.step(
        "one flipped manifest or signature byte fails the signature",
        async () => {
          const text = await Deno.readTextFile(`${base}.json`);
          // A digit of the end record's stdout size: still valid JSON.
          const at = text.indexOf('"bytes":1572865') + 9;
          await flip(`${base}.json`, at);
          let v = await execgate("verify", base, ...key1);
          assert.equal(v.code, 1, v.out);
          assert.match(v.out, /FAIL signature: does not match the manifest/);
          await Deno.writeTextFile(`${base}.json`, text);
          const s = text.indexOf('"signature":"') + 14;
          await Deno.writeTextFile(
            `${base}.json`,
            text.slice(0, s) + (text[s] === "Q" ? "R" : "Q") +
              text.slice(s + 1),
          );
          v = await execgate("verify", base, ...key1);
          assert.equal(v.code, 1, v.out);
          assert.match(v.out, /FAIL signature: does not match the manifest/);
          await Deno.writeTextFile(`${base}.json`, text);
          assert.equal((await execgate("verify", base, ...key1)).code, 0);
        },
      );

      await t.step(
        "the bundle download verifies; a downloaded cast with a flipped byte names its line",
        async () => {
          const res = await get(`/v1/recordings/${id}/bundle`);
          assert.equal(res.status, 200);
          await Deno.writeFile(
            `${dir}/b.tar`,
            new Uint8Array(await res.arrayBuffer()),
          );
          let v = await execgate("verify", `${dir}/b.tar`, ...key1);
          assert.equal(v.code, 0, v.out);
          assert.match(
            v.out,
            /OK cast: derives from the evidence byte for byte/,
          );
          const cast = new Uint8Array(
            await (await get(`/v1/recordings/${id}/cast`)).arrayBuffer(),
          );
          await Deno.writeFile(`${dir}/r.cast`, cast);
          v = await execgate(
            "verify",
            base,
            ...key1,
            "--cast",
            `${dir}/r.cast`,
          );
          assert.equal(v.code, 0, v.out);
          const line2 = cast.indexOf(0x0a) + 1;
          cast[line2 + 3]! ^= 1;
          await Deno.writeFile(`${dir}/r.cast`, cast);
          v = await execgate(
            "verify",
            base,
            ...key1,
            "--cast",
            `${dir}/r.cast`,
          );
          assert.equal(v.code, 1, v.out);
          assert.match(
            v.out,
            new RegExp(
              `FAIL the cast does not derive from the evidence: it differs at byte ${
                line2 + 3
              } \\(line 2\\)`,
            ),
          );
        },
      );

      await t.step(
        "after a key rotation the old key still verifies the old recording",
        async () => {
          rec.child.kill("SIGTERM");
          await rec.child.status;
          rec = await startRecorder("k2");
          const id2rec = await recordOne("echo after rotation");
          const both = ["--key", `${dir}/k2.pub`, "--key", `${dir}/k1.pub`];
          let v = await execgate("verify", base, ...both);
          assert.equal(v.code, 0, v.out);
          assert.match(v.out, new RegExp(`OK signature: valid, key ${id1}`));
          v = await execgate("verify", `${recordings}/${id2rec}`, ...both);
          assert.equal(v.code, 0, v.out);
          assert.match(v.out, new RegExp(`OK signature: valid, key ${id2}`));
          v = await execgate("verify", base, "--key", `${dir}/k2.pub`);
          assert.equal(v.code, 1, v.out);
          assert.match(
            v.out,
            new RegExp(
              `signed by key "${id1}", which is none of the given keys \\(${id2}\\)`,
            ),
          );
        },
      );
    } finally {
      rec.child.kill("SIGTERM");
      await rec.child.status;
      await stack.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "execgate verify: a recording cut by a killed recorder is sealed when recovered at restart, signed with its key or chain only; a flipped byte names its segment",
  opts,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "execgate-verify-crash-" });
    const recordings = `${dir}/recordings`;
    const port = freePort();
    const startRecorder = async (signed: boolean) => {
      const file = `${dir}/recorder-${signed}.json`;
      await Deno.writeTextFile(
        file,
        JSON.stringify({
          listen: { hostname: "127.0.0.1", port },
          auth: {
            uploaderTokens: [UPLOADER_TOKEN],
            viewerTokens: [VIEWER_TOKEN],
          },
          storage: { kind: "disk", dir: recordings },
          ackIntervalMs: 50,
          ...(signed ? { signing: { privateKeyFile: `${dir}/k.key` } } : {}),
        }),
      );
      return await spawnRecorderProcess(file);
    };
    /**
     * Uploads 1.5 MiB of output (two chain segments) without an end record,
     * waits until the recorder acknowledged every byte, then kills it hard.
     * @returns The recording id.
     */
    const uploadAndKill = async (
      rec: Awaited<ReturnType<typeof startRecorder>>,
      sessionId: string,
    ): Promise<string> => {
      const half = "x".repeat(0.75 * MiB);
      const { body } = testBody(testHeader(sessionId), [
        [0.1, "o", half],
        [0.2, "o", half],
      ], false);
      let ctl!: ReadableStreamDefaultController<Uint8Array>;
      const stream = new ReadableStream<Uint8Array>({
        start: (c) => void (ctl = c),
      });
      ctl.enqueue(body);
      const res = await fetch(rec.url + RECORDS_UPLOAD_PATH, {
        method: "POST",
        headers: {
          "content-type": RECORDS_CONTENT_TYPE,
          authorization: `Bearer ${UPLOADER_TOKEN}`,
          [SESSION_HEADER]: sessionId,
        },
        body: stream,
        duplex: "half",
      } as RequestInit);
      const acks = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      let id: string | undefined;
      while (!new RegExp(`"ack":${body.length}\\b`).test(text)) {
        const r = await acks.read();
        if (r.done) throw new Error(`the upload ended: ${text}`);
        text += r.value;
        id ??= /"id":"([^"]+)"/.exec(text)?.[1];
      }
      rec.child.kill("SIGKILL");
      await rec.child.status;
      ctl.error(new Error("recorder gone"));
      await acks.cancel().catch(() => {});
      assert.ok(id, text);
      return id;
    };
    let rec: Awaited<ReturnType<typeof startRecorder>> | undefined;
    try {
      const k = await execgate("recorder", "keygen", "--out", `${dir}/k`);
      assert.equal(k.code, 0, k.out);
      const keyId = /key (ed25519:[0-9a-f]{16})/.exec(k.out)![1]!;
      const key = ["--key", `${dir}/k.pub`];
      // A first recorder is killed mid-upload; the one restarted with the key
      // recovers (and signs) it, and is killed mid-upload in turn; the one
      // restarted without a key recovers that one with the chain only.
      rec = await startRecorder(false);
      const signedId = await uploadAndKill(rec, "crash-signed");
      rec = await startRecorder(true);
      const chainId = await uploadAndKill(rec, "crash-chain");
      rec = await startRecorder(false);
      rec.child.kill("SIGTERM");
      await rec.child.status;
      rec = undefined;

      const base = `${recordings}/${signedId}`;
      let v = await execgate("verify", base, ...key);
      assert.equal(v.code, 0, v.out);
      assert.match(v.out, new RegExp(`recording ${signedId} \\(partial\\)`));
      assert.match(
        v.out,
        /WARN partial: the recorder stopped before the session ended; recovered at restart/,
      );
      assert.match(
        v.out,
        /OK evidence: \d+ bytes match the chain \(2 segments/,
      );
      assert.match(v.out, /OK header: the manifest's is the evidence's header/);
      assert.match(v.out, new RegExp(`OK signature: valid, key ${keyId}`));
      assert.match(v.out, /\nverified\n$/);

      await flip(`${base}.records`, MiB + 1);
      v = await execgate("verify", base, ...key);
      assert.equal(v.code, 1, v.out);
      assert.match(
        v.out,
        /FAIL evidence bytes 1048576 to \d+ \(segment 1\) do not match the chain/,
      );
      assert.match(v.out, /\nFAILED\n$/);

      v = await execgate("verify", `${recordings}/${chainId}`);
      assert.equal(v.code, 0, v.out);
      assert.match(v.out, /WARN partial: .*recovered at restart/);
      assert.match(
        v.out,
        /OK evidence: \d+ bytes match the chain \(2 segments/,
      );
      assert.match(v.out, /WARN not signed: the recorder had no signing key/);
      assert.match(v.out, /\nverified\n$/);
    } finally {
      if (rec) {
        rec.child.kill("SIGKILL");
        await rec.child.status;
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
);
