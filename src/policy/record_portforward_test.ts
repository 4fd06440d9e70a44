import assert from "node:assert/strict";
import { evaluate } from "./evaluate.ts";
import { parsePolicy } from "./parse_policy.ts";
import { whoisToIdentity } from "../identity/tailscale.ts";

const POLICY = `{
  "acls": [{"action": "accept", "src": ["*"], "dst": ["tag:k8s-proxy:443"]}],
  "grants": [
    {"src": ["alice@example.com"], "dst": ["tag:k8s-proxy"], "app": {"tailscale.com/cap/kubernetes": [
      {"recorder": ["tag:rec"], "enforceRecorder": true, "recordPortForward": true},
    ]}},
    {"src": ["bob@example.com"], "dst": ["tag:k8s-proxy"], "app": {"tailscale.com/cap/kubernetes": [
      {"recorder": ["tag:rec"]},
    ]}},
  ],
}`;

const PROXY = { hostname: "execgate", tags: ["tag:k8s-proxy"] };
const user = (login: string) => ({
  hostname: "laptop",
  nodeId: "n-" + login,
  loginName: login,
  userId: "u-" + login,
  groups: [],
});

Deno.test("evaluate: recordPortForward is set only by a grant that says so", () => {
  const policy = parsePolicy(POLICY, "p.hujson");
  assert.equal(
    evaluate(policy, user("alice@example.com"), PROXY).recordPortForward,
    true,
  );
  const bob = evaluate(policy, user("bob@example.com"), PROXY);
  assert.equal(bob.admitted, true);
  assert.equal("recordPortForward" in bob, false);
});

Deno.test("parsePolicy refuses a recordPortForward that is not a boolean, naming where", () => {
  assert.throws(
    () =>
      parsePolicy(
        POLICY.replace('"recordPortForward": true', '"recordPortForward": 1'),
        "p.hujson",
      ),
    /recordPortForward/,
  );
});

Deno.test("whoisToIdentity keeps a tailnet grant's recordPortForward", () => {
  const id = whoisToIdentity({
    Node: { ID: 1, StableID: "n1", Name: "laptop.tail.ts.net.", Tags: [] },
    UserProfile: { ID: 2, LoginName: "alice@example.com" },
    CapMap: {
      "tailscale.com/cap/kubernetes": [{
        recorder: ["tag:rec"],
        recordPortForward: true,
      }],
    },
  });
  assert.equal(id.capRules?.[0]?.recordPortForward, true);
});
