/**
 * Real `kubectl port-forward` against the simulated cluster, over each
 * transport kubectl speaks: SPDY (kubectl 1.29; kubectl 1.33 with
 * `KUBECTL_PORT_FORWARD_WEBSOCKETS=false`) and SPDY tunnelled in WebSocket
 * (kubectl 1.33's default). The pod's ports are backed by real local
 * servers; `curl` and raw TCP go through kubectl's local ports.
 */
import assert from "node:assert/strict";
import { withCluster } from "./_test_fixture.ts";
import {
  checkWebPodThrough,
  curl,
  KUBECTL_1_29,
  PORT_FORWARD_CLIENTS,
  startWebPod,
  WEB_PORTS,
} from "./_portforward_checks.ts";
import {
  type PortForwardProcess,
  whenForwarding,
} from "./_portforward_process.ts";
import { spawnKubectl } from "./kubectl_runner.ts";

for (const client of PORT_FORWARD_CLIENTS) {
  Deno.test(`devcluster port-forward: ${client.name} reaches the pod's ports: a page, concurrent connections, 8 MiB both ways, half-close`, async () => {
    await withCluster(async (f) => {
      const pod = await startWebPod(f.cluster);
      let pf: PortForwardProcess | undefined;
      try {
        pf = await whenForwarding(
          spawnKubectl([
            "port-forward",
            "pod/web",
            `:${WEB_PORTS.http}`,
            `:${WEB_PORTS.tcp}`,
          ], { ...f.kube, kubectl: client.bin, env: client.env }),
          [WEB_PORTS.http, WEB_PORTS.tcp],
        );
        const upgrade = f.cluster.requests().find((r) =>
          r.upgrade && r.rawTarget.endsWith("/pods/web/portforward")
        );
        assert.equal(
          upgrade?.headers.find(([k]) => k.toLowerCase() === "upgrade")?.[1],
          client.upgrade,
        );
        await checkWebPodThrough(pod, pf.localPorts, f.dir);
        assert.equal(
          f.cluster.executions().filter((e) => e.via === "pods/portforward")
            .length,
          1,
        );
      } finally {
        const exit = await pf?.stop();
        await pod.close();
        assert.doesNotMatch(exit?.stderr ?? "", /error/i);
      }
    });
  });
}

Deno.test("devcluster port-forward: a pod port nobody listens on is reported as the kubelet does, and kubectl gives up", async () => {
  await withCluster(async (f) => {
    for (const extra of [{ kubectl: KUBECTL_1_29 }, {}]) {
      const pf = await whenForwarding(
        spawnKubectl(["port-forward", "pod/demo", ":9999"], {
          ...f.kube,
          ...extra,
        }),
        [9999],
      );
      const r = await curl([`http://127.0.0.1:${pf.localPort}/`]);
      assert.notEqual(r.code, 0);
      const exit = await pf.exited;
      assert.equal(exit.code, 1, exit.stderr);
      assert.match(
        exit.stderr,
        /error forwarding port 9999 to pod [0-9a-f]{64}, uid : failed to execute portforward in network namespace \\?"\/var\/run\/netns\/cni-[0-9a-f-]+\\?": failed to connect to localhost:9999 inside namespace \\?"[0-9a-f]{64}\\?", IPv4: dial tcp4 127\.0\.0\.1:9999: connect: connection refused/,
      );
      assert.match(exit.stderr, /error: lost connection to pod/);
    }
  });
});

Deno.test("devcluster port-forward: kubectl port-forward to a missing pod prints the API server's NotFound", async () => {
  await withCluster(async (f) => {
    const missing = await f.kubectl(["port-forward", "pod/nope", ":80"]);
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      /Error from server \(NotFound\): pods "nope" not found/,
    );
  });
});
