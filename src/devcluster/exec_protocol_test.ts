import assert from "node:assert/strict";
import { openExec } from "../testing/ws_exec_client.ts";
import { withCluster } from "./_test_fixture.ts";

const EXEC = "/api/v1/namespaces/default/pods/demo/exec";

Deno.test("devcluster negotiates v4 or v5 from any spelling of the offered list", async () => {
  await withCluster(async ({ cluster }) => {
    for (
      const [offered, expected] of [
        [["v4.channel.k8s.io"], "v4.channel.k8s.io"],
        [["v5.channel.k8s.io,v4.channel.k8s.io"], "v5.channel.k8s.io"],
        [
          ["channel.k8s.io", "v4.channel.k8s.io", "v5.channel.k8s.io"],
          "v5.channel.k8s.io",
        ],
      ] as const
    ) {
      const s = await openExec({
        url: cluster.url,
        caPem: cluster.caPem,
        token: cluster.token,
        target: `${EXEC}?command=echo&command=hi&stdout=true`,
        protocols: [...offered],
      });
      assert.equal(s.head.status, 101);
      assert.equal(s.protocol, expected);
      const r = await s.done;
      assert.equal(new TextDecoder().decode(r.stdout), "hi\n");
      assert.equal(r.status?.status, "Success");
    }
    const none = await openExec({
      url: cluster.url,
      caPem: cluster.caPem,
      token: cluster.token,
      target: `${EXEC}?command=true&stdout=true`,
      protocols: ["base64.channel.k8s.io"],
    });
    assert.equal(none.head.status, 400);
  });
});

Deno.test("devcluster applies resizes during a TTY exec session", async () => {
  await withCluster(async ({ cluster }) => {
    let out = "";
    let waiter: { re: RegExp; resolve: () => void } | undefined;
    const s = await openExec({
      url: cluster.url,
      caPem: cluster.caPem,
      token: cluster.token,
      target: `${EXEC}?command=sh&stdin=true&stdout=true&tty=true`,
      onStdout: (d) => {
        out += new TextDecoder().decode(d);
        if (waiter?.re.test(out)) waiter.resolve();
      },
    });
    const seen = (re: RegExp) =>
      new Promise<void>((resolve) => {
        waiter = { re, resolve };
        if (re.test(out)) resolve();
      });
    s.resize(100, 30);
    s.stdin("stty size\n");
    await seen(/30 100\r\n/);
    s.resize(120, 40);
    s.stdin("stty size\n");
    await seen(/40 120\r\n/);
    s.stdin("exit 7\n");
    const r = await s.done;
    assert.equal(r.status?.reason, "NonZeroExitCode");
    assert.equal(r.status?.details?.causes?.[0]?.message, "7");
  });
});

Deno.test("devcluster closes the process's stdin on a v5 stdin close", async () => {
  await withCluster(async ({ cluster }) => {
    const s = await openExec({
      url: cluster.url,
      caPem: cluster.caPem,
      token: cluster.token,
      target:
        `${EXEC}?command=wc&command=-c&stdin=true&stdout=true&stderr=true`,
    });
    s.stdin("12345");
    s.closeStdin();
    const r = await s.done;
    assert.equal(new TextDecoder().decode(r.stdout).trim(), "5");
    assert.equal(r.status?.status, "Success");
  });
});

Deno.test("devcluster answers an upgrade without credentials with a 401 Status, not a 101", async () => {
  await withCluster(async ({ cluster }) => {
    const s = await openExec({
      url: cluster.url,
      caPem: cluster.caPem,
      target: `${EXEC}?command=true&stdout=true`,
    });
    assert.equal(s.head.status, 401);
    assert.equal(JSON.parse(s.body!).reason, "Unauthorized");
  });
});

Deno.test("devcluster accepts a client certificate on upgrades", async () => {
  await withCluster(async ({ cluster }) => {
    const cert = await cluster.issueClientCert("proxy", ["system:masters"]);
    const s = await openExec({
      url: cluster.url,
      caPem: cluster.caPem,
      ...cert,
      target: `${EXEC}?command=echo&command=ok&stdout=true`,
    });
    assert.equal(s.head.status, 101);
    assert.equal(new TextDecoder().decode((await s.done).stdout), "ok\n");
  });
});
