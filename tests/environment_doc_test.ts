/**
 * docs/environment.md lists every environment variable the code reads:
 * each `EXECGATE_*`, `AWS_*` and `KUBERNETES_*` name that a source file of
 * src/, scripts/, bin/ or main.ts mentions, and every key of the recorder's
 * `RECORDER_ENV`; and it lists no variable nothing reads.
 */
import assert from "node:assert/strict";
import { RECORDER_ENV } from "../src/recorder/config.ts";

const root = new URL("../", import.meta.url);

async function* sources(dir: URL): AsyncGenerator<URL> {
  for await (const e of Deno.readDir(dir)) {
    const u = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
    if (e.isDirectory) yield* sources(u);
    else if (/\.ts$/.test(e.name) && !/_test\.ts$/.test(e.name)) yield u;
  }
}

Deno.test("docs/environment.md names every environment variable the code reads, and no other", async () => {
  const doc = await Deno.readTextFile(new URL("docs/environment.md", root));
  const documented = new Set(
    [...doc.matchAll(/`((?:EXECGATE|AWS|KUBERNETES|KUBECTL)_[A-Z0-9_]+)`/g)]
      .map((
        m,
      ) => m[1]!),
  );
  const read = new Set<string>(Object.keys(RECORDER_ENV));
  const files: URL[] = [
    new URL("main.ts", root),
    new URL("bin/execgate", root),
  ];
  for (const d of ["src/", "scripts/"]) {
    for await (const f of sources(new URL(d, root))) files.push(f);
  }
  for (const f of files) {
    const text = await Deno.readTextFile(f);
    // Read as Deno.env.get("X"), env.X, env["X"], a "X" key or ${X} in sh.
    const env = text.match(
      /(?:env\.|["'`]|\$\{?)((?:EXECGATE|AWS|KUBERNETES)_[A-Z0-9_]*[A-Z0-9])(?![_A-Z0-9*])/g,
    ) ?? [];
    for (const m of env) {
      read.add(m.match(/(?:EXECGATE|AWS|KUBERNETES)_[A-Z0-9_]*[A-Z0-9]/)![0]);
    }
  }
  const missing = [...read].filter((v) => !documented.has(v));
  assert.deepEqual(missing, [], "read by the code, not in docs/environment.md");
  const stale = [...documented].filter((v) =>
    !read.has(v) && !v.startsWith("KUBECTL_")
  );
  assert.deepEqual(stale, [], "in docs/environment.md, read by nothing");
});
