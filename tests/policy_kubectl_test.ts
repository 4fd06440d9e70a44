/**
 * Identity, policy and impersonation seen by real kubectl through the proxy.
 */
import assert from "node:assert/strict";
import { openExec } from "../src/testing/ws_exec_client.ts";
import { kubectl, startStack } from "./_harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function whoami(
  stack: Awaited<ReturnType<typeof startStack>>,
  user: Parameters<typeof kubectl>[1],
  extra: string[] = [],
) {
  const r = await kubectl(stack, user, [
    "auth",
    "whoami",
    "-o",
    "json",
    ...extra,
  ]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).status.userInfo as {
    username: string;
    groups: string[];
  };
}

Deno.test(
  "kubectl auth whoami shows each identity impersonated by the policy",
  opts,
  async (t) => {
    const stack = await startStack();
    try {
      await t.step("alice (group:engineering) is system:masters", async () => {
        const u = await whoami(stack, "alice");
        assert.equal(u.username, "alice@example.com");
        assert.deepEqual(u.groups, ["system:masters", "system:authenticated"]);
      });
      await t.step("bob is a viewer", async () => {
        const u = await whoami(stack, "bob");
        assert.equal(u.username, "bob@example.com");
        assert.deepEqual(u.groups, ["viewers", "system:authenticated"]);
      });
      await t.step(
        "a tagged device is its hostname, with its tags as groups",
        async () => {
          const u = await whoami(stack, "ci");
          assert.equal(u.username, "ci-runner-1");
          assert.deepEqual(u.groups, ["tag:ci", "system:authenticated"]);
        },
      );
      await t.step("--as and --as-group never reach upstream", async () => {
        const u = await whoami(stack, "bob", [
          "--as=system:admin",
          "--as-group=system:masters",
        ]);
        assert.equal(u.username, "bob@example.com");
        assert.deepEqual(u.groups, ["viewers", "system:authenticated"]);
      });
      await t.step(
        "forged Impersonate-* and Authorization headers are dropped",
        async () => {
          const res = await fetch(
            `${stack.proxy.url}/apis/authentication.k8s.io/v1/selfsubjectreviews`,
            {
              method: "POST",
              headers: {
                authorization: "Bearer bob-token",
                "impersonate-user": "system:admin",
                "impersonate-group": "system:masters",
                "impersonate-uid": "0",
                "impersonate-extra-scopes": "all",
                "content-type": "application/json",
              },
              body: JSON.stringify({
                apiVersion: "authentication.k8s.io/v1",
                kind: "SelfSubjectReview",
              }),
              client: Deno.createHttpClient({ caCerts: [stack.proxyCaPem] }),
            } as RequestInit,
          );
          assert.equal(res.status, 201);
          const u = (await res.json()).status.userInfo;
          assert.equal(u.username, "bob@example.com");
          assert.deepEqual(u.groups, ["viewers", "system:authenticated"]);
          assert.equal(u.uid, undefined);
          assert.equal(u.extra, undefined);
        },
      );
      await t.step(
        "a caller in no acl is refused with a message kubectl prints",
        async () => {
          const r = await kubectl(stack, "carol", ["get", "pods"]);
          assert.equal(r.code, 1);
          assert.match(
            r.stderr,
            /Error from server \(Forbidden\): forbidden: "carol@example\.com" may not use this execgate proxy: no acl/,
          );
          const e = await kubectl(stack, "carol", [
            "exec",
            "demo",
            "--",
            "true",
          ]);
          assert.notEqual(e.code, 0);
          assert.match(e.stderr, /may not use this execgate proxy/);
        },
      );
      await t.step("an unknown token is 401", async () => {
        const r = await kubectl(stack, "anonymous", ["get", "pods"]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /You must be logged in to the server/);
      });
      await t.step(
        "forged Impersonate-* headers on an exec upgrade are dropped",
        async () => {
          const s = await openExec({
            url: stack.proxy.url,
            caPem: stack.proxyCaPem,
            token: "bob-token",
            target:
              "/api/v1/namespaces/default/pods/demo/exec?command=sh&command=-c&command=echo%20hi&stdout=true",
            headers: [
              ["Impersonate-User", "system:admin"],
              ["Impersonate-Group", "system:masters"],
            ],
          });
          assert.equal(s.head.status, 101);
          const r = await s.done;
          assert.equal(new TextDecoder().decode(r.stdout), "hi\n");
          // What upstream saw is asserted byte-exactly in src/proxy/proxy_test.ts.
        },
      );
    } finally {
      await stack.close();
    }
  },
);
