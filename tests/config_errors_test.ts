/**
 * Every file execgate reads reports a mistake the same way (issue 13):
 * `FILE:LINE:COLUMN: PATH: PROBLEM`, for the proxy config, the recorder
 * config, the token file and the policy, in-process and from the real CLI;
 * a recorder value from an environment variable is named by the variable.
 */
import assert from "node:assert/strict";
import { ConfigError } from "../src/config/mod.ts";
import { loadProxyConfig } from "../src/proxy/config.ts";
import { loadRecorderConfig } from "../src/recorder/config.ts";
import { parseTokenFile } from "../src/identity/tokens.ts";
import { parsePolicy } from "../src/policy/mod.ts";

const FORMAT = /^[\w.()\- ]+:\d+:\d+: [\w.\[\]"/]+: [^\n]+$/;

/** The error a load throws (sync or async). */
async function errorOf(f: () => unknown): Promise<ConfigError> {
  try {
    await f();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `not a ConfigError: ${e}`);
    return e;
  }
  throw new Error("accepted");
}

Deno.test("a number given as a string reads the same in all four files", async () => {
  const cases: [string, () => unknown, string][] = [
    [
      "proxy config",
      () =>
        loadProxyConfig(
          `{\n  "identity": { "type": "tokens", "file": "t" },\n  "policy": { "file": "p" },\n  "listen": { "port": "8443" },\n}`,
          "proxy.hujson",
        ),
      "proxy.hujson:4:23: listen.port: expected number, got string",
    ],
    [
      "recorder config",
      () =>
        loadRecorderConfig(
          `{\n  // comments are fine\n  "listen": { "port": "8443" },\n}`,
          "recorder.hujson",
        ),
      "recorder.hujson:3:23: listen.port: expected number, got string",
    ],
    [
      "token file",
      () =>
        parseTokenFile(
          `{\n  "tokens": [\n    { "token": 12, "loginName": "a@example.com" },\n  ],\n}`,
          "tokens.hujson",
        ),
      "tokens.hujson:3:16: tokens[0].token: expected string, got number",
    ],
    [
      "policy",
      () =>
        parsePolicy(
          `{\n  "grants": [\n    { "src": ["*"], "dst": ["*"], "app": { "tailscale.com/cap/kubernetes": [{ "enforceRecorder": "yes" }] } },\n  ],\n}`,
          "policy.hujson",
        ),
      'policy.hujson:3:98: grants[0].app["tailscale.com/cap/kubernetes"][0].enforceRecorder: expected boolean, got string',
    ],
  ];
  for (const [what, load, want] of cases) {
    const e = await errorOf(load);
    assert.equal(e.message, want, what);
    assert.match(e.message, FORMAT, what);
  }
});

Deno.test("an unknown field reads the same in all four files", async () => {
  const loads: [string, () => unknown][] = [
    [
      "proxy.hujson",
      () =>
        loadProxyConfig(
          `{\n  "listn": {},\n  "identity": { "type": "tokens", "file": "t" },
  "policy": { "file": "p" },\n}`,
          "proxy.hujson",
        ),
    ],
    [
      "recorder.hujson",
      () => loadRecorderConfig(`{\n  "listn": {},\n}`, "recorder.hujson"),
    ],
    [
      "tokens.hujson",
      () =>
        parseTokenFile(
          `{\n  "listn": {},\n  "tokens": [],\n}`,
          "tokens.hujson",
        ),
    ],
    [
      "policy.hujson",
      () => parsePolicy(`{\n  "listn": {},\n}`, "policy.hujson"),
    ],
  ];
  for (const [file, load] of loads) {
    const e = await errorOf(load);
    assert.equal(e.message, `${file}:2:3: listn: unknown field "listn"`);
  }
});

Deno.test("a recorder value from the environment is named by its variable", async () => {
  const e = await errorOf(() =>
    loadRecorderConfig("{}", "recorder.hujson", {
      EXECGATE_RECORDER_PORT: "eighty",
    })
  );
  assert.equal(
    e.message,
    "EXECGATE_RECORDER_PORT: listen.port: expected number, got string",
  );
});

Deno.test("the CLI prints the same error for the proxy's and the recorder's config", async () => {
  const dir = await Deno.makeTempDir({ prefix: "execgate-config-errors-" });
  try {
    await Deno.writeTextFile(
      `${dir}/proxy.hujson`,
      `{\n  "identity": { "type": "tokens", "file": "t" },\n  "policy": { "file": "p" },\n  "listen": { "port": "8443" },\n}`,
    );
    await Deno.writeTextFile(
      `${dir}/recorder.hujson`,
      `{\n  // comments are fine\n  "listen": { "port": "8443" },\n}`,
    );
    const main = new URL("../main.ts", import.meta.url).pathname;
    for (
      const [cmd, file, at] of [["proxy", "proxy.hujson", "4:23"], [
        "recorder",
        "recorder.hujson",
        "3:23",
      ]]
    ) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--unstable-net",
          main,
          cmd!,
          "--config",
          `${dir}/${file}`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(out.code, 1);
      assert.equal(
        new TextDecoder().decode(out.stderr).trim(),
        `execgate: ${dir}/${file}:${at}: listen.port: expected number, got string`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
