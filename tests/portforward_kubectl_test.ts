/**
 * Real `kubectl port-forward` through the proxy to the simulated cluster
 * (issue 12): with no recorder up, a recorded fail-open caller's
 * port-forward is relayed unrecorded (and logged), over every transport
 * kubectl speaks. The pod's ports are real local servers. Recorded
 * port-forwards, and the fail-closed refusal, are in
 * `portforward_recording_kubectl_test.ts`.
 */
import assert from "node:assert/strict";
import {
  checkWebPodThrough,
  PORT_FORWARD_CLIENTS,
  startWebPod,
  WEB_PORTS,
} from "../src/devcluster/_portforward_checks.ts";
import { whenForwarding } from "../src/devcluster/_portforward_process.ts";
import { type Stack, startStack, type User } from "./_harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

function portForward(
  stack: Stack,
  user: User,
  client: (typeof PORT_FORWARD_CLIENTS)[number],
) {
  const child = new Deno.Command(client.bin ?? "/usr/bin/kubectl", {
    args: [
      "--kubeconfig",
      stack.kubeconfig,
      "--context",
      user,
      "port-forward",
      "pod/web",
      `:${WEB_PORTS.http}`,
      `:${WEB_PORTS.tcp}`,
    ],
    env: {
      HOME: stack.home,
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      ...client.env,
    },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return whenForwarding(child, [WEB_PORTS.http, WEB_PORTS.tcp]);
}

Deno.test(
  "kubectl port-forward through the proxy reaches the pod over SPDY and the WebSocket tunnel, relayed unrecorded for a fail-open caller with no recorder",
  opts,
  async (t) => {
    const stack = await startStack();
    const pod = await startWebPod(stack.cluster);
    try {
      for (const client of PORT_FORWARD_CLIENTS) {
        // dave is recorded and fail open, and no recorder is up.
        await t.step(`${client.name} as dave`, async () => {
          const before = stack.logs.length;
          const pf = await portForward(stack, "dave", client);
          let stderr = "";
          try {
            await checkWebPodThrough(pod, pf.localPorts, stack.dir);
          } finally {
            stderr = (await pf.stop()).stderr;
          }
          assert.doesNotMatch(stderr, /error/i);
          const lines = stack.logs.slice(before);
          const started = lines.find((l) => l.msg === "port-forward");
          assert.equal(started?.user, "dave@example.com");
          assert.equal(started?.recorded, false);
          assert.equal(
            started?.transport,
            client.upgrade === "websocket" ? "websocket" : "spdy",
          );
          // kubectl names the ports in SPDY stream headers, not the query.
          assert.deepEqual(started?.ports, []);
          const run = stack.cluster.executions().findLast((e) =>
            e.via === "pods/portforward"
          );
          assert.equal(run?.impersonateUser, "dave@example.com");
        });
      }
      await t.step("kubectl 1.33 as bob (not recorded)", async () => {
        const pf = await portForward(stack, "bob", PORT_FORWARD_CLIENTS[2]!);
        try {
          await checkWebPodThrough(pod, pf.localPorts, stack.dir);
        } finally {
          await pf.stop();
        }
      });
    } finally {
      await pod.close();
      await stack.close();
    }
  },
);
