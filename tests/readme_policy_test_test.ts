/**
 * The README's `execgate policy test` sample is the real output for the
 * policy the README prints above it: the policy block is saved as
 * `policy.hujson` and each `$ execgate policy test …` line of the sample is
 * run with the real CLI; its output must be the lines shown under it.
 */
import assert from "node:assert/strict";

Deno.test("the README's policy test sample is what the CLI prints for the README's policy", async () => {
  const readme = await Deno.readTextFile(
    new URL("../README.md", import.meta.url),
  );
  const policy = readme.match(/```jsonc\n(\/\/ policy\.hujson\n[\s\S]*?)```/);
  assert.ok(policy, "README prints policy.hujson");
  const dir = await Deno.makeTempDir({ prefix: "execgate-readme-" });
  try {
    await Deno.writeTextFile(`${dir}/policy.hujson`, policy[1]!);
    const sample = readme.match(/```\n(\$ execgate policy test [\s\S]*?)```/);
    assert.ok(sample, "README shows a policy test sample");
    const runs = sample[1]!.split(/\n(?=\$ )/);
    assert.ok(runs.length >= 2);
    for (const run of runs) {
      const [command, ...shown] = run.trimEnd().split("\n");
      const args = command!.replace(/^\$ execgate /, "").split(/\s+/);
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("../main.ts", import.meta.url).pathname,
          ...args,
        ],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(
        new TextDecoder().decode(out.stdout).trimEnd(),
        shown.join("\n"),
        command,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
