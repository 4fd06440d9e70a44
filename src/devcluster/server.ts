/**
 * Starts the simulated cluster: an HTTPS server (`node:https`, so upgrade
 * requests reach us as raw sockets, SPDY retries included) serving the Hono
 * app of `api.ts` and the upgrades of `upgrade.ts`, over a store and a pod
 * runtime whose containers are local processes.
 *
 * @module
 */

import { mkdtempSync, rmSync } from "node:fs";
import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { getRequestListener } from "@hono/node-server";
import { createApiApp } from "./api.ts";
import {
  EventLog,
  type Execution,
  rawHeaderPairs,
  type ReceivedRequest,
} from "./execution_log.ts";
import { canonicalTarget, GO_BAD_REQUEST, goTarget } from "./go_request.ts";
import type { TokenUser } from "./auth.ts";
import {
  type CertificateAuthority,
  generateCa,
  issueCert,
  type IssuedCert,
} from "./certs.ts";
import type { ContainerSpec, Pod } from "./objects.ts";
import type { PortTarget } from "./pod_ports.ts";
import { PodRuntime } from "./pod_runtime.ts";
import { ClusterStore } from "./store.ts";
import { handleUpgrade } from "./upgrade.ts";

/** A pod to create at start or from a test. */
export interface PodInit {
  /** Pod name. */
  name: string;
  /** Namespace (created when missing). @default {"default"} */
  namespace?: string;
  /** Labels. @default {{}} */
  labels?: Record<string, string>;
  /** Containers: `command`/`args` run as local processes in the pod's directory. */
  containers: ContainerSpec[];
}

/** The default pod: `default/demo` with one container `main` running `sh` on a pty. */
export const DEMO_POD: PodInit = {
  name: "demo",
  namespace: "default",
  labels: { app: "demo" },
  containers: [{
    name: "main",
    image: "busybox",
    command: ["sh"],
    stdin: true,
    tty: true,
  }],
};

/** Options of {@linkcode startDevCluster}. */
export interface DevClusterOptions {
  /** TCP port. @default {0} (any free port) */
  port?: number;
  /** Address to listen on. @default {"127.0.0.1"} */
  hostname?: string;
  /** CA that issues the server certificate (and client certificates). @default {a new CA} */
  ca?: CertificateAuthority;
  /** Server certificate. @default {a leaf of `ca` for 127.0.0.1 and localhost} */
  serverCert?: IssuedCert;
  /** CAs (PEM) whose client certificates are accepted. @default {[ca.certPem]} */
  clientCaPems?: string[];
  /**
   * Accepted bearer tokens and who they are.
   * @default {one random token for "dev-admin" in "system:masters" (see `token`)}
   */
  tokens?: Record<string, TokenUser>;
  /** Pods present at start. @default {[DEMO_POD]} */
  pods?: PodInit[];
  /** Directory for the pods' scratch directories. @default {a new temporary directory, removed on close} */
  rootDir?: string;
  /**
   * Longest wait, after the 101, for the client's first message before a
   * session's process starts (client-go can drop output that comes at once).
   * @default {100}
   */
  startDelayMs?: number;
  /** One line per request. @default {no logging} */
  logger?: (line: string) => void;
  /** Name of the one node (`GET nodes`, `nodes/NAME/proxy/…`). @default {"devcluster"} */
  nodeName?: string;
}

/** A running simulated cluster. */
export interface DevCluster {
  /** `https://HOST:PORT`. */
  url: string;
  /** The bound port. */
  port: number;
  /** The bound address. */
  hostname: string;
  /** CA certificate that signed the server certificate (the kubeconfig's `certificate-authority-data`). */
  caPem: string;
  /** The CA, for issuing more certificates. */
  ca: CertificateAuthority;
  /** A bearer token the cluster accepts (the first of `tokens`). */
  token: string;
  /** The object store. */
  store: ClusterStore;
  /** The pod runtime. */
  runtime: PodRuntime;
  /**
   * Issues a client certificate for a user (CN) and groups (O).
   * @param username User name.
   * @param groups Groups. @default {[]}
   */
  issueClientCert(username: string, groups?: string[]): Promise<IssuedCert>;
  /**
   * Creates a pod as `POST pods` would (Pending, then Running).
   * @param init The pod.
   * @throws {Error} The pod exists already.
   */
  createPod(init: PodInit): Pod;
  /** Deletes a pod; undefined when it did not exist. */
  deletePod(namespace: string, name: string): Pod | undefined;
  /**
   * Backs a pod port with a local TCP address: each connection `kubectl
   * port-forward` makes to the pod's `port` is a TCP connection to
   * `target` (see `pod_ports.ts`). A pod port with nothing behind it refuses.
   * @param namespace Namespace.
   * @param pod Pod name.
   * @param port The pod's port.
   * @param target The local address, e.g. `{ port: server.addr.port }`.
   * @throws {Error} The pod does not exist.
   * @throws {RangeError} A port is not 1 to 65535.
   */
  exposePort(
    namespace: string,
    pod: string,
    port: number,
    target: PortTarget,
  ): void;
  /** Reads a pod. */
  getPod(namespace: string, name: string): Pod | undefined;
  /**
   * Resolves with the pod once `predicate` holds (checked now and on every
   * change of the pod).
   * @param namespace Namespace.
   * @param name Pod name.
   * @param predicate Condition. @default {phase is Running}
   */
  waitForPod(
    namespace: string,
    name: string,
    predicate?: (pod: Pod | undefined) => boolean,
  ): Promise<Pod | undefined>;
  /**
   * Appends text to a container's log (as if it printed it on stdout);
   * followers of `kubectl logs -f` and attached sessions see it.
   * @throws {Error} The container is not running.
   */
  appendLog(
    namespace: string,
    pod: string,
    text: string,
    container?: string,
  ): void;
  /** Name of the one node. */
  nodeName: string;
  /**
   * Every command the cluster started (exec, attach, the kubelet's exec,
   * attach and run) and every request it served behind `pods/…/proxy` and
   * `services/…/proxy`, oldest first.
   */
  executions(): readonly Execution[];
  /**
   * Resolves with the first execution, logged already or to come, that
   * matches.
   * @param predicate Condition.
   * @param signal Stops waiting (the promise rejects).
   */
  waitForExecution(
    predicate: (e: Execution) => boolean,
    signal?: AbortSignal,
  ): Promise<Execution>;
  /** Every request head received (ordinary and upgrade), oldest first. */
  requests(): readonly ReceivedRequest[];
  /**
   * Resolves with the first request head, received already or to come, that
   * matches.
   * @param predicate Condition.
   * @param signal Stops waiting (the promise rejects).
   */
  waitForRequest(
    predicate: (r: ReceivedRequest) => boolean,
    signal?: AbortSignal,
  ): Promise<ReceivedRequest>;
  /** Stops the server, kills every process, removes the temporary directory. */
  close(): Promise<void>;
}

function podFromInit(init: PodInit): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: init.name,
      namespace: init.namespace ?? "default",
      labels: init.labels ?? {},
    },
    spec: { containers: init.containers, restartPolicy: "Always" },
    status: { phase: "Pending" },
  };
}

/**
 * Starts a simulated kube-apiserver for real kubectl.
 * @param options Port, TLS material, credentials, pods.
 * @returns The running cluster.
 * @example
 * ```ts ignore
 * import { startDevCluster } from "./server.ts";
 * const cluster = await startDevCluster();
 * console.log(cluster.url, cluster.token);
 * await cluster.close();
 * ```
 */
export async function startDevCluster(
  options: DevClusterOptions = {},
): Promise<DevCluster> {
  const ca = options.ca ?? await generateCa("execgate-devcluster-ca");
  const serverCert = options.serverCert ??
    await issueCert(ca, { commonName: "devcluster", usage: "server" });
  const tokenTable = options.tokens ?? {
    [crypto.randomUUID()]: {
      username: "dev-admin",
      groups: ["system:masters"],
    },
  };
  const tokens = new Map(Object.entries(tokenTable));
  const token = [...tokens.keys()][0] ?? "";
  const ownRoot = options.rootDir === undefined;
  const rootDir = options.rootDir ?? mkdtempSync(join(tmpdir(), "devcluster-"));
  const store = new ClusterStore();
  store.ensureNamespace("default");
  store.ensureNamespace("kube-system");
  const runtime = new PodRuntime(store, { rootDir });
  const sessions = new Set<Promise<void>>();
  const executions = new EventLog<Execution>();
  const requests = new EventLog<ReceivedRequest>();
  const nodeName = options.nodeName ?? "devcluster";
  // The target each request arrived with; Hono sees a re-encoded one.
  const received = new WeakMap<
    IncomingMessage,
    { rawTarget: string; decodedPath: string }
  >();
  const ctx = {
    nodeName,
    executions,
    requestTarget: (req: IncomingMessage) =>
      received.get(req) ?? { rawTarget: req.url ?? "/", decodedPath: "/" },
    store,
    runtime,
    tokens,
    logger: options.logger,
    startDelayMs: options.startDelayMs ?? 100,
    track: (p: Promise<void>) => {
      sessions.add(p);
      p.finally(() => sessions.delete(p));
    },
  };
  const app = createApiApp(ctx);
  const appListener = getRequestListener(app.fetch, {
    overrideGlobalObjects: false,
  });
  /** Logs the head; reads the target as Go would; false: answered 400. */
  const admit = (req: IncomingMessage, upgrade: boolean) => {
    const rawTarget = req.url ?? "/";
    requests.add({
      method: req.method ?? "",
      rawTarget,
      headers: rawHeaderPairs(req),
      upgrade,
    });
    try {
      const target = goTarget(rawTarget);
      received.set(req, { rawTarget, decodedPath: target.path });
      return target;
    } catch {
      options.logger?.(
        `${req.method} ${rawTarget} 400 (Go would not parse it)`,
      );
      return undefined;
    }
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const target = admit(req, false);
    if (!target) {
      res.writeHead(400, {
        "Content-Type": "text/plain; charset=utf-8",
        "Connection": "close",
      });
      res.end("400 Bad Request");
      return;
    }
    // Hono routes on a WHATWG URL: give it the segments Go decoded.
    req.url = canonicalTarget(target);
    appListener(req, res);
  };
  // An upgrade on a path that streams nothing is an ordinary request.
  const fallback = (
    req: IncomingMessage,
    socket: Duplex,
    target: ReturnType<typeof goTarget>,
  ) => {
    const headers = new Headers();
    for (const [k, v] of rawHeaderPairs(req)) {
      try {
        headers.append(k, v);
      } catch { /* not a valid header for fetch */ }
    }
    const request = new Request(
      `https://devcluster${canonicalTarget(target)}`,
      {
        method: req.method,
        headers,
      },
    );
    Promise.resolve(app.fetch(request, { incoming: req, outgoing: undefined }))
      .then(async (res) => {
        const body = new Uint8Array(await res.arrayBuffer());
        let headText = `HTTP/1.1 ${res.status} ${
          res.statusText || "Status"
        }\r\n`;
        res.headers.forEach((v, k) => {
          if (k !== "content-length" && k !== "transfer-encoding") {
            headText += `${k}: ${v}\r\n`;
          }
        });
        headText +=
          `content-length: ${body.length}\r\nconnection: close\r\n\r\n`;
        socket.write(headText);
        socket.end(body);
      })
      .catch(() => socket.destroy());
  };
  const server = https.createServer({
    cert: serverCert.certPem,
    key: serverCert.keyPem,
    ca: options.clientCaPems ?? [ca.certPem],
    requestCert: true,
    rejectUnauthorized: false,
  }, onRequest);
  const sockets = new Set<Duplex>();
  server.on("secureConnection", (s: Duplex) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on(
    "upgrade",
    (req: IncomingMessage, socket: Duplex, head: Uint8Array) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      if (!admit(req, true)) {
        socket.on("error", () => {});
        socket.end(GO_BAD_REQUEST);
        return;
      }
      handleUpgrade({ ...ctx, fallback }, req, socket, head);
    },
  );
  const hostname = options.hostname ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, hostname, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const hostForUrl = hostname.includes(":") ? `[${hostname}]` : hostname;

  const createPod = (init: PodInit) => {
    const pod = podFromInit(init);
    if (store.getPod(pod.metadata.namespace, pod.metadata.name)) {
      throw new Error(
        `Cannot create pod "${pod.metadata.namespace}/${pod.metadata.name}": it exists already`,
      );
    }
    return runtime.createPod(pod);
  };
  for (const p of options.pods ?? [DEMO_POD]) createPod(p);

  return {
    url: `https://${hostForUrl}:${port}`,
    port,
    hostname,
    caPem: ca.certPem,
    ca,
    token,
    store,
    runtime,
    issueClientCert: (username, groups = []) =>
      issueCert(ca, {
        commonName: username,
        organizations: groups,
        usage: "client",
      }),
    createPod,
    nodeName,
    executions: () => executions.all(),
    waitForExecution: (predicate, signal) =>
      executions.waitFor(predicate, signal),
    requests: () => requests.all(),
    waitForRequest: (predicate, signal) => requests.waitFor(predicate, signal),
    deletePod: (namespace, name) => runtime.deletePod(namespace, name),
    exposePort(namespace, pod, port, target) {
      if (!store.getPod(namespace, pod)) {
        throw new Error(
          `Cannot expose port ${port} of pod "${namespace}/${pod}": the pod does not exist`,
        );
      }
      runtime.ports.expose(namespace, pod, port, target);
    },
    getPod: (namespace, name) => store.getPod(namespace, name),
    waitForPod(
      namespace,
      name,
      predicate = (p) => p?.status.phase === "Running",
    ) {
      return new Promise((resolve) => {
        let unwatch = () => {};
        let done = false;
        const check = (pod: Pod | undefined) => {
          if (done || !predicate(pod)) return;
          done = true;
          unwatch();
          resolve(pod);
        };
        unwatch = store.watchPods(
          { namespace, name },
          (e) => check(e.type === "DELETED" ? undefined : e.object),
        );
        check(store.getPod(namespace, name));
        if (done) unwatch();
      });
    },
    appendLog(namespace, pod, text, container) {
      const p = store.getPod(namespace, pod);
      const name = container ?? p?.spec.containers[0]?.name ?? "";
      const running = runtime.container(namespace, pod, name);
      if (!running) {
        throw new Error(
          `Cannot append to the log of "${namespace}/${pod}" container "${name}": it is not running`,
        );
      }
      running.emit(1, new TextEncoder().encode(text));
    },
    async close() {
      runtime.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      await Promise.allSettled([...sessions]);
      if (ownRoot) rmSync(rootDir, { recursive: true, force: true });
    },
  };
}
