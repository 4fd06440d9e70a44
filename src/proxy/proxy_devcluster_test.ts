import assert from "node:assert/strict";
import { startDevCluster } from "../devcluster/server.ts";
import type { Decision } from "../policy/decision.ts";
import { memoryLogger } from "../log.ts";
import { openExec } from "../testing/ws_exec_client.ts";
import { serveProxy } from "./node_server.ts";
import { createProxy, type SessionContext } from "./proxy.ts";
import type { RelayTap } from "../recording/relay_tap.ts";
import { upstreamConnector, upstreamRequester } from "./upstream_connect.ts";

const RECORDED: Decision = {
  admitted: true,
  user: "alice",
  groups: ["system:masters"],
  recorders: ["tag:rec"],
  enforceRecorder: true,
  allowProxySubresources: false,
  matched: [],
};

/** The proxy in front of the dev cluster (which reads requests like Go). */
async function stack() {
  const cluster = await startDevCluster({});
  const up = {
    server: cluster.url,
    caPem: cluster.caPem,
    token: cluster.token,
  };
  const sessions: SessionContext[] = [];
  const proxy = createProxy({
    upstreamUrl: cluster.url,
    upstreamToken: cluster.token,
    authorize: () =>
      Promise.resolve({
        identity: {
          hostname: "a",
          nodeId: "n",
          loginName: "alice",
          groups: [],
        },
        decision: RECORDED,
      }),
    upstreamRequest: upstreamRequester(up),
    connectUpstream: upstreamConnector(up),
    openTap: (ctx) => {
      sessions.push(ctx);
      const tap: RelayTap = {
        upgraded: () => {},
        clientObserver: () => new TransformStream(),
        upstreamGate: () => new TransformStream(),
        end: () => Promise.resolve(),
      };
      return Promise.resolve(tap);
    },
    logger: memoryLogger(),
  });
  const served = await serveProxy(proxy, { host: "127.0.0.1", port: 0 });
  return {
    cluster,
    sessions,
    url: served.url,
    async close() {
      await served.close();
      await cluster.close();
    },
  };
}

const POD = "/api/v1/namespaces/default/pods/demo";

Deno.test("proxy in front of the dev cluster: what the tap sees is what the cluster executed, for encoded targets", async () => {
  const t = await stack();
  try {
    const cases: [string, string[], string][] = [
      [
        `${POD}/%65xec?command=echo%20innocent;&command=echo&command=b&stdout=true&container=main`,
        ["echo", "b"],
        "b\n",
      ],
      [`${POD}%2Fexec?command=echo&command=x&stdout=yes&container=main`, [
        "echo",
        "x",
      ], "x\n"],
      [
        `/%61pi/v1/namespaces/default/pods/demo/exec%2F?command=echo&command=a%zz&command=y&stdout=&container=main`,
        ["echo", "y"],
        "y\n",
      ],
    ];
    for (const [target, argv, out] of cases) {
      t.sessions.length = 0;
      const s = await openExec({ url: t.url, target });
      assert.equal(s.head.status, 101, `${target}: ${s.body}`);
      const r = await s.done;
      assert.equal(new TextDecoder().decode(r.stdout), out, target);
      assert.deepEqual(t.sessions.map((c) => c.exec.command), [argv], target);
      const ran = await t.cluster.waitForExecution((e) =>
        e.via === "pods/exec" && e.command.join(" ") === argv.join(" ")
      );
      assert.deepEqual(ran.command, t.sessions[0]!.exec.command);
      assert.equal(ran.container, t.sessions[0]!.exec.container);
      assert.equal(ran.tty, t.sessions[0]!.exec.tty);
      assert.equal(ran.impersonateUser, "alice");
    }
  } finally {
    await t.close();
  }
});

Deno.test("proxy in front of the dev cluster: the kubelet's exec and run never reach it for a recorded caller", async () => {
  const t = await stack();
  try {
    const before = t.cluster.requests().length;
    const s = await openExec({
      url: t.url,
      target:
        `/api/v1/nodes/devcluster/proxy/exec/default/demo/main?command=echo&command=pwned&output=1`,
    });
    assert.equal(s.head.status, 403);
    s.close();
    const run = await fetch(
      `${t.url}/api/v1/nodes/devcluster/proxy/run/default/demo/main?cmd=echo%20pwned`,
      { method: "POST" },
    );
    assert.equal(run.status, 403);
    assert.match(await run.text(), /refused for recorded callers/);
    assert.equal(t.cluster.requests().length, before);
    assert.deepEqual(t.cluster.executions(), []);
    assert.deepEqual(t.sessions, []);
  } finally {
    await t.close();
  }
});
