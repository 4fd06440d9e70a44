import assert from "node:assert/strict";
import { shellQuote } from "./shell_quote.ts";

Deno.test("shellQuote leaves safe words bare and quotes the rest", () => {
  assert.equal(shellQuote(["ls", "-la", "/var/log"]), "ls -la /var/log");
  assert.equal(shellQuote(["echo", ""]), "echo ''");
  assert.equal(
    shellQuote(["echo", "a b", "$X", "it's"]),
    `echo 'a b' '$X' 'it'\\''s'`,
  );
  assert.equal(shellQuote([]), "");
});

Deno.test("shellQuote output splits back into the same argv under /bin/sh", async () => {
  const argv = [
    "printf",
    "%s\\n",
    "a b",
    "it's",
    "",
    "*",
    "$(id)",
    "ü\ttab",
    "new\nline",
    `"q"`,
  ];
  const out = await new Deno.Command("/bin/sh", {
    args: ["-c", shellQuote(argv)],
    stdout: "piped",
  }).output();
  assert.equal(
    new TextDecoder().decode(out.stdout),
    argv.slice(2).map((a) => a + "\n").join(""),
  );
});
