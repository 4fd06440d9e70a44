import assert from "node:assert/strict";
import type { Pod, WatchEvent } from "./objects.ts";
import { ClusterStore } from "./store.ts";

function pod(name: string, namespace = "default"): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace },
    spec: { containers: [{ name: "c" }] },
    status: { phase: "Pending" },
  };
}

Deno.test("ClusterStore replays events newer than a resource version, then streams new ones", () => {
  const store = new ClusterStore();
  store.putPod(pod("a"));
  const listedAt = store.resourceVersion;
  store.putPod(pod("b"));
  store.putPod(pod("c", "other"));
  const seen: WatchEvent<Pod>[] = [];
  const stop = store.watchPods({
    namespace: "default",
    sinceResourceVersion: listedAt,
  }, (e) => seen.push(e));
  store.deletePod("default", "a");
  stop();
  store.putPod(pod("d"));
  assert.deepEqual(seen.map((e) => [e.type, e.object.metadata.name]), [[
    "ADDED",
    "b",
  ], ["DELETED", "a"]]);
  assert.equal(store.watchCount, 0);
});

Deno.test("ClusterStore stamps increasing resource versions and hands out copies", () => {
  const store = new ClusterStore();
  const a = store.putPod(pod("a"));
  const a2 = store.putPod({ ...a, status: { phase: "Running" } });
  assert.ok(
    Number(a2.metadata.resourceVersion) > Number(a.metadata.resourceVersion),
  );
  a2.status.phase = "Failed";
  assert.equal(store.getPod("default", "a")?.status.phase, "Running");
  assert.ok(store.getNamespace("default"));
  assert.deepEqual(store.listPods().map((p) => p.metadata.name), ["a"]);
});
