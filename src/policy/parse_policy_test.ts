import assert from "node:assert/strict";
import { parsePolicy } from "./parse_policy.ts";
import { PolicyError } from "../config/config_error.ts";

const DEV_POLICY = new URL("./testdata/dev_policy.hujson", import.meta.url);

Deno.test("parsePolicy reads the dev policy with lines for each rule", async () => {
  const policy = parsePolicy(
    await Deno.readTextFile(DEV_POLICY),
    "dev_policy.hujson",
  );
  assert.deepEqual([...policy.groups], [["group:engineering", [
    "alice@example.com",
  ]]]);
  assert.equal(policy.acls.length, 1);
  assert.equal(policy.acls[0]!.line, 20);
  assert.deepEqual(policy.acls[0]!.dst, [{
    text: "tag:k8s-proxy:*",
    tag: "tag:k8s-proxy",
  }]);
  assert.deepEqual(
    policy.grants.map((g) => [g.index, g.line, g.rules]),
    [
      [0, 29, [{
        impersonate: { groups: ["system:masters"] },
        recorder: ["tag:k8s-recorder"],
        enforceRecorder: true,
      }]],
      [1, 42, [{ impersonate: { groups: ["viewers"] } }]],
    ],
  );
});

Deno.test("parsePolicy parses destinations and ports", () => {
  const policy = parsePolicy(
    `{"acls": [{"action": "accept", "src": ["*"],
      "dst": ["*", "*:*", "tag:a:443", "tag:b:80,8000-8080"]}]}`,
    "p.hujson",
  );
  assert.deepEqual(policy.acls[0]!.dst, [
    { text: "*" },
    { text: "*:*" },
    { text: "tag:a:443", tag: "tag:a", ports: [{ from: 443, to: 443 }] },
    {
      text: "tag:b:80,8000-8080",
      tag: "tag:b",
      ports: [{ from: 80, to: 80 }, { from: 8000, to: 8080 }],
    },
  ]);
});

Deno.test("parsePolicy accepts an empty policy and other apps' capabilities", () => {
  assert.deepEqual(parsePolicy("{}", "p.hujson").acls, []);
  const p = parsePolicy(
    `{"grants": [{"src": ["*"], "dst": ["*"], "app": {"example.com/cap/x": [{"any": 1}]}}]}`,
    "p.hujson",
  );
  assert.deepEqual(p.grants[0]!.rules, []);
});

/** Malformed policies: text, expected message. */
const MALFORMED: [string, string, string][] = [
  [
    "bad JSON syntax",
    `{
  "acls": [
    {"action": "accept" "src": ["*"], "dst": ["*"]},
  ],
}`,
    'policy.hujson:3:25: Expected "," or "}", found character "\\""',
  ],
  [
    "unknown field",
    `{
  "acls": [
    {"action": "accept", "src": ["*"], "dst": ["*"], "proto": "tcp"},
  ],
}`,
    'policy.hujson:3:54: acls[0].proto: unknown field "proto"',
  ],
  [
    "unknown top-level field",
    `{
  "hosts": {},
}`,
    'policy.hujson:2:3: hosts: unknown field "hosts"',
  ],
  [
    "wrong type",
    `{
  "grants": [
    {"src": ["*"], "dst": ["*"], "app": {}},
    {
      "src": ["*"],
      "dst": ["*"],
      "app": {
        "tailscale.com/cap/kubernetes": [
          {"enforceRecorder": "yes"},
        ],
      },
    },
  ],
}`,
    'policy.hujson:9:31: grants[1].app["tailscale.com/cap/kubernetes"][0].enforceRecorder: expected boolean, got string',
  ],
  [
    "src not an array",
    `{"acls": [{"action": "accept", "src": "*", "dst": ["*"]}]}`,
    "policy.hujson:1:39: acls[0].src: expected array, got string",
  ],
  [
    "missing field",
    `{"acls": [
  {"action": "accept", "src": ["*"]},
]}`,
    "policy.hujson:2:3: acls[0].dst: required field is missing",
  ],
  [
    "unknown group",
    `{
  "groups": {"group:eng": ["alice@example.com"]},
  "grants": [
    {
      "src": ["group:eng", "group:nope"],
      "dst": ["*"],
    },
  ],
}`,
    'policy.hujson:5:28: grants[0].src[1]: group "group:nope" is not defined',
  ],
  [
    "bad action",
    `{
  "acls": [
    {"action": "deny", "src": ["*"], "dst": ["*"]},
  ],
}`,
    'policy.hujson:3:16: acls[0].action: unsupported value "deny": expected "accept"',
  ],
  [
    "bad source",
    `{"acls": [{"action": "accept", "src": ["alice"], "dst": ["*"]}]}`,
    'policy.hujson:1:40: acls[0].src[0]: source "alice" must be "*", a login name, "group:…", "tag:…" or "autogroup:…"',
  ],
  [
    "bad destination",
    `{"acls": [{"action": "accept", "src": ["*"], "dst": ["execgate:443"]}]}`,
    'policy.hujson:1:54: acls[0].dst[0]: destination "execgate:443" must be "*", "*:PORTS", "tag:name" or "tag:name:PORTS"',
  ],
  [
    "bad port",
    `{"acls": [{"action": "accept", "src": ["*"], "dst": ["tag:x:99999"]}]}`,
    'policy.hujson:1:54: acls[0].dst[0]: port "99999" in destination "tag:x:99999" must be "*", a port or a range like "1-1024"',
  ],
  [
    "bad group name",
    `{"groups": {"eng": []}}`,
    'policy.hujson:1:20: groups.eng: group name "eng" must look like "group:name"',
  ],
  [
    "unknown field in a capability rule",
    `{"grants": [{"src": ["*"], "dst": ["*"], "app": {
  "tailscale.com/cap/kubernetes": [{"recorders": ["tag:r"]}]}}]}`,
    'policy.hujson:2:37: grants[0].app["tailscale.com/cap/kubernetes"][0].recorders: unknown field "recorders"',
  ],
];

for (const [name, text, message] of MALFORMED) {
  Deno.test(`parsePolicy rejects a policy with ${name}`, () => {
    assert.throws(() => parsePolicy(text, "policy.hujson"), (e: unknown) => {
      assert.ok(e instanceof PolicyError);
      assert.equal(e.message, message);
      assert.equal(e.file, "policy.hujson");
      const [, line, column] = /^policy\.hujson:(\d+):(\d+):/.exec(message)!;
      assert.equal(e.line, Number(line));
      assert.equal(e.column, Number(column));
      return true;
    });
  });
}

Deno.test("parsePolicy reports the first problem in file order", () => {
  assert.throws(
    () =>
      parsePolicy(
        `{
  "acls": [{"action": "accept", "src": ["*"], "dst": ["*"], "x": 1}],
  "grants": [{"src": 1, "dst": ["*"]}],
}`,
        "p.hujson",
      ),
    { message: 'p.hujson:2:61: acls[0].x: unknown field "x"' },
  );
});
