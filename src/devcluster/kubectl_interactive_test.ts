import assert from "node:assert/strict";
import { withCluster } from "./_test_fixture.ts";

const TTY = { cols: 100, rows: 30 };

Deno.test("devcluster: kubectl attach -i joins the container's running process", async () => {
  await withCluster(async (f) => {
    f.cluster.createPod({
      name: "att",
      containers: [{
        name: "c",
        command: ["sh", "-c", "read line; echo got:$line; echo bye >&2"],
        stdin: true,
        stdinOnce: true,
      }],
    });
    await f.cluster.waitForPod("default", "att");
    const r = await f.kubectl(["attach", "-i", "att"], { stdin: "hello\n" });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "got:hello\n");
    assert.match(r.stderr, /bye\n/);
    const pod = await f.cluster.waitForPod(
      "default",
      "att",
      (p) => p?.status.phase !== "Running",
    );
    assert.equal(pod?.status.phase, "Succeeded");
  });
});

Deno.test("devcluster: kubectl attach -it drives a shell on the container's pty", async () => {
  await withCluster(async (f) => {
    await f.cluster.waitForPod("default", "demo");
    const r = await f.kubectl(["attach", "-it", "demo", "-c", "main"], {
      tty: TTY,
      // kubectl attach first sends the size plus one, then the real size, to
      // make the program redraw: wait until the real size has arrived.
      stdin:
        'until [ "$(stty size)" = "30 100" ]; do sleep 0.05; done; echo size-$((10*3))\necho $((6*7))\nexit 0\n',
    });
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /size-30\r\n/);
    assert.match(r.stdout, /(\n|# )42\r\n/);
    const pod = await f.cluster.waitForPod(
      "default",
      "demo",
      (p) => p?.status.phase !== "Running",
    );
    assert.equal(pod?.status.phase, "Succeeded");
  });
});

Deno.test("devcluster: kubectl run -it --rm starts the pod, attaches, returns its exit code and deletes it", async () => {
  await withCluster(async (f) => {
    const r = await f.kubectl([
      "run",
      "r1",
      "--image=busybox",
      "-it",
      "--rm",
      "--restart=Never",
      "--",
      "sh",
    ], { tty: TTY, stdin: "echo $((6*7)); echo $HOSTNAME\nexit 4\n" });
    assert.equal(r.code, 4, r.stdout);
    assert.match(r.stdout, /(\n|# )42\r\nr1\r\n/);
    assert.match(r.stdout, /pod "r1" deleted/);
    assert.equal(f.cluster.getPod("default", "r1"), undefined);
  });
});

Deno.test("devcluster: kubectl run -i without a terminal pipes stdin to the container's command", async () => {
  await withCluster(async (f) => {
    const r = await f.kubectl([
      "run",
      "r2",
      "--image=busybox",
      "-i",
      "--restart=Never",
      "--",
      "sh",
      "-c",
      "read line; echo got:$line",
    ], { stdin: "hi\n" });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /got:hi\n/);
    const pod = f.cluster.getPod("default", "r2");
    assert.equal(pod?.status.phase, "Succeeded");
    assert.equal(pod?.spec.containers[0]?.image, "busybox");
  });
});

Deno.test("devcluster: kubectl debug -it adds an ephemeral container and attaches to it", async () => {
  await withCluster(async (f) => {
    const r = await f.kubectl([
      "debug",
      "-it",
      "demo",
      "--image=busybox",
      "--container=dbg",
      "--",
      "sh",
    ], { tty: TTY, stdin: "echo $((6*7)); echo $HOSTNAME; pwd\nexit 0\n" });
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /(\n|# )42\r\ndemo\r\n/);
    assert.ok(
      r.stdout.includes(f.cluster.runtime.podDir("default", "demo") + "\r\n"),
    );
    const pod = await f.cluster.waitForPod(
      "default",
      "demo",
      (p) =>
        p?.status.ephemeralContainerStatuses?.[0]?.state.terminated !==
          undefined,
    );
    assert.equal(pod?.spec.ephemeralContainers?.[0]?.name, "dbg");
    assert.equal(
      pod?.status.ephemeralContainerStatuses?.[0]?.state.terminated?.exitCode,
      0,
    );
    // The pod itself keeps running.
    assert.equal(pod?.status.phase, "Running");
  });
});
