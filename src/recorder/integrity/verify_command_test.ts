import assert from "node:assert/strict";
import { parseRecorderConfig } from "../config.ts";
import { loadSigner } from "../serve.ts";
import { runKeygen, runVerify } from "./verify_command.ts";
import { tarEnd, tarHeader, tarPadding } from "./bundle.ts";

Deno.test("signing.privateKeyFile comes from the config or EXECGATE_RECORDER_SIGNING_KEY_FILE, and loadSigner names the field when it is wrong", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const k = await runKeygen(["--out", `${dir}/k`]);
    assert.equal(k.exitCode, 0, k.output);
    const c = parseRecorderConfig({}, {
      EXECGATE_RECORDER_SIGNING_KEY_FILE: `${dir}/k.key`,
    });
    assert.equal(c.signing?.privateKeyFile, `${dir}/k.key`);
    const signer = await loadSigner(c);
    assert.match(k.output, new RegExp(`key ${signer!.keyId}:`));
    assert.equal(await loadSigner(parseRecorderConfig({})), undefined);
    await assert.rejects(
      () =>
        loadSigner(
          parseRecorderConfig({ signing: { privateKeyFile: `${dir}/nope` } }),
        ),
      /Cannot read signing.privateKeyFile ".*nope": /,
    );
    await assert.rejects(
      () =>
        loadSigner(
          parseRecorderConfig({ signing: { privateKeyFile: `${dir}/k.pub` } }),
        ),
      /Cannot read signing.privateKeyFile ".*k.pub": expected a PEM "PRIVATE KEY" block/,
    );
    assert.throws(
      () => parseRecorderConfig({ signing: { privateKeyFile: "" } }),
      /signing.privateKeyFile/,
    );
    assert.throws(
      () => parseRecorderConfig({ signing: { keyFile: "x" } }),
      /signing/,
    );
    // keygen never overwrites a key.
    await assert.rejects(() => runKeygen(["--out", `${dir}/k`]), /exists/i);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runVerify: usage errors exit 2, unreadable input exits 1 saying what", async () => {
  assert.equal((await runVerify([])).exitCode, 2);
  assert.equal((await runVerify(["a", "b"])).exitCode, 2);
  assert.equal((await runVerify(["a", "--key"])).exitCode, 2);
  const dir = await Deno.makeTempDir();
  try {
    let v = await runVerify([`${dir}/2026/01/01/x`]);
    assert.equal(v.exitCode, 1);
    assert.match(v.output, /FAIL Cannot read .*x\.json: /);
    await Deno.writeTextFile(`${dir}/bad.pub`, "not a key");
    v = await runVerify([`${dir}/x`, "--key", `${dir}/bad.pub`]);
    assert.equal(v.exitCode, 1);
    assert.match(
      v.output,
      /FAIL Cannot read key .*bad.pub: expected a PEM "PUBLIC KEY" block or a JWK/,
    );
    // A huge "manifest" is not read into memory.
    const f = await Deno.open(`${dir}/big.json`, { create: true, write: true });
    await f.truncate(17 * 1024 * 1024);
    f.close();
    v = await runVerify([`${dir}/big`]);
    assert.equal(v.exitCode, 1);
    assert.match(v.output, /more than a manifest can be/);
    // A tar holding anything but the bundle's entries is refused.
    const extra = new Uint8Array([
      ...tarHeader("manifest.json", 2),
      ...tarPadding(0),
      ...new Uint8Array(512),
      ...tarHeader("run-me.sh", 0),
      ...tarEnd(),
    ]);
    extra.set(new TextEncoder().encode("{}"), 512);
    await Deno.writeFile(`${dir}/x.tar`, extra);
    v = await runVerify([`${dir}/x.tar`]);
    assert.equal(v.exitCode, 1);
    assert.match(
      v.output,
      /FAIL Cannot read bundle .*x.tar: it holds "run-me.sh", which a bundle never does/,
    );
    // Not a bundle: a tar whose header checksum was changed.
    const tar = new Uint8Array(1024);
    tar.set(new TextEncoder().encode("ustar\0"), 257);
    await Deno.writeFile(`${dir}/b.tar`, tar);
    v = await runVerify([`${dir}/b.tar`]);
    assert.equal(v.exitCode, 1);
    assert.match(
      v.output,
      /FAIL Cannot read bundle at byte 0: the header checksum does not match/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
