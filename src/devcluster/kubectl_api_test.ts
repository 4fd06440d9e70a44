import assert from "node:assert/strict";
import { join } from "node:path";
import { eventually, OutputReader, withCluster } from "./_test_fixture.ts";
import { writeKubeconfig } from "./kubeconfig.ts";
import { spawnKubectl } from "./kubectl_runner.ts";

Deno.test("devcluster serves kubectl get pods, get ns and get pod -o json", async () => {
  await withCluster(async (f) => {
    const pods = await f.kubectl(["get", "pods"]);
    assert.equal(pods.code, 0, pods.stderr);
    assert.match(pods.stdout, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\n/);
    assert.match(pods.stdout, /\ndemo\s+1\/1\s+Running\s+0\s+\d+s\n/);

    const ns = await f.kubectl(["get", "ns"]);
    assert.match(ns.stdout, /\ndefault\s/);
    assert.match(ns.stdout, /\nkube-system\s/);

    const json = await f.kubectl(["get", "pod", "demo", "-o", "json"]);
    const pod = JSON.parse(json.stdout);
    assert.equal(pod.status.phase, "Running");
    assert.equal(pod.spec.containers[0].name, "main");

    const missing = await f.kubectl(["get", "pod", "nope"]);
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      /Error from server \(NotFound\): pods "nope" not found/,
    );
  });
});

Deno.test("devcluster: kubectl get pods -w sees a pod created and deleted through the API", async () => {
  await withCluster(async (f) => {
    const child = spawnKubectl(["get", "pods", "-w"], f.kube);
    const out = new OutputReader(child.stdout);
    try {
      await out.until((t) => /\ndemo\s+1\/1\s+Running/.test(t));
      f.cluster.createPod({
        name: "w1",
        containers: [{
          name: "c",
          command: ["sh", "-c", "read x"],
          stdin: true,
        }],
      });
      const seen = await out.until((t) => /\nw1\s+1\/1\s+Running/.test(t));
      const lines = (seen.match(/\nw1\s/g) ?? []).length;
      f.cluster.deletePod("default", "w1");
      // A DELETED event prints the pod's last state once more.
      await out.until((t) => (t.match(/\nw1\s/g) ?? []).length > lines);
    } finally {
      child.kill();
      await out.cancel();
      await child.stderr.cancel();
      await child.status;
    }
    await eventually(
      () => f.cluster.store.watchCount === 0,
      "the watch to end",
    );
  });
});

Deno.test("devcluster: kubectl logs -f streams lines as they are written and ends with the container", async () => {
  await withCluster(async (f) => {
    f.cluster.createPod({
      name: "logger",
      containers: [{
        name: "c",
        command: ["sh", "-c", "echo first; read x; echo second:$x"],
        stdin: true,
      }],
    });
    await f.cluster.waitForPod("default", "logger");
    const child = spawnKubectl(["logs", "-f", "logger"], f.kube);
    const out = new OutputReader(child.stdout);
    await out.until((t) => t.includes("first\n"));
    f.cluster.appendLog("default", "logger", "appended by the test\n");
    await out.until((t) => t.includes("appended by the test\n"));
    f.cluster.runtime.container("default", "logger", "c")!.writeStdin(
      new TextEncoder().encode("go\n"),
      () => {},
    );
    const all = await out.rest();
    assert.equal(all, "first\nappended by the test\nsecond:go\n");
    assert.equal((await child.status).code, 0);
    await child.stderr.cancel();

    const tail = await f.kubectl(["logs", "logger", "--tail", "1"]);
    assert.equal(tail.stdout, "second:go\n");
  });
});

Deno.test("devcluster: kubectl logs -f stops following when kubectl goes away", async () => {
  await withCluster(async (f) => {
    await f.cluster.waitForPod("default", "demo");
    const child = spawnKubectl(["logs", "-f", "demo"], f.kube);
    const out = new OutputReader(child.stdout);
    f.cluster.appendLog("default", "demo", "marker-1\n");
    await out.until((t) => t.includes("marker-1\n"));
    const log = f.cluster.runtime.container("default", "demo", "main")!.log;
    assert.equal(log.followerCount, 1);
    child.kill();
    await child.status;
    await out.cancel();
    await child.stderr.cancel();
    await eventually(() => log.followerCount === 0, "the log follower to go");
  });
});

Deno.test("devcluster: kubectl auth whoami shows the token's user, impersonation and client-cert users", async () => {
  await withCluster(async (f) => {
    const me = await f.kubectl(["auth", "whoami"]);
    assert.equal(me.code, 0, me.stderr);
    assert.match(me.stdout, /Username\s+dev-admin\n/);
    assert.match(
      me.stdout,
      /Groups\s+\[system:masters system:authenticated\]\n/,
    );

    const as = await f.kubectl([
      "auth",
      "whoami",
      "--as",
      "bob@example.com",
      "--as-group",
      "team-a",
      "--as-group",
      "team-b",
      "-o",
      "json",
    ]);
    const review = JSON.parse(as.stdout);
    assert.equal(review.kind, "SelfSubjectReview");
    assert.deepEqual(review.status.userInfo, {
      username: "bob@example.com",
      groups: ["team-a", "team-b", "system:authenticated"],
    });

    const cert = await f.cluster.issueClientCert("alice", ["dev", "ops"]);
    const certConfig = await writeKubeconfig(join(f.dir, "alice"), {
      server: f.cluster.url,
      caPem: f.cluster.caPem,
      users: [{ name: "alice", ...cert }],
    });
    const alice = await f.kubectl(["auth", "whoami"], {
      kubeconfig: certConfig,
    });
    assert.match(alice.stdout, /Username\s+alice\n/);
    assert.match(alice.stdout, /Groups\s+\[dev ops system:authenticated\]\n/);
  });
});

Deno.test("devcluster refuses requests without valid credentials with a 401 Status", async () => {
  await withCluster(async (f) => {
    const bad = await writeKubeconfig(join(f.dir, "bad"), {
      server: f.cluster.url,
      caPem: f.cluster.caPem,
      users: [{ name: "bad", token: "not-a-token" }],
    });
    const r = await f.kubectl(["get", "pods"], { kubeconfig: bad });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /You must be logged in to the server/);

    // A certificate from another CA is no identity either.
    const { generateCa, issueCert } = await import("./certs.ts");
    const other = await issueCert(await generateCa("other"), {
      commonName: "mallory",
      usage: "client",
    });
    const foreign = await writeKubeconfig(join(f.dir, "foreign"), {
      server: f.cluster.url,
      caPem: f.cluster.caPem,
      users: [{ name: "mallory", ...other }],
    });
    const r2 = await f.kubectl(["auth", "whoami"], { kubeconfig: foreign });
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /You must be logged in to the server/);
  });
});
