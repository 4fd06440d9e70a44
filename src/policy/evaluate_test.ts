import assert from "node:assert/strict";
import type { Identity } from "../identity/identity.ts";
import type { Decision } from "./decision.ts";
import { evaluate, type ProxySelf } from "./evaluate.ts";
import { parsePolicy } from "./parse_policy.ts";

const POLICY = parsePolicy(
  `{
  "groups": {
    "group:eng": ["alice@example.com", "Dave@Example.com"],
    "group:ops": ["dave@example.com"],
  },
  "acls": [
    {"action": "accept", "src": ["group:eng", "bob@example.com"], "dst": ["tag:k8s-proxy:443"]},
    {"action": "accept", "src": ["tag:ci"], "dst": ["*:*"]},
    {"action": "accept", "src": ["erin@example.com"], "dst": ["tag:other-proxy:443"]},
    {"action": "accept", "src": ["frank@example.com"], "dst": ["*"]},
  ],
  "grants": [
    {"src": ["group:eng"], "dst": ["tag:k8s-proxy"], "app": {"tailscale.com/cap/kubernetes": [
      {"impersonate": {"groups": ["engineers", "viewers"]}, "recorder": ["tag:rec-a"]},
    ]}},
    {"src": ["group:ops"], "dst": ["*"], "app": {"tailscale.com/cap/kubernetes": [
      {"impersonate": {"groups": ["viewers", "ops"]}, "recorder": ["tag:rec-b", "tag:rec-a"], "enforceRecorder": true},
      {"enforceRecorder": false},
    ]}},
    {"src": ["bob@example.com"], "dst": ["tag:k8s-proxy"], "app": {"tailscale.com/cap/kubernetes": [
      {"impersonate": {"groups": ["viewers"]}},
    ]}},
    {"src": ["*"], "dst": ["tag:other-proxy"], "app": {"tailscale.com/cap/kubernetes": [
      {"impersonate": {"groups": ["elsewhere"]}},
    ]}},
    {"src": ["tag:ci"], "dst": ["tag:k8s-proxy"], "app": {"tailscale.com/cap/kubernetes": [
      {"recorder": ["tag:rec-ci"]},
    ]}},
    {"src": ["autogroup:member"], "dst": ["*"], "app": {"other.example/cap": [1]}},
  ],
}`,
  "p.hujson",
);

const PROXY: ProxySelf = { hostname: "execgate", tags: ["tag:k8s-proxy"] };

function user(login: string, groups: string[] = []): Identity {
  return {
    hostname: login.split("@")[0]! + "-laptop",
    nodeId: "n-" + login,
    loginName: login,
    userId: "u-" + login,
    groups,
  };
}

function device(
  hostname: string,
  tags: string[],
  groups: string[] = [],
): Identity {
  return { hostname, nodeId: "n-" + hostname, tags, groups };
}

const admitted = (
  d: Omit<Decision, "admitted" | "allowProxySubresources"> & {
    allowProxySubresources?: boolean;
  },
): Decision => ({
  admitted: true,
  allowProxySubresources: false,
  ...d,
});

const CASES: {
  name: string;
  identity: Identity;
  proxy?: ProxySelf;
  want: Decision | { admitted: false; reason: RegExp };
}[] = [
  {
    name: "group member gets the group's grant",
    identity: user("alice@example.com"),
    want: admitted({
      user: "alice@example.com",
      groups: ["engineers", "viewers"],
      recorders: ["tag:rec-a"],
      enforceRecorder: false,
      matched: [{ kind: "acl", index: 0, line: 7 }, {
        kind: "grant",
        index: 0,
        line: 13,
      }],
    }),
  },
  {
    name:
      "multiple grants merge: groups and recorders in order without duplicates, enforce if any",
    identity: user("dave@example.com"),
    want: admitted({
      user: "dave@example.com",
      groups: ["engineers", "viewers", "ops"],
      recorders: ["tag:rec-a", "tag:rec-b"],
      enforceRecorder: true,
      matched: [
        { kind: "acl", index: 0, line: 7 },
        { kind: "grant", index: 0, line: 13 },
        { kind: "grant", index: 1, line: 16 },
      ],
    }),
  },
  {
    name: "login name in src, not recorded",
    identity: user("bob@example.com"),
    want: admitted({
      user: "bob@example.com",
      groups: ["viewers"],
      recorders: [],
      enforceRecorder: false,
      matched: [{ kind: "acl", index: 0, line: 7 }, {
        kind: "grant",
        index: 2,
        line: 20,
      }],
    }),
  },
  {
    name:
      "tagged device without grant groups uses its tags as groups and its hostname as user",
    identity: device("ci-runner", ["tag:ci", "tag:builder"]),
    want: admitted({
      user: "ci-runner",
      groups: ["tag:ci", "tag:builder"],
      recorders: ["tag:rec-ci"],
      enforceRecorder: false,
      matched: [{ kind: "acl", index: 1, line: 8 }, {
        kind: "grant",
        index: 4,
        line: 26,
      }],
    }),
  },
  {
    name: "identity-asserted groups are unioned after the grant groups",
    identity: user("bob@example.com", ["viewers", "team-b"]),
    want: admitted({
      user: "bob@example.com",
      groups: ["viewers", "team-b"],
      recorders: [],
      enforceRecorder: false,
      matched: [{ kind: "acl", index: 0, line: 7 }, {
        kind: "grant",
        index: 2,
        line: 20,
      }],
    }),
  },
  {
    name:
      "wildcard dst admits, wildcard src grant on another proxy's tag does not apply",
    identity: user("frank@example.com"),
    want: admitted({
      user: "frank@example.com",
      groups: [],
      recorders: [],
      enforceRecorder: false,
      matched: [{ kind: "acl", index: 3, line: 10 }],
    }),
  },
  {
    name: "no acl: refused",
    identity: user("carol@example.com"),
    want: {
      admitted: false,
      reason:
        /^no acl in "p\.hujson" accepts "carol@example\.com" to "execgate" \(tag:k8s-proxy\)$/,
    },
  },
  {
    name: "acl for another proxy's tag: refused",
    identity: user("erin@example.com"),
    want: { admitted: false, reason: /accepts "erin@example\.com" to/ },
  },
  {
    name: "the same caller is admitted by the other proxy and gets its grant",
    identity: user("erin@example.com"),
    proxy: { hostname: "other", tags: ["tag:other-proxy"] },
    want: admitted({
      user: "erin@example.com",
      groups: ["elsewhere"],
      recorders: [],
      enforceRecorder: false,
      matched: [{ kind: "acl", index: 2, line: 9 }, {
        kind: "grant",
        index: 3,
        line: 23,
      }],
    }),
  },
  {
    name: "dst port is checked when the proxy port is known",
    identity: user("bob@example.com"),
    proxy: { ...PROXY, port: 8443 },
    want: { admitted: false, reason: /bob@example\.com/ },
  },
  {
    name: "a proxy without tags only matches wildcard destinations",
    identity: device("ci-runner", ["tag:ci"]),
    proxy: { hostname: "bare", tags: [] },
    want: admitted({
      user: "ci-runner",
      groups: ["tag:ci"],
      recorders: [],
      enforceRecorder: false,
      matched: [{ kind: "acl", index: 1, line: 8 }],
    }),
  },
  {
    name: "unknown tagged device: refused",
    identity: device("printer", ["tag:printer"]),
    want: {
      admitted: false,
      reason: /accepts "printer" \(tag:printer\) to "execgate"/,
    },
  },
  {
    name:
      "tailscale mode: capRules replace the file and are merged the same way",
    identity: {
      ...user("carol@example.com"),
      capRules: [
        { impersonate: { groups: ["a", "b"] }, recorder: ["tag:r1"] },
        {},
        {
          impersonate: { groups: ["b", "c"] },
          recorder: ["tag:r2", "tag:r1"],
          enforceRecorder: true,
        },
      ],
    },
    want: admitted({
      user: "carol@example.com",
      groups: ["a", "b", "c"],
      recorders: ["tag:r1", "tag:r2"],
      enforceRecorder: true,
      matched: [
        { kind: "grant", index: 0, line: 0 },
        { kind: "grant", index: 1, line: 0 },
        { kind: "grant", index: 2, line: 0 },
      ],
    }),
  },
  {
    name: "tailscale mode: a known peer without rules is admitted as itself",
    identity: { ...device("ci-runner", ["tag:ci"]), capRules: [] },
    want: admitted({
      user: "ci-runner",
      groups: ["tag:ci"],
      recorders: [],
      enforceRecorder: false,
      matched: [],
    }),
  },
];

for (const c of CASES) {
  Deno.test(`evaluate: ${c.name}`, () => {
    const got = evaluate(POLICY, c.identity, c.proxy ?? PROXY);
    if ("reason" in c.want && c.want.reason instanceof RegExp) {
      assert.equal(got.admitted, false);
      assert.match(got.reason ?? "", c.want.reason);
      assert.deepEqual(got.groups, []);
      assert.deepEqual(got.recorders, []);
      assert.equal(got.enforceRecorder, false);
    } else {
      assert.deepEqual(got, c.want);
    }
  });
}

Deno.test("evaluate matches login names case-insensitively", () => {
  const d = evaluate(POLICY, user("ALICE@example.com"), PROXY);
  assert.equal(d.admitted, true);
  assert.equal(d.user, "ALICE@example.com");
});

Deno.test("evaluate applies the dev policy: alice recorded fail-closed, bob unrecorded, carol refused", async () => {
  const dev = parsePolicy(
    await Deno.readTextFile(
      new URL("./testdata/dev_policy.hujson", import.meta.url),
    ),
    "dev_policy.hujson",
  );
  const alice = evaluate(dev, user("alice@example.com"), PROXY);
  assert.deepEqual(
    [alice.admitted, alice.groups, alice.recorders, alice.enforceRecorder],
    [true, ["system:masters"], ["tag:k8s-recorder"], true],
  );
  const bob = evaluate(dev, user("bob@example.com"), PROXY);
  assert.deepEqual(
    [bob.admitted, bob.groups, bob.recorders, bob.enforceRecorder],
    [true, ["viewers"], [], false],
  );
  const carol = evaluate(dev, user("carol@example.com"), PROXY);
  assert.equal(carol.admitted, false);
});

Deno.test("evaluate without a policy admits only identities that carry rules", () => {
  const refused = evaluate(undefined, user("alice@example.com"), PROXY);
  assert.equal(refused.admitted, false);
  assert.equal(
    refused.reason,
    "no policy file is loaded and the identity carries no rules",
  );
  const ok = evaluate(
    undefined,
    { ...user("alice@example.com"), capRules: [{ recorder: ["tag:r"] }] },
    PROXY,
  );
  assert.deepEqual([ok.admitted, ok.recorders], [true, ["tag:r"]]);
});

Deno.test("evaluate: allowProxySubresources is true when any matching rule says so", () => {
  const policy = parsePolicy(
    `{
  "acls": [{"action": "accept", "src": ["*"], "dst": ["*"]}],
  "grants": [
    {"src": ["*"], "dst": ["*"], "app": {"tailscale.com/cap/kubernetes": [
      {"recorder": ["tag:rec"], "enforceRecorder": true},
    ]}},
    {"src": ["alice@example.com"], "dst": ["*"], "app": {"tailscale.com/cap/kubernetes": [
      {"allowProxySubresources": false},
      {"allowProxySubresources": true},
    ]}},
  ],
}`,
    "p.hujson",
  );
  assert.equal(
    evaluate(policy, user("alice@example.com"), PROXY).allowProxySubresources,
    true,
  );
  assert.equal(
    evaluate(policy, user("bob@example.com"), PROXY).allowProxySubresources,
    false,
  );
  const ts = evaluate(undefined, {
    ...user("carol@example.com"),
    capRules: [{ recorder: ["tag:r"] }, { allowProxySubresources: true }],
  }, PROXY);
  assert.equal(ts.allowProxySubresources, true);
});

Deno.test("parsePolicy refuses a non-boolean allowProxySubresources", () => {
  assert.throws(
    () =>
      parsePolicy(
        `{"grants": [{"src": ["*"], "dst": ["*"], "app": {"tailscale.com/cap/kubernetes": [
      {"allowProxySubresources": "yes"},
    ]}}]}`,
        "p.hujson",
      ),
    /allowProxySubresources/,
  );
});

Deno.test("evaluate names the policy file, never its path, in a refusal the caller reads", () => {
  const policy = parsePolicy(
    `{"acls": [{"action": "accept", "src": ["alice@example.com"], "dst": ["*:*"]}]}`,
    "/etc/execgate/secret-place/policy.hujson",
  );
  const d = evaluate(
    policy,
    {
      hostname: "carol",
      nodeId: "n",
      loginName: "carol@example.com",
      groups: [],
    },
    { hostname: "execgate", tags: [] },
  );
  assert.equal(d.admitted, false);
  assert.match(d.reason!, /^no acl in "policy\.hujson" accepts/);
  assert.doesNotMatch(d.reason!, /secret-place/);
});
