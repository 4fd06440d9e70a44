/**
 * Where the real kube-apiserver is and which credentials the proxy uses
 * there: the in-cluster service account, or a kubeconfig file.
 *
 * @module
 */

import { parse as parseYaml } from "yaml";

/** Resolved upstream: URL and credentials, all material inline. */
export interface UpstreamConfig {
  /** Base URL, e.g. `https://10.0.0.1:443`. */
  server: string;
  /** PEM of the CA that signs the server's certificate; system roots if absent. */
  caPem?: string;
  /** Bearer token the proxy presents. */
  token?: string;
  /** Client certificate PEM the proxy presents. */
  certPem?: string;
  /** Client key PEM. */
  keyPem?: string;
  /** Skip server certificate verification (kubeconfig `insecure-skip-tls-verify`). */
  insecureSkipVerify?: boolean;
}

/** Reads a file's text; injectable for tests. */
export type ReadTextFile = (path: string) => Promise<string>;

/** Standard in-cluster locations. */
export const IN_CLUSTER_TOKEN =
  "/var/run/secrets/kubernetes.io/serviceaccount/token";
/** CA of the in-cluster service account. */
export const IN_CLUSTER_CA =
  "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

/**
 * The in-cluster service account, from `KUBERNETES_SERVICE_HOST`/`_PORT` and
 * the mounted token and CA.
 * @param env Environment variables.
 * @param readTextFile File reader.
 * @returns The upstream.
 * @throws {Error} Not running in a cluster, or a file is missing.
 */
export async function inClusterUpstream(
  env: Record<string, string | undefined>,
  readTextFile: ReadTextFile,
): Promise<UpstreamConfig> {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? "443";
  if (!host) {
    throw new Error(
      "Cannot use the in-cluster upstream: KUBERNETES_SERVICE_HOST is not set",
    );
  }
  const h = host.includes(":") ? `[${host}]` : host;
  return {
    server: `https://${h}:${port}`,
    token: (await readTextFile(IN_CLUSTER_TOKEN)).trim(),
    caPem: await readTextFile(IN_CLUSTER_CA),
  };
}

function b64(s: string): string {
  return new TextDecoder().decode(
    Uint8Array.from(atob(s.replace(/\s+/g, "")), (c) => c.charCodeAt(0)),
  );
}

function asRecord(v: unknown, where: string): Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new Error(`Cannot read kubeconfig: ${where} is not an object`);
  }
  return v as Record<string, unknown>;
}

function named(
  list: unknown,
  name: string,
  kind: string,
  file: string,
): Record<string, unknown> {
  const arr = Array.isArray(list) ? list : [];
  const hit = arr.find((e) => e && (e as { name?: unknown }).name === name);
  if (!hit) {
    throw new Error(
      `Cannot read kubeconfig "${file}": ${kind} "${name}" is not defined`,
    );
  }
  return asRecord((hit as Record<string, unknown>)[kind], `${kind} "${name}"`);
}

/**
 * Reads the upstream from a kubeconfig file (YAML or JSON): the named context
 * or `current-context`; token, token file, or client certificate; inline
 * `*-data` or file references relative to the kubeconfig.
 * @param path The kubeconfig path.
 * @param context Context name; `current-context` when absent.
 * @param readTextFile File reader.
 * @returns The upstream.
 * @throws {Error} Naming the file and the missing piece.
 */
export async function kubeconfigUpstream(
  path: string,
  context: string | undefined,
  readTextFile: ReadTextFile,
): Promise<UpstreamConfig> {
  const doc = asRecord(parseYaml(await readTextFile(path)), "the document");
  const ctxName = context ?? (doc["current-context"] as string | undefined);
  if (!ctxName) {
    throw new Error(
      `Cannot read kubeconfig "${path}": no context given and no current-context`,
    );
  }
  const ctx = named(doc.contexts, ctxName, "context", path);
  const cluster = named(doc.clusters, String(ctx.cluster), "cluster", path);
  const user = ctx.user === undefined
    ? {}
    : named(doc.users, String(ctx.user), "user", path);
  const dir = path.includes("/")
    ? path.slice(0, path.lastIndexOf("/") + 1)
    : "";
  const rel = (p: string) => (p.startsWith("/") ? p : dir + p);
  const material = async (data: unknown, file: unknown) =>
    typeof data === "string"
      ? b64(data)
      : typeof file === "string"
      ? await readTextFile(rel(file))
      : undefined;
  const server = cluster.server;
  if (typeof server !== "string") {
    throw new Error(`Cannot read kubeconfig "${path}": cluster has no server`);
  }
  const token = typeof user.token === "string"
    ? user.token
    : typeof user.tokenFile === "string"
    ? (await readTextFile(rel(user.tokenFile))).trim()
    : undefined;
  return {
    server: server.replace(/\/+$/, ""),
    caPem: await material(
      cluster["certificate-authority-data"],
      cluster["certificate-authority"],
    ),
    token,
    certPem: await material(
      user["client-certificate-data"],
      user["client-certificate"],
    ),
    keyPem: await material(user["client-key-data"], user["client-key"]),
    insecureSkipVerify: cluster["insecure-skip-tls-verify"] === true,
  };
}
