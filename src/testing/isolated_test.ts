/**
 * Runs a test alone in a child `deno test` process. RSS is per process, and
 * `deno test --parallel` runs other test modules in the same one: a memory
 * bound measured there counts their memory too.
 *
 * @module
 */

import assert from "node:assert/strict";

const IN_CHILD = Deno.env.get("EXECGATE_MEMORY_ISOLATED") === "1";

/**
 * Registers `fn` as a test that runs in a child process of its own.
 * @param file `import.meta.url` of the test module.
 * @param name Test name (unique in the module: it is the child's filter).
 * @param fn The test body, run in the child.
 * @param ignore Skip it.
 */
export function isolatedTest(
  file: string,
  name: string,
  fn: () => Promise<void>,
  ignore = false,
): void {
  Deno.test({ name, ignore }, async () => {
    if (IN_CHILD) return await fn();
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "test",
        "-A",
        "--unstable-net",
        "--filter",
        name,
        new URL(file).pathname,
      ],
      env: { EXECGATE_MEMORY_ISOLATED: "1", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    const text = dec.decode(out.stdout) + dec.decode(out.stderr);
    assert.equal(out.code, 0, text);
    assert.match(text, /ok \| 1 passed/, text);
    const growth = text.match(/RSS growth[^\n]*/)?.[0];
    if (growth) console.log(growth);
  });
}
