/**
 * Real kubectl through the proxy against the simulated cluster: the
 * foundation's end-to-end behaviour (issue "Foundation").
 */
import assert from "node:assert/strict";
import { kubectl, spawnKubectl, startStack } from "./_harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "kubectl through the proxy: get, watch, logs, exec, errors, whoami",
  opts,
  async (t) => {
    const stack = await startStack();
    try {
      await t.step("get pods lists the demo pod", async () => {
        const r = await kubectl(stack, "bob", ["get", "pods"]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^NAME\s+READY\s+STATUS/m);
        assert.match(r.stdout, /^demo\s+1\/1\s+Running/m);
      });

      await t.step("get pods -w sees a pod appear", async () => {
        const w = spawnKubectl(stack, "bob", ["get", "pods", "-w"]);
        await w.waitFor("demo");
        stack.cluster.createPod({
          name: "watched",
          containers: [{
            name: "c",
            image: "busybox",
            command: ["sleep", "600"],
          }],
        });
        await w.waitFor("watched");
        await w.stop();
        assert.match(w.stdout, /^watched\s/m);
        stack.cluster.deletePod("default", "watched");
      });

      await t.step("logs -f streams lines as they are written", async () => {
        const w = spawnKubectl(stack, "bob", ["logs", "-f", "demo"]);
        stack.cluster.appendLog("default", "demo", "first line\n");
        await w.waitFor("first line");
        stack.cluster.appendLog("default", "demo", "second line\n");
        await w.waitFor("second line");
        await w.stop();
      });

      await t.step(
        "exec returns stdout, stderr and the exit code",
        async () => {
          const r = await kubectl(stack, "bob", [
            "exec",
            "demo",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
          ]);
          assert.equal(r.stdout, "out\n");
          assert.match(r.stderr, /^err$/m);
          assert.match(r.stderr, /command terminated with exit code 3/);
          assert.equal(r.code, 3);
        },
      );

      await t.step("exec -i echoes 1 MiB of stdin byte for byte", async () => {
        const data = new Uint8Array(1024 * 1024);
        for (let i = 0; i < data.length; i += 65536) {
          crypto.getRandomValues(data.subarray(i, i + 65536));
        }
        const r = await kubectl(stack, "bob", [
          "exec",
          "-i",
          "demo",
          "--",
          "cat",
        ], {
          stdin: data,
        });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdoutBytes.length, data.length);
        assert.deepEqual(r.stdoutBytes, data);
      });

      await t.step(
        "exec into a missing pod shows the NotFound error",
        async () => {
          const r = await kubectl(stack, "bob", ["exec", "nope", "--", "true"]);
          assert.notEqual(r.code, 0);
          assert.match(
            r.stderr,
            /Error from server \(NotFound\): pods "nope" not found/,
          );
        },
      );

      await t.step(
        "exec into a missing container shows the BadRequest error",
        async () => {
          const r = await kubectl(stack, "bob", [
            "exec",
            "demo",
            "-c",
            "nope",
            "--",
            "true",
          ]);
          assert.notEqual(r.code, 0);
          assert.match(r.stderr, /container nope is not valid for pod demo/);
        },
      );

      await t.step("auth whoami shows the impersonated caller", async () => {
        const r = await kubectl(stack, "bob", ["auth", "whoami", "-o", "json"]);
        assert.equal(r.code, 0, r.stderr);
        const info = JSON.parse(r.stdout).status.userInfo;
        assert.equal(info.username, "bob@example.com");
        // Like a real API server, the cluster adds system:authenticated.
        assert.deepEqual(info.groups, ["viewers", "system:authenticated"]);
      });
    } finally {
      await stack.close();
    }
  },
);
