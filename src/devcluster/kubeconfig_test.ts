import assert from "node:assert/strict";
import { kubeconfig } from "./kubeconfig.ts";

Deno.test("kubeconfig gives each user a context and shares clusters with the same server and CA", () => {
  const cfg = kubeconfig({
    server: "https://127.0.0.1:6443",
    caPem: "CA",
    users: [
      { name: "admin", token: "t" },
      { name: "alice", certPem: "C", keyPem: "K", namespace: "dev" },
      {
        name: "via-proxy",
        token: "p",
        server: "https://127.0.0.1:8443",
        caPem: "CA2",
      },
    ],
  }) as {
    clusters: { name: string; cluster: Record<string, string> }[];
    users: { name: string; user: Record<string, string> }[];
    contexts: { name: string; context: Record<string, string> }[];
    "current-context": string;
  };
  assert.equal(cfg["current-context"], "admin");
  assert.deepEqual(cfg.clusters, [
    {
      name: "devcluster",
      cluster: {
        server: "https://127.0.0.1:6443",
        "certificate-authority-data": btoa("CA"),
      },
    },
    {
      name: "devcluster-1",
      cluster: {
        server: "https://127.0.0.1:8443",
        "certificate-authority-data": btoa("CA2"),
      },
    },
  ]);
  assert.deepEqual(cfg.users[1]!.user, {
    "client-certificate-data": btoa("C"),
    "client-key-data": btoa("K"),
  });
  assert.deepEqual(
    cfg.contexts.map((c) => [c.name, c.context.cluster, c.context.namespace]),
    [
      ["admin", "devcluster", "default"],
      ["alice", "devcluster", "dev"],
      ["via-proxy", "devcluster-1", "default"],
    ],
  );
});

Deno.test("kubeconfig rejects a user without credentials", () => {
  assert.throws(
    () =>
      kubeconfig({
        server: "https://x",
        caPem: "CA",
        users: [{ name: "nobody" }],
      }),
    /user "nobody" has neither a token nor a certificate and key/,
  );
});
