/**
 * Every `execgate …` command line the README and docs/ show exists: its
 * subcommand is one the real CLI lists in `execgate help`, and each flag
 * it passes is one that subcommand's help names. Also the `bin/execgate`
 * script and the `execgate` task run the same CLI.
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);
const DENO = Deno.execPath();

async function run(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
) {
  const out = await new Deno.Command(cmd, {
    args,
    cwd: root,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** `execgate …` lines of the fenced code blocks of a markdown file. */
function commandLines(markdown: string): string[] {
  const out: string[] = [];
  for (
    const block of markdown.matchAll(/```[a-z]*\n([\s\S]*?)```/g)
  ) {
    for (const raw of block[1]!.split("\n")) {
      const line = raw.replace(/^\$ /, "").replace(/\s+#.*$/, "").trim();
      if (/^execgate\s/.test(line)) out.push(line);
    }
  }
  return out;
}

Deno.test("every execgate command and flag the README and docs show is one the CLI has", async () => {
  const help = await run(DENO, ["run", "-A", "main.ts", "help"]);
  assert.equal(help.code, 0, help.stderr);
  // "  execgate proxy --config FILE   Run the proxy" → "proxy": its flags.
  const usage = new Map<string, string>();
  for (
    const m of help.stdout.matchAll(
      /^ {2}execgate ([a-z][a-z ]*?)(?= --| [A-Z]| {2}|\n|$)(.*)$/gm,
    )
  ) {
    usage.set(m[1]!.trim(), m[0]!);
  }
  assert.ok(usage.has("proxy") && usage.has("recorder"), help.stdout);
  const policyHelp = await run(DENO, [
    "run",
    "-A",
    "main.ts",
    "policy",
    "test",
    "--help",
  ]);
  if (usage.has("policy test")) {
    usage.set(
      "policy test",
      usage.get("policy test") + "\n" + policyHelp.stdout,
    );
  }

  const files = ["README.md"];
  for await (const e of Deno.readDir(new URL("docs/", root))) {
    if (e.name.endsWith(".md")) files.push(`docs/${e.name}`);
  }
  let seen = 0;
  for (const f of files) {
    const text = await Deno.readTextFile(new URL(f, root));
    for (const line of commandLines(text)) {
      seen++;
      const words = line.split(/\s+/).slice(1);
      // The longest listed subcommand the line starts with.
      const sub = [...usage.keys()].filter((k) =>
        words.slice(0, k.split(" ").length).join(" ") === k
      ).sort((a, b) =>
        b.length - a.length
      )[0];
      assert.ok(sub, `${f}: "${line}" is not a command of execgate help`);
      for (const w of words) {
        if (!w.startsWith("--")) continue;
        const flag = w.split("=")[0]!;
        assert.ok(
          new RegExp(`${flag}\\b`).test(usage.get(sub)!),
          `${f}: "${line}": execgate ${sub} has no ${flag}`,
        );
      }
    }
  }
  assert.ok(seen >= 5, `found ${seen} command lines`);
});

Deno.test("bin/execgate and the execgate task run the CLI", async () => {
  const bin = await run("./bin/execgate", ["help"], {
    EXECGATE_DENO: DENO,
    PATH: Deno.env.get("PATH") ?? "",
  });
  assert.equal(bin.code, 0, bin.stderr);
  assert.match(bin.stdout, /^Usage:\n {2}execgate proxy --config FILE/);
  const task = await run(DENO, ["task", "-q", "execgate", "help"]);
  assert.equal(task.code, 0, task.stderr);
  assert.equal(task.stdout, bin.stdout);
});
