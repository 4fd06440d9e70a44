/**
 * Migrating from Tailscale (docs/migrating-from-tailscale.md): the grant
 * examples of Tailscale's "Record kubectl sessions" guide load unchanged,
 * both in a policy file and as the capabilities tailscaled's LocalAPI
 * hands the `tailscale` identity source, and decide the same.
 */
import assert from "node:assert/strict";
import { evaluate, parsePolicy } from "../src/policy/mod.ts";
import { createTailscaleIdentitySource } from "../src/identity/tailscale.ts";
import { startFakeLocalApi } from "../src/testing/fake_localapi.ts";

/** The guide's grants, as printed there (a `"grants": [...]` member). */
const EXAMPLES: {
  name: string;
  grants: string;
  want: {
    recorders: string[];
    enforceRecorder: boolean;
    groups: string[];
    enableEvents?: boolean;
  };
}[] = [
  {
    name: "basic recording",
    grants: `"grants": [
  {
    "src": ["group:engineering"],
    "dst": ["tag:k8s-operator"],
    "app": {
      "tailscale.com/cap/kubernetes": [{
        "recorder": ["tag:tsrecorder"]
      }]
    }
  }
]`,
    want: { recorders: ["tag:tsrecorder"], enforceRecorder: false, groups: [] },
  },
  {
    name: "enforced recording",
    grants: `"grants": [
  {
    "src": ["group:engineering"],
    "dst": ["tag:k8s-operator"],
    "app": {
      "tailscale.com/cap/kubernetes": [{
        "recorder": ["tag:tsrecorder"],
        "enforceRecorder": true
      }]
    }
  }
]`,
    want: { recorders: ["tag:tsrecorder"], enforceRecorder: true, groups: [] },
  },
  {
    name: "combining with impersonation",
    grants: `"grants": [
  {
    "src": ["group:engineering"],
    "dst": ["tag:k8s-operator"],
    "app": {
      "tailscale.com/cap/kubernetes": [{
        "impersonate": { "groups": ["system:masters"] },
        "recorder": ["tag:tsrecorder"]
      }]
    }
  }
]`,
    want: {
      recorders: ["tag:tsrecorder"],
      enforceRecorder: false,
      groups: ["system:masters"],
    },
  },
  {
    name: "API request events",
    grants: `"grants": [
  {
    "src": ["group:engineering"],
    "dst": ["tag:k8s-operator"],
    "app": {
      "tailscale.com/cap/kubernetes": [{
        "recorder": ["tag:tsrecorder"],
        "enableEvents": true
      }]
    }
  }
]`,
    want: {
      recorders: ["tag:tsrecorder"],
      enforceRecorder: false,
      groups: [],
      enableEvents: true,
    },
  },
];

/** The rest of a tailnet policy file the guide's grants sit in. */
const policyAround = (grants: string) =>
  `{
  // From the guide "Deploy a session recorder": the operator owns the recorder tag.
  "tagOwners": {
    "tag:k8s-operator": [],
    "tag:tsrecorder": ["tag:k8s-operator"],
  },
  "groups": { "group:engineering": ["alice@example.com"] },
  "acls": [
    { "action": "accept", "src": ["group:engineering"], "dst": ["tag:k8s-operator:443"] },
  ],
  ${grants},
}`;

const ALICE = {
  hostname: "alice-laptop",
  nodeId: "nAL1CE",
  loginName: "alice@example.com",
  groups: [],
};
const PROXY = { hostname: "execgate", tags: ["tag:k8s-operator"] };

for (const ex of EXAMPLES) {
  Deno.test(`Tailscale's "${ex.name}" grant loads unchanged from a policy file`, () => {
    const d = evaluate(
      parsePolicy(policyAround(ex.grants), "tailnet.hujson"),
      ALICE,
      PROXY,
    );
    assert.equal(d.admitted, true, d.reason);
    assert.equal(d.user, "alice@example.com");
    assert.deepEqual(d.recorders, ex.want.recorders);
    assert.equal(d.enforceRecorder, ex.want.enforceRecorder);
    assert.deepEqual(d.groups, ex.want.groups);
    assert.equal(d.enableEvents ?? false, ex.want.enableEvents ?? false);
  });

  Deno.test(`Tailscale's "${ex.name}" grant, from tailscaled's whois, decides the same`, async () => {
    const rules = JSON.parse(`{${ex.grants}}`).grants[0].app;
    const api = await startFakeLocalApi([{
      ip: "100.64.0.7",
      hostname: "alice-laptop",
      stableId: "nAL1CE",
      user: { id: 1, loginName: "alice@example.com" },
      capMap: rules,
    }]);
    try {
      const source = createTailscaleIdentitySource({
        socketPath: api.socketPath,
      });
      const id = await source.identify({
        remoteAddr: "100.64.0.7:40000",
        headers: new Headers(),
      });
      assert.ok(id);
      const d = evaluate(undefined, id, PROXY);
      assert.equal(d.admitted, true, d.reason);
      assert.deepEqual(d.recorders, ex.want.recorders);
      assert.equal(d.enforceRecorder, ex.want.enforceRecorder);
      assert.deepEqual(d.groups, ex.want.groups);
      assert.equal(d.enableEvents ?? false, ex.want.enableEvents ?? false);
    } finally {
      await api.close();
    }
  });
}

Deno.test("the README's policy example loads and decides as its comments say", async () => {
  const readme = await Deno.readTextFile(
    new URL("../README.md", import.meta.url),
  );
  const block = readme.match(/```jsonc\n\/\/ policy\.hujson\n([\s\S]*?)```/);
  assert.ok(block, "README has the policy.hujson example");
  const policy = parsePolicy(block[1]!, "README.md policy.hujson");
  const proxy = { hostname: "execgate", tags: ["tag:k8s-proxy"] };
  const who = (loginName: string, tags?: string[]) => ({
    hostname: tags ? "ci-runner" : loginName.split("@")[0]!,
    nodeId: "n",
    ...(tags ? { tags } : { loginName }),
    groups: [],
  });
  const alice = evaluate(policy, who("alice@example.com"), proxy);
  assert.deepEqual(alice.groups, ["engineers"]);
  assert.equal(alice.enforceRecorder, true);
  const dave = evaluate(policy, who("dave@example.com"), proxy);
  assert.deepEqual(dave.groups, ["engineers", "system:masters"]);
  const bob = evaluate(policy, who("bob@example.com"), proxy);
  assert.deepEqual([bob.groups, bob.recorders], [["viewers"], []]);
  const ci = evaluate(policy, who("", ["tag:ci"]), proxy);
  assert.deepEqual([ci.recorders, ci.enforceRecorder], [
    ["tag:k8s-recorder"],
    false,
  ]);
  const carol = evaluate(policy, who("carol@example.com"), proxy);
  assert.equal(carol.admitted, false);
});
