/**
 * The root export is runtime-neutral (issue 13): what `src/mod.ts` loads at
 * run time (code imports, not type-only ones) includes no `node:*` module,
 * no AWS SDK, database driver, browser or player bundle, and nothing of the
 * recorder or the Deno adapter.
 */
import assert from "node:assert/strict";

interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier?: string } }[];
}

Deno.test("src/mod.ts loads no node:*, AWS, database, UI or adapter code", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "src/mod.ts"],
    cwd: new URL("../", import.meta.url),
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    modules: InfoModule[];
    redirects: Record<string, string>;
  };
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const resolve = (s: string) => info.redirects[s] ?? s;
  const loaded = new Set<string>();
  const queue = [resolve(info.roots[0]!)];
  while (queue.length > 0) {
    const s = queue.pop()!;
    if (loaded.has(s)) continue;
    loaded.add(s);
    for (const d of bySpecifier.get(s)?.dependencies ?? []) {
      if (d.code?.specifier) queue.push(resolve(d.code.specifier));
    }
  }
  const banned = [...loaded].filter((s) =>
    s.startsWith("node:") ||
    /aws-sdk|asciinema-player|postgres|playwright|s3rver/.test(s) ||
    /\/src\/(recorder|adapter|devcluster|testing)\//.test(s) ||
    /\/src\/proxy\/(node_server|deno_socket|upstream_connect|start)\.ts$/.test(
      s,
    )
  );
  assert.deepEqual(banned, [], "modules src/mod.ts must not load");
  assert.ok(loaded.size > 20, `loaded ${loaded.size} modules`);
});
