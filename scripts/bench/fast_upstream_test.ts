import assert from "node:assert/strict";
import { generateCa, issueCert } from "../../src/devcluster/certs.ts";
import { execPath, openSession } from "./exec_client.ts";
import { startFastUpstream } from "./fast_upstream.ts";

async function serve(tls: "node" | "deno" = "node") {
  const ca = await generateCa("fast-upstream-test-ca");
  const leaf = await issueCert(ca, { commonName: "up", usage: "server" });
  const up = await startFastUpstream({
    certPem: leaf.certPem,
    keyPem: leaf.keyPem,
    frameBytes: 1000,
    writeBytes: 4000,
    tls,
  });
  return { up, target: { url: up.url, caPem: ca.certPem, token: "t" }, ca };
}

for (const tls of ["node", "deno"] as const) {
  Deno.test(`startFastUpstream (${tls} TLS) gen writes exactly BYTES of x after the client's first message, then Success`, async () => {
    const { up, target } = await serve(tls);
    try {
      for (const bytes of [0, 1, 999, 1000, 4001, 123_457]) {
        let xs = true;
        const s = await openSession(target, {
          path: execPath(["gen", String(bytes)], { stdin: true }),
          onStdout: (d) => (xs &&= d.every((b) => b === 0x78)),
        });
        s.closeStdin();
        const r = await s.done;
        assert.equal(r.stdoutBytes, bytes);
        assert.ok(xs);
        assert.match(r.status, /"Success"/);
      }
    } finally {
      await up.close();
    }
  });
}

Deno.test("startFastUpstream echo and sink read stdin and end when it closes", async () => {
  const { up, target } = await serve();
  try {
    const got: number[] = [];
    let wake: (() => void) | undefined;
    const e = await openSession(target, {
      path: execPath(["execgate-echo"], { stdin: true, tty: true }),
      onStdout: (d) => {
        got.push(...d);
        wake?.();
      },
    });
    const echoed = new Promise<void>((r) => (wake = r));
    await e.stdinAsync(new Uint8Array([1, 2, 3]));
    await echoed;
    assert.deepEqual(got, [1, 2, 3]);
    e.closeStdin();
    assert.match((await e.done).status, /"Success"/);

    const s = await openSession(target, {
      path: execPath(["sink", "100000000"], { stdin: true }),
    });
    await s.stdinAsync(new Uint8Array(200_000));
    s.closeStdin();
    const r = await s.done;
    assert.match(r.status, /"Success"/);
    assert.equal(r.stdoutBytes, 0);

    // With SECONDS the pod ends by itself, stdin still open.
    const t = await openSession(target, {
      path: execPath(["sink", "1000", "0.2"], { stdin: true }),
    });
    await t.stdinAsync(new Uint8Array(10));
    assert.match((await t.done).status, /"Success"/);
  } finally {
    await up.close();
  }
});

Deno.test("startFastUpstream answers kubectl's discovery and pod lookup", async () => {
  const { up, ca } = await serve();
  const client = Deno.createHttpClient({ caCerts: [ca.certPem] });
  try {
    const get = async (p: string) => {
      const res = await fetch(`${up.url}${p}`, { client });
      return [res.status, await res.json()] as const;
    };
    assert.equal((await get("/version"))[1].minor, "33");
    assert.equal((await get("/api"))[1].kind, "APIVersions");
    assert.ok(
      (await get("/api/v1"))[1].resources.some((r: { name: string }) =>
        r.name === "pods"
      ),
    );
    const [status, pod] = await get("/api/v1/namespaces/default/pods/demo");
    assert.equal(status, 200);
    assert.equal(pod.spec.containers[0].name, "main");
    assert.equal((await get("/nothing"))[0], 404);
  } finally {
    client.close();
    await up.close();
  }
});
