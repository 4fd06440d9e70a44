import assert from "node:assert/strict";
import { whoisToIdentity } from "../identity/tailscale.ts";
import { evaluate } from "./evaluate.ts";
import { parsePolicy } from "./parse_policy.ts";

const PROXY = { hostname: "execgate", tags: ["tag:k8s-proxy"] };
const bob = {
  hostname: "bob-laptop",
  nodeId: "n1",
  loginName: "bob@example.com",
  groups: [],
};

Deno.test("evaluate: enableEvents from any matching grant, absent otherwise", () => {
  const policy = parsePolicy(
    `{
    "acls": [{"action": "accept", "src": ["*"], "dst": ["tag:k8s-proxy:*"]}],
    "grants": [
      {"src": ["bob@example.com"], "dst": ["tag:k8s-proxy"],
       "app": {"tailscale.com/cap/kubernetes": [{"recorder": ["tag:r"]}]}},
      {"src": ["bob@example.com"], "dst": ["tag:k8s-proxy"],
       "app": {"tailscale.com/cap/kubernetes": [{"enableEvents": true}]}},
    ],
  }`,
    "p.hujson",
  );
  const d = evaluate(policy, bob, PROXY);
  assert.equal(d.enableEvents, true);
  assert.deepEqual(d.recorders, ["tag:r"]);
  const other = evaluate(
    policy,
    { ...bob, loginName: "eve@example.com" },
    PROXY,
  );
  assert.equal(other.enableEvents, undefined);
});

Deno.test("parsePolicy: enableEvents must be a boolean", () => {
  assert.throws(
    () =>
      parsePolicy(
        `{"acls": [], "grants": [{"src": ["*"], "dst": ["tag:k8s-proxy"],
        "app": {"tailscale.com/cap/kubernetes": [{"enableEvents": "yes"}]}}]}`,
        "p.hujson",
      ),
    /enableEvents/,
  );
});

Deno.test("whoisToIdentity: enableEvents in the kubernetes cap is kept; a wrong type is refused", () => {
  const whois = (rule: unknown) => ({
    Node: { StableID: "n1", ComputedName: "bob-laptop" },
    UserProfile: { ID: 1, LoginName: "bob@example.com" },
    CapMap: { "tailscale.com/cap/kubernetes": [rule] },
  });
  const id = whoisToIdentity(
    whois({ enableEvents: true, recorder: ["tag:r"] }),
  );
  assert.deepEqual(id.capRules, [{ recorder: ["tag:r"], enableEvents: true }]);
  assert.equal(evaluate(undefined, id, PROXY).enableEvents, true);
  assert.throws(
    () => whoisToIdentity(whois({ enableEvents: 1 })),
    /enableEvents/,
  );
});
