import { isolatedTest } from "../testing/isolated_test.ts";
import assert from "node:assert/strict";
import { kubectlRetryingClientRace, withCluster } from "./_test_fixture.ts";
import { spawnKubectl } from "./kubectl_runner.ts";

Deno.test("devcluster: kubectl exec returns stdout, stderr and the exit code", async () => {
  await withCluster(async (f) => {
    const r = await kubectlRetryingClientRace(f, [
      "exec",
      "demo",
      "--",
      "sh",
      "-c",
      "echo out; echo err >&2; exit 3",
    ]);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, "out\n");
    assert.match(r.stderr, /^err\n/);
    assert.match(r.stderr, /command terminated with exit code 3\n$/);

    const ok = await kubectlRetryingClientRace(f, [
      "exec",
      "demo",
      "-c",
      "main",
      "--",
      "pwd",
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, f.cluster.runtime.podDir("default", "demo") + "\n");
  });
});

Deno.test("devcluster: kubectl exec -i echoes 1 MiB of stdin back through cat byte for byte", async () => {
  await withCluster(async (f) => {
    const input = new Uint8Array(1024 * 1024);
    // Fixed pattern that covers every byte value (not only text).
    for (let i = 0; i < input.length; i++) {
      input[i] = (i * 7 + (i >> 10)) & 0xff;
    }
    const r = await f.kubectl(["exec", "-i", "demo", "--", "cat"], {
      stdin: input,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdoutBytes.length, input.length);
    assert.deepEqual(r.stdoutBytes, input);
  });
});

Deno.test("devcluster: kubectl exec into a missing pod or container prints the apiserver's error", async () => {
  await withCluster(async (f) => {
    const pod = await f.kubectl(["exec", "nope", "--", "true"]);
    assert.equal(pod.code, 1);
    assert.match(
      pod.stderr,
      /Error from server \(NotFound\): pods "nope" not found/,
    );

    const container = await f.kubectl([
      "exec",
      "demo",
      "-c",
      "nope",
      "--",
      "true",
    ]);
    assert.equal(container.code, 1);
    assert.match(
      container.stderr,
      /Error from server \(BadRequest\): container nope is not valid for pod demo/,
    );

    const command = await kubectlRetryingClientRace(f, [
      "exec",
      "demo",
      "--",
      "no-such-command",
    ]);
    assert.equal(command.code, 127);
    assert.match(command.stderr, /executable file not found in \$PATH/);
  });
});

Deno.test("devcluster: kubectl exec -it gets a shell on a pseudo-terminal of the client's size", async () => {
  await withCluster(async (f) => {
    const r = await f.kubectl(["exec", "-it", "demo", "--", "sh"], {
      tty: { cols: 101, rows: 31 },
      stdin: "stty size; tty; echo $((6*7))\nexit 5\n",
    });
    assert.equal(r.code, 5, r.stdout);
    assert.match(r.stdout, /(^|\n|# )31 101\r\n/);
    assert.match(r.stdout, /\r\n\/dev\/pts\/\d+\r\n/);
    assert.match(r.stdout, /(\n|# )42\r\n/);
    assert.match(r.stdout, /command terminated with exit code 5/);
  });
});

isolatedTest(
  import.meta.url,
  "devcluster: execgate-gen streams 256 MiB through kubectl with bounded server memory",
  async () => {
    await withCluster(async (f) => {
      const total = 256 * 1024 * 1024;
      const pattern = new TextEncoder().encode("0123456789");
      const before = Deno.memoryUsage().rss;
      const child = spawnKubectl([
        "exec",
        "demo",
        "--",
        "execgate-gen",
        String(total),
        "0123456789",
      ], f.kube);
      // Count and check the bytes as they come, holding none of them.
      let n = 0;
      let mismatch = -1;
      for await (const chunk of child.stdout) {
        for (let i = 0; i < chunk.length && mismatch < 0; i++) {
          if (chunk[i] !== pattern[(n + i) % pattern.length]) mismatch = n + i;
        }
        n += chunk.length;
      }
      const status = await child.status;
      await child.stderr.cancel();
      const grown = Deno.memoryUsage().rss - before;
      assert.equal(status.code, 0);
      assert.equal(n, total);
      assert.equal(mismatch, -1, `byte ${mismatch} breaks the pattern`);
      // The generator outruns kubectl; without back-pressure the server would
      // buffer a large part of the 256 MiB.
      assert.ok(grown < 96 * 1024 * 1024, `rss grew by ${grown} bytes`);
    });
  },
);

Deno.test("devcluster: execgate-echo copies stdin to stdout", async () => {
  await withCluster(async (f) => {
    const r = await f.kubectl(["exec", "-i", "demo", "--", "execgate-echo"], {
      stdin: "ping\npong\n",
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "ping\npong\n");
  });
});

Deno.test("devcluster serves exec over SPDY to kubectl 1.29 and to kubectl with WebSockets turned off", async () => {
  await withCluster(async (f) => {
    const old = await f.kubectl([
      "exec",
      "demo",
      "--",
      "sh",
      "-c",
      "echo out; echo err >&2; exit 3",
    ], {
      kubectl: "/usr/lib/google-cloud-sdk/bin/kubectl.1.29",
    });
    assert.equal(old.code, 3, old.stderr);
    assert.equal(old.stdout, "out\n");
    assert.match(old.stderr, /^err\n/);

    const off = await f.kubectl(["exec", "-i", "demo", "--", "cat"], {
      stdin: "via spdy\n",
      env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: "false" },
    });
    assert.equal(off.code, 0, off.stderr);
    assert.equal(off.stdout, "via spdy\n");
  });
});
