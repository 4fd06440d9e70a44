/**
 * One Deno version everywhere (issue 13): the Containerfile's image, the
 * README's commands and CI's `.ci/run` name the same one, and `.ci/run`
 * runs exactly the README's test command.
 */
import assert from "node:assert/strict";

const read = (p: string) =>
  Deno.readTextFile(new URL(`../${p}`, import.meta.url));

Deno.test("the Containerfile, the README and .ci/run pin the same Deno, and CI runs the README's test command", async () => {
  const containerfile = await read("Containerfile");
  const image = containerfile.match(
    /^FROM docker\.io\/denoland\/deno:debian-(\d+\.\d+\.\d+)$/m,
  );
  assert.ok(image, "the Containerfile builds FROM denoland/deno:debian-X.Y.Z");
  const version = image[1]!;

  const readme = await read("README.md");
  const commands = [...readme.matchAll(/npx -y deno@([\w.]+) task (\w+)/g)];
  assert.ok(commands.length >= 2, "the README shows its deno task commands");
  for (const [line, v] of commands) assert.equal(v, version, line);
  const setup = readme.match(
    /```sh\n(npx[^\n]*task dev[^\n]*)\n(npx[^\n]*task test)[^\n]*\n```/,
  );
  assert.ok(setup, "the README opens with the dev and test commands");

  const ci = await read(".ci/run");
  const deno = ci.match(/^DENO="(npx -y deno@[\w.]+)"$/m);
  assert.ok(deno, ".ci/run names its Deno once");
  assert.equal(deno[1], `npx -y deno@${version}`);
  assert.ok(ci.includes("$DENO task test"), ".ci/run runs the test task");
  assert.equal(`${deno[1]} task test`, setup[2]!.trim());
  for (
    const step of ["fmt --check", "lint", "check main.ts src tests scripts"]
  ) {
    assert.ok(ci.includes(`$DENO ${step}`), `.ci/run runs deno ${step}`);
  }
});

Deno.test("deno.json's ranges start at the versions deno.lock tests", async () => {
  const json = JSON.parse(await read("deno.json")) as {
    imports: Record<string, string>;
  };
  const lock = JSON.parse(await read("deno.lock")) as {
    specifiers: Record<string, string>;
  };
  for (const [name, spec] of Object.entries(json.imports)) {
    const m = spec.match(/^npm:(@?[^@]+)@\^(\d+\.\d+\.\d+)$/);
    if (!m) continue;
    const locked = lock.specifiers[spec]?.split("_")[0];
    assert.ok(locked, `${name}: ${spec} is in deno.lock`);
    assert.equal(
      m[2],
      locked,
      `${name}: the range ^${m[2]} starts below the tested ${locked}`,
    );
  }
});
