/**
 * The mTLS identity source end to end: kubectl presents a client
 * certificate to the proxy; CN is the login name, O entries are groups.
 */
import assert from "node:assert/strict";
import { generateCa, issueCert } from "../src/devcluster/certs.ts";
import { writeKubeconfig } from "../src/devcluster/kubeconfig.ts";
import { startStack } from "./_harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "mTLS identity: kubectl with a client certificate is identified and impersonated",
  opts,
  async () => {
    const clientsCa = await generateCa("execgate-test-clients");
    const otherCa = await generateCa("someone-else");
    const stack = await startStack({ mtlsCaPem: clientsCa.certPem });
    try {
      const alice = await issueCert(clientsCa, {
        commonName: "alice@example.com",
        organizations: ["oncall"],
        usage: "client",
      });
      const mallory = await issueCert(otherCa, {
        commonName: "alice@example.com",
        usage: "client",
      });
      const kc = await writeKubeconfig(`${stack.dir}/mtls.kubeconfig`, {
        server: stack.proxy.url,
        caPem: stack.proxyCaPem,
        users: [
          { name: "alice", certPem: alice.certPem, keyPem: alice.keyPem },
          { name: "mallory", certPem: mallory.certPem, keyPem: mallory.keyPem },
        ],
      });
      const run = (ctx: string, args: string[]) =>
        new Deno.Command("/usr/bin/kubectl", {
          args: ["--kubeconfig", kc, "--context", ctx, ...args],
          env: { HOME: stack.home },
          stdout: "piped",
          stderr: "piped",
        }).output();
      const dec = new TextDecoder();
      const who = await run("alice", ["auth", "whoami", "-o", "json"]);
      assert.equal(who.code, 0, dec.decode(who.stderr));
      const info = JSON.parse(dec.decode(who.stdout)).status.userInfo;
      assert.equal(info.username, "alice@example.com");
      // Grant groups first, then the certificate's O entries.
      assert.deepEqual(info.groups, [
        "system:masters",
        "oncall",
        "system:authenticated",
      ]);
      const exec = await run("alice", [
        "exec",
        "demo",
        "--",
        "echo",
        "by-cert",
      ]);
      // alice's sessions must be recorded and no recorder is configured: refused.
      assert.notEqual(exec.code, 0);
      assert.match(dec.decode(exec.stderr), /this session must be recorded/);
      const refused = await run("mallory", ["get", "pods"]);
      assert.equal(refused.code, 1);
      assert.match(
        dec.decode(refused.stderr),
        /You must be logged in to the server/,
      );
    } finally {
      await stack.close();
    }
  },
);
