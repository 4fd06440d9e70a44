/**
 * Kubeconfig files for kubectl and client libraries: one cluster, one user
 * per context, credentials inline (`*-data` fields). Written as JSON, which
 * kubectl reads as YAML.
 *
 * @module
 */

import { writeFile } from "node:fs/promises";

/** The credentials of one context. */
export interface KubeconfigUser {
  /** Context and user name. */
  name: string;
  /** Bearer token. */
  token?: string;
  /** Client certificate PEM (with `keyPem`). */
  certPem?: string;
  /** Client key PEM (with `certPem`). */
  keyPem?: string;
  /** Default namespace of the context. @default {"default"} */
  namespace?: string;
  /** Server URL of this context. @default {the options' `server`} */
  server?: string;
  /** CA PEM of this context's server. @default {the options' `caPem`} */
  caPem?: string;
}

/** What the kubeconfig points at. */
export interface KubeconfigOptions {
  /** API server URL, e.g. `https://127.0.0.1:6443`. */
  server: string;
  /** PEM of the CA that signed the server certificate. */
  caPem: string;
  /** One context per user; the first is the current context. */
  users: KubeconfigUser[];
  /** Cluster name. @default {"devcluster"} */
  clusterName?: string;
}

const b64 = (s: string) => btoa(s);

/**
 * Builds a kubeconfig object.
 * @param options Server, CA and users.
 * @returns The kubeconfig, ready for `JSON.stringify`.
 * @throws {TypeError} No user, or a user without credentials.
 * @example
 * ```ts
 * import { kubeconfig } from "./kubeconfig.ts";
 * const cfg = kubeconfig({
 *   server: "https://127.0.0.1:6443",
 *   caPem: "-----BEGIN CERTIFICATE-----\n...",
 *   users: [{ name: "admin", token: "secret" }],
 * });
 * if (cfg["current-context"] !== "admin") throw new Error();
 * ```
 */
export function kubeconfig(
  options: KubeconfigOptions,
): Record<string, unknown> {
  if (options.users.length === 0) {
    throw new TypeError("Cannot build a kubeconfig: no user was given");
  }
  const base = options.clusterName ?? "devcluster";
  const clusters: unknown[] = [];
  const clusterOf = new Map<string, string>();
  const clusterFor = (server: string, caPem: string) => {
    const key = `${server}\n${caPem}`;
    let name = clusterOf.get(key);
    if (!name) {
      name = clusterOf.size === 0 ? base : `${base}-${clusterOf.size}`;
      clusterOf.set(key, name);
      clusters.push({
        name,
        cluster: { server, "certificate-authority-data": b64(caPem) },
      });
    }
    return name;
  };
  const users = options.users.map((u) => {
    const user: Record<string, string> = {};
    if (u.token !== undefined) user.token = u.token;
    if (u.certPem !== undefined && u.keyPem !== undefined) {
      user["client-certificate-data"] = b64(u.certPem);
      user["client-key-data"] = b64(u.keyPem);
    }
    if (Object.keys(user).length === 0) {
      throw new TypeError(
        `Cannot build a kubeconfig: user "${u.name}" has neither a token nor a certificate and key`,
      );
    }
    return { name: u.name, user };
  });
  const contexts = options.users.map((u) => ({
    name: u.name,
    context: {
      cluster: clusterFor(u.server ?? options.server, u.caPem ?? options.caPem),
      user: u.name,
      namespace: u.namespace ?? "default",
    },
  }));
  return {
    apiVersion: "v1",
    kind: "Config",
    preferences: {},
    clusters,
    users,
    contexts,
    "current-context": options.users[0]!.name,
  };
}

/**
 * Writes a kubeconfig file (mode 0600).
 * @param path Where to write.
 * @param options Server, CA and users.
 * @returns The path.
 */
export async function writeKubeconfig(
  path: string,
  options: KubeconfigOptions,
): Promise<string> {
  await writeFile(path, JSON.stringify(kubeconfig(options), null, 2), {
    mode: 0o600,
  });
  return path;
}
