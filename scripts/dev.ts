/**
 * `deno task dev`: the whole stack on this machine.
 *
 * - a simulated Kubernetes API server (pods `demo`, real processes);
 * - a recorder on disk under `.dev/recordings/`, with its web UI;
 * - the execgate proxy in front of the cluster, with the dev policy
 *   (alice: recorded, fail closed; bob: not recorded; carol: refused);
 * - `.dev/kubeconfig` with one context per identity, and the configuration
 *   files the proxy and recorder run with, as complete examples.
 *
 * Ports are chosen automatically, or set with EXECGATE_DEV_PROXY_PORT,
 * EXECGATE_DEV_CLUSTER_PORT and EXECGATE_DEV_RECORDER_PORT. Ctrl-C stops all.
 *
 * @module
 */

import { generateCa, issueCert } from "../src/devcluster/certs.ts";
import { writeKubeconfig } from "../src/devcluster/kubeconfig.ts";
import { startDevCluster } from "../src/devcluster/server.ts";
import { jsonLogger } from "../src/log.ts";
import { loadProxyConfig } from "../src/proxy/config.ts";
import { openRecordings } from "../src/proxy/open_recordings.ts";
import { startProxy } from "../src/proxy/start.ts";
import { parseRecorderConfig, serveRecorder } from "../src/recorder/mod.ts";

const root = new URL("..", import.meta.url).pathname;
const dev = `${root}.dev`;
const port = (name: string) => Number(Deno.env.get(name) ?? "0");
const UPLOADER_TOKEN = "dev-uploader-token-0000";
const VIEWER_TOKEN = "dev-viewer-token-00000";

await Deno.mkdir(`${dev}/recordings`, { recursive: true });

const cluster = await startDevCluster({
  port: port("EXECGATE_DEV_CLUSTER_PORT"),
  rootDir: `${dev}/pods`,
});
await writeKubeconfig(`${dev}/upstream.kubeconfig`, {
  server: cluster.url,
  caPem: cluster.caPem,
  users: [{ name: "execgate", token: cluster.token }],
});

const recorderConfig = {
  listen: { hostname: "127.0.0.1", port: port("EXECGATE_DEV_RECORDER_PORT") },
  auth: { uploaderTokens: [UPLOADER_TOKEN], viewerTokens: [VIEWER_TOKEN] },
  storage: { kind: "disk", dir: `${dev}/recordings` },
};
await Deno.writeTextFile(
  `${dev}/recorder.json`,
  JSON.stringify(recorderConfig, null, 2) + "\n",
);
const recorder = await serveRecorder(parseRecorderConfig(recorderConfig));

const ca = await generateCa("execgate-dev-ca");
const serving = await issueCert(ca, {
  commonName: "execgate",
  usage: "server",
});
await Deno.writeTextFile(`${dev}/proxy.crt`, serving.certPem);
// The key and the kubeconfig are the owner's only (mode applies on creation;
// chmod covers a file left by an earlier run).
await Deno.writeTextFile(`${dev}/proxy.key`, serving.keyPem, { mode: 0o600 });
await Deno.chmod(`${dev}/proxy.key`, 0o600);
await Deno.writeTextFile(`${dev}/ca.crt`, ca.certPem);
const proxyConfigText =
  `// The dev proxy's configuration (written by \`deno task dev\`).
{
  "hostname": "execgate-dev",
  "tags": ["tag:k8s-proxy"],
  "listen": { "host": "127.0.0.1", "port": ${port("EXECGATE_DEV_PROXY_PORT")} },
  "tls": { "certFile": "proxy.crt", "keyFile": "proxy.key" },
  "upstream": { "kubeconfig": "upstream.kubeconfig" },
  "identity": { "type": "tokens", "file": "${root}src/identity/testdata/dev_tokens.hujson" },
  "policy": { "file": "${root}src/policy/testdata/dev_policy.hujson" },
  "recorders": { "tag:k8s-recorder": ["${recorder.url}"] },
  "recorderAuth": { "token": "${UPLOADER_TOKEN}" },
  // Prometheus /metrics on a port of its own (docs/metrics.md).
  "metricsAddress": "127.0.0.1:0",
}
`;
await Deno.writeTextFile(`${dev}/proxy.hujson`, proxyConfigText);
const proxy = await startProxy(
  loadProxyConfig(proxyConfigText, `${dev}/proxy.hujson`),
  { logger: jsonLogger("proxy"), openTap: openRecordings },
);

await writeKubeconfig(`${dev}/kubeconfig`, {
  server: proxy.url,
  caPem: ca.certPem,
  users: [
    { name: "alice", token: "alice-token" },
    { name: "bob", token: "bob-token" },
    { name: "carol", token: "carol-token" },
  ],
});

console.log(`
execgate dev stack is running.

  simulated cluster  ${cluster.url}
  execgate proxy     ${proxy.url}
  recorder UI        ${recorder.url}/ui   (viewer token: ${VIEWER_TOKEN})
  proxy metrics      ${proxy.metricsUrl}/metrics
  recorder metrics   ${recorder.url}/metrics   (the viewer token)

Try, in another terminal:

  export KUBECONFIG=${dev}/kubeconfig
  kubectl get pods                                  # as alice (current context)
  kubectl exec -it demo -- sh                       # recorded; see it in the UI
  kubectl --context bob exec -it demo -- sh         # not recorded
  kubectl --context bob auth whoami                 # impersonated as bob, group viewers
  kubectl --context carol get pods                  # refused by the policy

Configuration in use: ${dev}/proxy.hujson, ${dev}/recorder.json
Press Ctrl-C to stop.
`);

const { promise, resolve } = Promise.withResolvers<void>();
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(sig, resolve);
}
await promise;
console.log("\nstopping…");
await proxy.close();
await recorder.close();
await cluster.close();
Deno.exit(0);
