/**
 * The Containerfile's entrypoint, run as the image runs it: its ENTRYPOINT
 * array is read from the file and executed from the checkout (the image's
 * WORKDIR holds the same deno.json, deno.lock, main.ts and src/), with this
 * test's own deno binary in place of `deno` (the same Deno 2 that
 * `npx -y deno@2` runs). `--cached-only --frozen` are kept: they pass when
 * the lock matches and every dependency is cached, as after the image's
 * `deno install`. It shows the narrow permissions are enough for the
 * recorder on disk (recordings and SQLite index under /var/lib/execgate)
 * and that writing anywhere else is refused with a message naming the path.
 */

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url).pathname;
const WRITABLE = "/var/lib/execgate";

/** The Containerfile's instructions, continuation lines joined. */
function instructions(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const joined = text.replace(/\\\n/g, " ");
  for (const line of joined.split("\n")) {
    const m = /^([A-Z]+)\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    out.set(m[1]!, [...(out.get(m[1]!) ?? []), m[2]!.trim()]);
  }
  return out;
}

const containerfile = await Deno.readTextFile(`${ROOT}Containerfile`);
const ins = instructions(containerfile);

function jsonArray(name: string): string[] {
  const v = ins.get(name);
  assert.equal(v?.length, 1, `one ${name} in the Containerfile`);
  const parsed = JSON.parse(v![0]!);
  assert.ok(
    Array.isArray(parsed) && parsed.every((s) => typeof s === "string"),
    `${name} is an exec-form JSON array of strings`,
  );
  return parsed;
}

const ENTRYPOINT = jsonArray("ENTRYPOINT");
const CMD = jsonArray("CMD");

/** Runs the entrypoint with `args`; `deno` is this test's deno binary. */
function entrypoint(args: string[], opts: { stdout?: "piped" | "null" } = {}) {
  assert.equal(ENTRYPOINT[0], "deno");
  return new Deno.Command(Deno.execPath(), {
    args: [...ENTRYPOINT.slice(1), ...args],
    cwd: ROOT,
    stdout: opts.stdout ?? "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    clearEnv: false,
  });
}

Deno.test("Containerfile: the entrypoint runs main.ts with narrow permissions, as user deno", () => {
  assert.deepEqual(ENTRYPOINT, [
    "deno",
    "run",
    "--cached-only",
    "--frozen",
    "--allow-net",
    "--allow-read",
    `--allow-write=${WRITABLE}`,
    "--allow-env",
    "--allow-sys",
    "main.ts",
  ]);
  for (const a of ENTRYPOINT) {
    assert.doesNotMatch(a, /^(-A|--allow-all|--allow-run|--allow-ffi)/);
  }
  assert.deepEqual(ins.get("USER"), ["deno"]);
  assert.deepEqual(ins.get("VOLUME"), [WRITABLE]);
  assert.deepEqual(ins.get("WORKDIR"), ["/app"]);
  assert.match(ins.get("FROM")![0]!, /^docker\.io\/denoland\/deno:debian-2\./);
  // The folder the recorder writes belongs to the user it runs as.
  assert.ok(
    ins.get("RUN")!.some((r) => r.includes(`chown deno:deno ${WRITABLE}`)),
  );
});

Deno.test("Containerfile: the entrypoint with its default CMD prints the usage", async () => {
  assert.deepEqual(CMD, ["help"]);
  const out = await entrypoint(CMD).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  const stdout = new TextDecoder().decode(out.stdout);
  assert.match(stdout, /^Usage:/);
  assert.match(stdout, /execgate proxy --config FILE/);
  assert.match(stdout, /execgate recorder --config FILE/);
});

async function recorderConfig(dir: string, file: string) {
  await Deno.writeTextFile(
    file,
    JSON.stringify({
      listen: { hostname: "127.0.0.1", port: 0 },
      auth: {
        uploaderTokens: ["uploader-token-0123456789"],
        viewerTokens: ["viewer-token-0123456789"],
      },
      storage: { kind: "disk", dir: `${dir}/recordings` },
      index: { kind: "sqlite", file: `${dir}/index.sqlite` },
    }),
  );
}

Deno.test("Containerfile: the entrypoint runs the recorder on disk under /var/lib/execgate", async () => {
  await Deno.mkdir(WRITABLE, { recursive: true });
  const dir = await Deno.makeTempDir({ dir: WRITABLE, prefix: "test-" });
  const cfgDir = await Deno.makeTempDir();
  try {
    const file = `${cfgDir}/recorder.json`;
    await recorderConfig(dir, file);
    const child = entrypoint(["recorder", "--config", file]).spawn();
    // Its JSON log lines (stderr): `{…"msg":"recorder listening","url":"…"}`.
    const LISTENING = /"msg":"recorder listening","url":"([^"]+)"/;
    const reader = child.stderr.pipeThrough(new TextDecoderStream())
      .getReader();
    let seen = "";
    while (!LISTENING.test(seen)) {
      const r = await reader.read();
      if (r.done) throw new Error(`the recorder did not start: ${seen}`);
      seen += r.value;
    }
    const errText = (async () => {
      let rest = seen;
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        rest += r.value;
      }
      return rest;
    })();
    const outText = new Response(child.stdout).text();
    try {
      const url = LISTENING.exec(seen)![1]!;
      const res = await fetch(`${url}/healthz`);
      assert.equal(res.status, 200);
      assert.equal((await res.json()).ok, true);
      // It wrote its index where the permissions allow.
      assert.ok((await Deno.stat(`${dir}/index.sqlite`)).isFile);
    } finally {
      child.kill("SIGTERM");
      const status = await child.status;
      await outText;
      const err = await errText;
      assert.doesNotMatch(err, /NotCapable|PermissionDenied|Requires/, err);
      assert.ok(status.code === 0 || status.signal === "SIGTERM", err);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(cfgDir, { recursive: true });
  }
});

Deno.test("Containerfile: the entrypoint refuses a recorder writing outside /var/lib/execgate, naming the path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/recorder.json`;
    await recorderConfig(`${dir}/elsewhere`, file);
    const out = await entrypoint(["recorder", "--config", file], {
      stdout: "null",
    }).output();
    const err = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, err);
    assert.match(err, /^execgate: /m);
    assert.match(err, /write access/);
    assert.ok(err.includes(`${dir}/elsewhere`), err);
    // Nothing was written there.
    await assert.rejects(Deno.stat(`${dir}/elsewhere`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
