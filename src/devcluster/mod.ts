/**
 * The simulated kube-apiserver used by `deno task dev` and the tests: a small
 * HTTPS server that real kubectl (1.27–1.33) talks to. It serves discovery,
 * namespaces, pods (list, get, create, delete, watch), logs (`-f`),
 * `kubectl auth whoami` (with impersonation), ephemeral containers, and
 * exec/attach over WebSocket (`v4`/`v5.channel.k8s.io`; exec also over
 * SPDY/3.1), port-forward (SPDY/3.1, SPDY tunnelled in WebSocket as kubectl
 * 1.31+ sends it, and the channel-style `v4.channel.k8s.io`) to real local
 * servers behind the pods' ports (`cluster.exposePort`), the kubelet's
 * exec/attach/run through `nodes/NODE/proxy`, and `pods`/`services` proxy
 * paths. Requests are routed on the path as
 * kube-apiserver decodes it (`goPath`, `goQuery`, `goBool`), and a test can
 * read what ran (`cluster.executions()`, `waitForExecution`) and every
 * request head received (`cluster.requests()`). Containers are local processes in a per-pod scratch directory,
 * on a pseudo-terminal when asked. See `docs/devcluster.md`.
 *
 * @example
 * ```ts ignore
 * import { startDevCluster, writeKubeconfig } from "./mod.ts";
 * const cluster = await startDevCluster();
 * await writeKubeconfig("/tmp/kubeconfig", {
 *   server: cluster.url,
 *   caPem: cluster.caPem,
 *   users: [{ name: "admin", token: cluster.token }],
 * });
 * // kubectl --kubeconfig /tmp/kubeconfig exec -it demo -- sh
 * await cluster.close();
 * ```
 *
 * @module
 */

export {
  DEMO_POD,
  type DevCluster,
  type DevClusterOptions,
  type PodInit,
  startDevCluster,
} from "./server.ts";
export {
  type CertificateAuthority,
  type CertSubject,
  certSubject,
  generateCa,
  issueCert,
  type IssueCertOptions,
  type IssuedCert,
} from "./certs.ts";
export {
  kubeconfig,
  type KubeconfigOptions,
  type KubeconfigUser,
  writeKubeconfig,
} from "./kubeconfig.ts";
export {
  KUBECTL,
  type KubectlOptions,
  type KubectlResult,
  runKubectl,
  spawnKubectl,
} from "./kubectl_runner.ts";
export { type TokenUser, type UserInfo } from "./auth.ts";
export { BUILTIN_COMMANDS } from "./builtins.ts";
export type {
  Execution,
  ExecutionVia,
  ReceivedRequest,
} from "./execution_log.ts";
export {
  canonicalTarget,
  GO_BAD_REQUEST,
  goBool,
  goPath,
  type GoQuery,
  goQuery,
  type GoTarget,
  goTarget,
  goValues,
} from "./go_request.ts";
export { SERVER_VERSION } from "./api.ts";
export type {
  ContainerSpec,
  ContainerState,
  ContainerStatus,
  Namespace,
  ObjectMeta,
  Pod,
  PodPhase,
  WatchEvent,
} from "./objects.ts";
export type { ClusterStore, PodWatchOptions } from "./store.ts";
export type { PodRuntime } from "./pod_runtime.ts";
export type { AttachSink, RunningContainer } from "./running_container.ts";
export type { LogBuffer } from "./log_buffer.ts";
export type { PodPorts, PortTarget } from "./pod_ports.ts";
