/**
 * `kubectl cp` through the proxy, recorded: a download's files are listed
 * from the stored stdout (the tar stream `tar cf -` wrote), with each
 * file's SHA-256, on the JSON API, on the recording's page and in the text
 * search; an upload's stdin is never stored, only its size.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { kubectl, startStack } from "./_harness.ts";
import {
  allStoredText,
  startTestRecorder,
  UPLOADER_TOKEN,
  VIEWER_TOKEN,
} from "./_recorder.ts";
import type { CopyFiles } from "../src/recorder/views/copy_files.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Bytes no text decoder keeps: every byte value, in a fixed order. */
function binary(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    b[i] = x >> 16;
  }
  return b;
}

Deno.test(
  "kubectl cp through the proxy: downloads listed with SHA-256, uploads counted",
  opts,
  async (t) => {
    const rec = await startTestRecorder();
    const stack = await startStack({
      recorderUrls: [rec.url],
      recorderToken: UPLOADER_TOKEN,
    });
    const pod = `${stack.dir}/pods/default/demo`;
    const local = `${stack.dir}/local`;
    await Deno.mkdir(`${pod}/data/sub`, { recursive: true });
    await Deno.mkdir(local);
    const get = async (path: string) => {
      const res = await fetch(rec.url + path, {
        headers: { authorization: `Bearer ${VIEWER_TOKEN}` },
      });
      const body = await res.text();
      assert.equal(res.status, 200, `GET ${path}: ${body}`);
      return body;
    };
    /** The finished recording whose command is `command`. */
    const recordingOf = async (command: string) => {
      const items = await rec.list(`command=${encodeURIComponent(command)}`);
      assert.equal(items.length, 1, `one recording of ${command}`);
      assert.equal(items[0]!.status, "complete", items[0]!.partialReason);
      return items[0]!;
    };
    let uploads = 0;
    const waitUploads = async (n: number) => {
      for (; uploads < n; uploads++) await rec.finished(uploads);
    };
    try {
      await t.step("a binary file out of the pod", async () => {
        const blob = binary(300_000, 7);
        await Deno.writeFile(`${pod}/blob.bin`, blob);
        const r = await kubectl(stack, "alice", [
          "cp",
          "demo:blob.bin",
          `${local}/blob.bin`,
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(await Deno.readFile(`${local}/blob.bin`), blob);
        await waitUploads(1);
        const m = await recordingOf("tar cf - blob.bin");
        const files = JSON.parse(
          await get(`/v1/recordings/${m.id}/files`),
        ) as CopyFiles;
        assert.equal(files.direction, "download");
        assert.deepEqual(files.detectedBy, ["command", "stdout"]);
        const l = files.listing!;
        assert.equal(l.problem, undefined);
        assert.equal(l.ended, true);
        assert.deepEqual(
          l.members.map((x) => [x.path, x.type, x.size, x.sha256]),
          [["blob.bin", "file", blob.length, sha(blob)]],
        );
        assert.equal(l.bytes, m.end!.channels.stdout.bytes);
      });

      await t.step(
        "kubectl cp --retries: the sh -c tar | tail download is listed",
        async () => {
          const blob = binary(40_000, 3);
          await Deno.writeFile(`${pod}/retry.bin`, blob);
          const r = await kubectl(stack, "alice", [
            "cp",
            "--retries=3",
            "demo:retry.bin",
            `${local}/retry.bin`,
          ]);
          assert.equal(r.code, 0, r.stderr);
          assert.deepEqual(await Deno.readFile(`${local}/retry.bin`), blob);
          await waitUploads(2);
          const items = (await rec.list("limit=100")).filter((x) =>
            x.header.command?.includes("retry.bin")
          );
          assert.equal(items.length, 1, JSON.stringify(items));
          const m = items[0]!;
          assert.deepEqual(m.header.argv?.slice(0, 2), ["sh", "-c"]);
          assert.match(
            m.header.argv![2]!,
            /^tar cf - retry\.bin \| tail -c\+[01]$/,
          );
          const files = JSON.parse(
            await get(`/v1/recordings/${m.id}/files`),
          ) as CopyFiles;
          assert.deepEqual(files.detectedBy, ["command", "stdout"]);
          assert.deepEqual(
            files.listing!.members.map((x) => [x.path, x.size, x.sha256]),
            [["retry.bin", blob.length, sha(blob)]],
          );
        },
      );

      await t.step(
        "a directory out of the pod, then found by a file name",
        async () => {
          const files = new Map<string, Uint8Array>([
            ["data/a.bin", binary(70_000, 1)],
            ["data/empty", new Uint8Array(0)],
            [
              "data/sub/notes.txt",
              new TextEncoder().encode("hello from the pod\n"),
            ],
            ["data/sub/zz-unique-name.dat", binary(513, 9)],
          ]);
          for (const [p, b] of files) await Deno.writeFile(`${pod}/${p}`, b);
          await Deno.chmod(`${pod}/data/a.bin`, 0o640);
          await Deno.symlink("a.bin", `${pod}/data/link`);
          const r = await kubectl(stack, "alice", [
            "cp",
            "demo:data",
            `${local}/data`,
          ]);
          assert.equal(r.code, 0, r.stderr);
          for (const [p, b] of files) {
            assert.deepEqual(await Deno.readFile(`${local}/${p}`), b, p);
          }
          await waitUploads(3);
          const m = await recordingOf("tar cf - data");
          const copy = JSON.parse(
            await get(`/v1/recordings/${m.id}/files`),
          ) as CopyFiles;
          const l = copy.listing!;
          assert.equal(l.problem, undefined);
          const byPath = new Map(l.members.map((x) => [x.path, x]));
          for (const [p, b] of files) {
            assert.equal(byPath.get(p)?.sha256, sha(b), p);
            assert.equal(byPath.get(p)?.size, b.length, p);
          }
          assert.equal(byPath.get("data/a.bin")?.mode, 0o640);
          assert.equal(byPath.get("data/")?.type, "directory");
          assert.equal(byPath.get("data/link")?.linkTarget, "a.bin");
          // The page lists them.
          const page = await get(`/ui/r/${m.id}`);
          assert.match(page, /<h3>Files copied out<\/h3>/);
          assert.ok(
            page.includes(sha(files.get("data/sub/zz-unique-name.dat")!)),
          );
          assert.ok(page.includes("data/sub/zz-unique-name.dat"));
          // The text search finds the recording by a file name and a digest
          // (the text is derived after the upload finished: bounded polling).
          let found: string[] = [];
          for (let i = 0; i < 100 && found.length === 0; i++) {
            found = (await rec.list("q=zz-unique-name")).map((x) => x.id);
            if (found.length === 0) await new Promise((r) => setTimeout(r, 50));
          }
          assert.deepEqual(found, [m.id]);
          const bySha = await rec.list(`q=${sha(files.get("data/a.bin")!)}`);
          assert.deepEqual(bySha.map((x) => x.id), [m.id]);
        },
      );

      await t.step(
        "a file into the pod: its size, never its content",
        async () => {
          const secret = new TextEncoder().encode(
            "upload-secret-content-0123456789\n".repeat(200),
          );
          await Deno.writeFile(`${local}/up.txt`, secret);
          const r = await kubectl(stack, "alice", [
            "cp",
            `${local}/up.txt`,
            "demo:up.txt",
          ]);
          assert.equal(r.code, 0, r.stderr);
          assert.deepEqual(await Deno.readFile(`${pod}/up.txt`), secret);
          // kubectl first asks `test -d up.txt`, then runs tar.
          const items = await (async () => {
            for (let i = 0; i < 100; i++) {
              const all = await rec.list("command=tar");
              const up = all.filter((x) => x.header.argv[1] === "-xmf");
              if (up.length > 0 && up[0]!.status !== "recording") return up;
              await new Promise((r) => setTimeout(r, 50));
            }
            throw new Error("no tar -xmf recording");
          })();
          const m = items[0]!;
          assert.equal(m.status, "complete", m.partialReason);
          // Go's archive/tar: one header, the content in blocks, two end blocks.
          const tarBytes = 512 + Math.ceil(secret.length / 512) * 512 + 1024;
          assert.equal(m.end!.stdinBytes, tarBytes);
          const copy = JSON.parse(
            await get(`/v1/recordings/${m.id}/files`),
          ) as CopyFiles;
          assert.deepEqual(copy, {
            direction: "upload",
            detectedBy: ["command"],
            stdinBytes: tarBytes,
          });
          const page = await get(`/ui/r/${m.id}`);
          assert.ok(
            page.includes(
              `Copied into the pod: ${tarBytes} bytes (content not recorded).`,
            ),
          );
          assert.ok(
            !(await allStoredText(rec.dir)).includes("upload-secret-content"),
          );
        },
      );

      await t.step(
        "over SPDY too: a download listed, an upload counted",
        async () => {
          const env = { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: "false" };
          const blob = binary(100_000, 3);
          await Deno.writeFile(`${pod}/spdyfile.bin`, blob);
          const r = await kubectl(stack, "alice", [
            "cp",
            "demo:spdyfile.bin",
            `${local}/spdyfile.bin`,
          ], { env });
          assert.equal(r.code, 0, r.stderr);
          assert.deepEqual(await Deno.readFile(`${local}/spdyfile.bin`), blob);
          let m;
          for (let i = 0; i < 100 && !m; i++) {
            m = (await rec.list("command=tar cf - spdyfile.bin")).find((x) =>
              x.status !== "recording"
            );
            if (!m) await new Promise((r) => setTimeout(r, 50));
          }
          assert.equal(m?.status, "complete", m?.partialReason);
          const down = JSON.parse(
            await get(`/v1/recordings/${m!.id}/files`),
          ) as CopyFiles;
          assert.equal(down.listing?.members[0]?.sha256, sha(blob));
          const content = binary(2000, 5);
          await Deno.writeFile(`${local}/up2.bin`, content);
          await Deno.mkdir(`${pod}/spdy`);
          const u = await kubectl(stack, "alice", [
            "cp",
            `${local}/up2.bin`,
            "demo:spdy/up2.bin",
          ], { env });
          assert.equal(u.code, 0, u.stderr);
          assert.deepEqual(await Deno.readFile(`${pod}/spdy/up2.bin`), content);
          let up;
          for (let i = 0; i < 100 && !up; i++) {
            up = (await rec.list("command=tar -xmf - -C spdy")).find((x) =>
              x.status !== "recording"
            );
            if (!up) await new Promise((r) => setTimeout(r, 50));
          }
          assert.equal(up?.status, "complete", up?.partialReason);
          assert.equal(
            up!.end!.stdinBytes,
            512 + Math.ceil(content.length / 512) * 512 + 1024,
          );
        },
      );

      await t.step("an exec that is no copy has no files", async () => {
        const r = await kubectl(stack, "alice", [
          "exec",
          "demo",
          "--",
          "echo",
          "plain",
        ]);
        assert.equal(r.code, 0, r.stderr);
        let items: Awaited<ReturnType<typeof rec.list>> = [];
        for (let i = 0; i < 100 && items.length === 0; i++) {
          items = (await rec.list("command=echo plain")).filter((x) =>
            x.status !== "recording"
          );
          if (items.length === 0) await new Promise((r) => setTimeout(r, 50));
        }
        const res = await fetch(
          `${rec.url}/v1/recordings/${items[0]!.id}/files`,
          {
            headers: { authorization: `Bearer ${VIEWER_TOKEN}` },
          },
        );
        assert.equal(res.status, 404);
        assert.match((await res.json()).error, /is not a kubectl cp session/);
        assert.ok(!(await get(`/ui/r/${items[0]!.id}`)).includes('id="files"'));
      });
    } finally {
      await stack.close();
      await rec.close();
    }
  },
);
