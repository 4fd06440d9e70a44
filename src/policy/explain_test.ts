import assert from "node:assert/strict";
import {
  explainDecision,
  parsePolicyTestArgs,
  POLICY_TEST_USAGE,
  runPolicyTest,
} from "./explain.ts";

const DEV = await Deno.readTextFile(
  new URL("./testdata/dev_policy.hujson", import.meta.url),
);
const PROXY = { hostname: "execgate", tags: ["tag:k8s-proxy"] };

Deno.test("explainDecision explains a recorded, fail-closed engineer", () => {
  assert.equal(
    explainDecision(
      DEV,
      "dev_policy.hujson",
      { login: "alice@example.com" },
      PROXY,
    ),
    `dev_policy.hujson: alice@example.com → execgate (tag:k8s-proxy)
  admitted:  yes
  user:      alice@example.com  (Impersonate-User)
  groups:    system:masters  (Impersonate-Group)
  recorders: tag:k8s-recorder
  failure:   fail closed: sessions are refused when no recorder accepts them (enforceRecorder)
  matched:
    acl   #0  dev_policy.hujson:20
    grant #0  dev_policy.hujson:29
`,
  );
});

Deno.test("explainDecision explains an unrecorded viewer", () => {
  assert.equal(
    explainDecision(
      DEV,
      "dev_policy.hujson",
      { login: "bob@example.com" },
      PROXY,
    ),
    `dev_policy.hujson: bob@example.com → execgate (tag:k8s-proxy)
  admitted:  yes
  user:      bob@example.com  (Impersonate-User)
  groups:    viewers  (Impersonate-Group)
  recorders: none: exec and attach sessions are not recorded
  matched:
    acl   #0  dev_policy.hujson:20
    grant #1  dev_policy.hujson:42
`,
  );
});

Deno.test("explainDecision explains a refusal", () => {
  assert.equal(
    explainDecision(
      DEV,
      "dev_policy.hujson",
      { login: "carol@example.com" },
      PROXY,
    ),
    `dev_policy.hujson: carol@example.com → execgate (tag:k8s-proxy)
  admitted:  no: no acl in "dev_policy.hujson" accepts "carol@example.com" to "execgate" (tag:k8s-proxy)
  result:    the proxy answers 403 Forbidden
`,
  );
});

Deno.test("explainDecision treats --group as policy membership or asserted group", () => {
  assert.equal(
    explainDecision(DEV, "dev_policy.hujson", {
      login: "carol@example.com",
      groups: ["group:engineering", "team-x"],
    }, PROXY),
    `dev_policy.hujson: carol@example.com → execgate (tag:k8s-proxy)
  caller:    member of group:engineering; asserted groups team-x
  admitted:  yes
  user:      carol@example.com  (Impersonate-User)
  groups:    system:masters, team-x  (Impersonate-Group)
  recorders: tag:k8s-recorder
  failure:   fail closed: sessions are refused when no recorder accepts them (enforceRecorder)
  matched:
    acl   #0  dev_policy.hujson:20
    grant #0  dev_policy.hujson:29
`,
  );
});

Deno.test("explainDecision explains a tagged device, fail open, without grant", () => {
  const policy = `{
  "acls": [{"action": "accept", "src": ["tag:ci"], "dst": ["*"]}],
  "grants": [
    {"src": ["tag:ci"], "dst": ["tag:other"], "app": {"tailscale.com/cap/kubernetes": [{"recorder": ["tag:r"]}]}},
  ],
}`;
  assert.equal(
    explainDecision(policy, "p.hujson", {
      tags: ["tag:ci"],
      hostname: "ci-runner",
    }, { hostname: "gw", tags: [], port: 443 }),
    `p.hujson: ci-runner (tag:ci) → gw (no tags, port 443)
  admitted:  yes
  user:      ci-runner  (Impersonate-User)
  groups:    tag:ci  (Impersonate-Group)
  recorders: none: exec and attach sessions are not recorded
  matched:
    acl   #0  p.hujson:2
    (no grant with tailscale.com/cap/kubernetes rules applies)
`,
  );
  const open = `{
  "acls": [{"action": "accept", "src": ["*"], "dst": ["*"]}],
  "grants": [{"src": ["*"], "dst": ["*"], "app": {"tailscale.com/cap/kubernetes": [{"recorder": ["tag:r"]}]}}],
}`;
  assert.match(
    explainDecision(open, "p.hujson", { login: "a@b.c" }, PROXY),
    /\n {2}recorders: tag:r\n {2}failure: {3}fail open: sessions go on unrecorded when no recorder accepts them\n/,
  );
});

Deno.test("explainDecision throws the policy error", () => {
  assert.throws(
    () => explainDecision("{", "p.hujson", { login: "a@b.c" }, PROXY),
    { name: "ConfigError", message: "p.hujson:1:1: Unterminated object" },
  );
});

Deno.test("parsePolicyTestArgs reads every flag in both spellings", () => {
  assert.deepEqual(
    parsePolicyTestArgs([
      "--policy",
      "p.hujson",
      "--login=alice@example.com",
      "--group",
      "group:eng",
      "--group=team-x",
      "--tag",
      "tag:ci",
      "--hostname",
      "box",
      "--proxy-tag",
      "tag:k8s-proxy",
      "--proxy-hostname=gw",
      "--proxy-port",
      "443",
    ]),
    {
      help: false,
      policy: "p.hujson",
      login: "alice@example.com",
      groups: ["group:eng", "team-x"],
      tags: ["tag:ci"],
      hostname: "box",
      proxyHostname: "gw",
      proxyTags: ["tag:k8s-proxy"],
      proxyPort: 443,
    },
  );
  assert.equal(parsePolicyTestArgs(["--help"]).help, true);
});

Deno.test("parsePolicyTestArgs rejects bad command lines", () => {
  const cases: [string[], string][] = [
    [["--login", "a@b.c"], 'Flag "--policy FILE" is required'],
    [
      ["--policy", "p"],
      'Give the caller with "--login NAME" or "--tag tag:NAME"',
    ],
    [["--policy"], 'Flag "--policy" needs a value'],
    [["--policy", "--login", "x"], 'Flag "--policy" needs a value'],
    [["--nope"], 'Unknown flag "--nope"'],
    [["--tag", "ci"], 'Flag "--tag" needs a tag like "tag:name", got "ci"'],
    [
      ["--proxy-port", "http"],
      'Flag "--proxy-port" needs a port from 1 to 65535, got "http"',
    ],
  ];
  for (const [argv, message] of cases) {
    assert.throws(() => parsePolicyTestArgs(argv), {
      name: "TypeError",
      message,
    });
  }
});

Deno.test("runPolicyTest exits 0 admitted, 1 refused, 2 on errors", async () => {
  const files: Record<string, string> = {
    "dev.hujson": DEV,
    "bad.hujson": "[",
  };
  const read = (p: string) =>
    p in files
      ? Promise.resolve(files[p]!)
      : Promise.reject(new Error(`No such file: ${p}`));
  const run = (...argv: string[]) => runPolicyTest(argv, read);
  const base = ["--policy", "dev.hujson", "--proxy-tag", "tag:k8s-proxy"];

  const alice = await run(...base, "--login", "alice@example.com");
  assert.equal(alice.exitCode, 0);
  assert.match(alice.output, /^dev\.hujson: alice@example\.com → execgate/);
  assert.equal(
    (await run(...base, "--login", "carol@example.com")).exitCode,
    1,
  );
  assert.deepEqual(await run("--policy", "bad.hujson", "--login", "a@b.c"), {
    exitCode: 2,
    output: "bad.hujson:1:1: Unterminated array\n",
  });
  assert.deepEqual(await run("--policy", "gone.hujson", "--login", "a@b.c"), {
    exitCode: 2,
    output:
      'Cannot read policy file "gone.hujson": No such file: gone.hujson\n',
  });
  const usage = await run("--bogus");
  assert.equal(usage.exitCode, 2);
  assert.equal(usage.output, `Unknown flag "--bogus"\n\n${POLICY_TEST_USAGE}`);
  assert.deepEqual(await run("--help"), {
    exitCode: 0,
    output: POLICY_TEST_USAGE,
  });
});
