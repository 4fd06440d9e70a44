/**
 * The simulated kube-apiserver's REST surface as a Hono app: version,
 * discovery, namespaces, pods (list, get, create, delete, watch), pod logs
 * (streamed with `follow=true`), ephemeral containers and SelfSubjectReview
 * (`kubectl auth whoami`). Exec and attach arrive as upgrades and are served
 * by `upgrade.ts`; a plain request to them gets the apiserver's 400.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import { Hono } from "hono";
import type { HttpBindings } from "@hono/node-server";
import { failureStatus, type K8sStatus } from "../k8s/status.ts";
import { addSecretRoutes, SECRETS_RESOURCE } from "./secrets.ts";
import { authenticate, type AuthResult, type TokenUser } from "./auth.ts";
import { spawnContainerProcess } from "./container_process.ts";
import {
  type EventLog,
  type Execution,
  impersonationOf,
  rawHeaderPairs,
} from "./execution_log.ts";
import { goTarget } from "./go_request.ts";
import type { ContainerSpec, Pod, WatchEvent } from "./objects.ts";
import { proxyBody } from "./proxy_echo.ts";
import { matchRoute } from "./route_target.ts";
import type { PodRuntime } from "./pod_runtime.ts";
import { podTable, wantsTable } from "./pod_table.ts";
import type { ClusterStore } from "./store.ts";

/** The Kubernetes version the simulated cluster claims. */
export const SERVER_VERSION = {
  major: "1",
  minor: "31",
  gitVersion: "v1.31.0",
  gitCommit: "0000000000000000000000000000000000000000",
  gitTreeState: "clean",
  buildDate: "2024-08-13T00:00:00Z",
  goVersion: "go1.22.5",
  compiler: "gc",
  platform: "linux/amd64",
} as const;

/** What the app needs. */
export interface ApiContext {
  /** Object store. */
  store: ClusterStore;
  /** Pod runtime. */
  runtime: PodRuntime;
  /** Accepted bearer tokens. */
  tokens: ReadonlyMap<string, TokenUser>;
  /** Request log, one line per request. @default {no logging} */
  logger?: (line: string) => void;
  /** The one node's name. */
  nodeName: string;
  /** Where started commands and served proxy requests are logged. */
  executions: EventLog<Execution>;
  /** The target a request arrived with (Hono sees a re-encoded one). */
  requestTarget(
    req: IncomingMessage,
  ): { rawTarget: string; decodedPath: string };
}

type Env = { Bindings: HttpBindings; Variables: { auth: AuthResult } };

const JSON_HEADERS = { "content-type": "application/json" };

function status(s: K8sStatus): Response {
  return new Response(JSON.stringify(s), {
    status: s.code ?? 500,
    headers: { ...JSON_HEADERS }, // fresh: @hono/node-server writes content-length into it
  });
}

function json(body: unknown, code = 200): Response {
  return new Response(JSON.stringify(body), {
    status: code,
    headers: { ...JSON_HEADERS }, // fresh: @hono/node-server writes content-length into it
  });
}

const POD_VERBS = [
  "create",
  "delete",
  "deletecollection",
  "get",
  "list",
  "patch",
  "update",
  "watch",
];

const CORE_RESOURCES = {
  kind: "APIResourceList",
  groupVersion: "v1",
  resources: [
    SECRETS_RESOURCE,
    {
      name: "namespaces",
      singularName: "namespace",
      namespaced: false,
      kind: "Namespace",
      verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
      shortNames: ["ns"],
    },
    {
      name: "nodes",
      singularName: "node",
      namespaced: false,
      kind: "Node",
      verbs: ["get", "list"],
      shortNames: ["no"],
    },
    {
      name: "nodes/proxy",
      singularName: "",
      namespaced: false,
      kind: "NodeProxyOptions",
      verbs: ["create", "delete", "get", "patch", "update"],
    },
    {
      name: "pods",
      singularName: "pod",
      namespaced: true,
      kind: "Pod",
      verbs: POD_VERBS,
      shortNames: ["po"],
      categories: ["all"],
    },
    {
      name: "pods/attach",
      singularName: "",
      namespaced: true,
      kind: "PodAttachOptions",
      verbs: ["create", "get"],
    },
    {
      name: "pods/ephemeralcontainers",
      singularName: "",
      namespaced: true,
      kind: "Pod",
      verbs: ["get", "patch", "update"],
    },
    {
      name: "pods/exec",
      singularName: "",
      namespaced: true,
      kind: "PodExecOptions",
      verbs: ["create", "get"],
    },
    {
      name: "pods/log",
      singularName: "",
      namespaced: true,
      kind: "Pod",
      verbs: ["get"],
    },
    {
      name: "pods/proxy",
      singularName: "",
      namespaced: true,
      kind: "PodProxyOptions",
      verbs: ["create", "delete", "get", "patch", "update"],
    },
    {
      name: "services/proxy",
      singularName: "",
      namespaced: true,
      kind: "ServiceProxyOptions",
      verbs: ["create", "delete", "get", "patch", "update"],
    },
    {
      name: "pods/status",
      singularName: "",
      namespaced: true,
      kind: "Pod",
      verbs: ["get", "patch", "update"],
    },
  ],
};

const AUTHN_GROUP = {
  name: "authentication.k8s.io",
  versions: [{ groupVersion: "authentication.k8s.io/v1", version: "v1" }],
  preferredVersion: { groupVersion: "authentication.k8s.io/v1", version: "v1" },
};

/**
 * Finds the container a pod subresource request means, as kube-apiserver
 * does for log, exec and attach.
 * @param pod The pod (undefined: not found).
 * @param namespace Namespace (for the message).
 * @param name Pod name (for the message).
 * @param container `container=` value, or empty.
 * @returns The container name, or the failure `Status` to answer with.
 */
export function resolveContainer(
  pod: Pod | undefined,
  name: string,
  container: string | undefined,
): { container: string } | { error: K8sStatus } {
  if (!pod) {
    return {
      error: failureStatus(404, `pods "${name}" not found`, {
        name,
        kind: "pods",
      }),
    };
  }
  const names = [
    ...pod.spec.containers.map((c) => c.name),
    ...(pod.spec.ephemeralContainers ?? []).map((c) => c.name),
  ];
  if (!container) {
    if (pod.spec.containers.length === 1) return { container: names[0]! };
    return {
      error: failureStatus(
        400,
        `a container name must be specified for pod ${name}, choose one of: [${
          pod.spec.containers.map((c) => c.name).join(" ")
        }]`,
      ),
    };
  }
  if (!names.includes(container)) {
    return {
      error: failureStatus(
        400,
        `container ${container} is not valid for pod ${name}`,
      ),
    };
  }
  return { container };
}

function parseSelector(s: string | undefined): [string, string][] {
  if (!s) return [];
  return s.split(",").filter((p) => p !== "").map((p) => {
    const [k, v] = p.split(/==?/, 2);
    return [k!.trim(), (v ?? "").trim()];
  });
}

function podMatches(
  pod: Pod,
  labels: [string, string][],
  fields: [string, string][],
): boolean {
  for (const [k, v] of labels) if (pod.metadata.labels?.[k] !== v) return false;
  for (const [k, v] of fields) {
    if (k === "metadata.name" && pod.metadata.name !== v) return false;
    if (k === "metadata.namespace" && pod.metadata.namespace !== v) {
      return false;
    }
    if (k === "status.phase" && pod.status.phase !== v) return false;
  }
  return true;
}

function mergeEphemeral(
  pod: Pod,
  body: unknown,
  contentType: string,
): ContainerSpec[] {
  const list = [...(pod.spec.ephemeralContainers ?? [])];
  const upsert = (c: unknown) => {
    if (
      !c || typeof c !== "object" ||
      typeof (c as ContainerSpec).name !== "string"
    ) return;
    const spec = c as ContainerSpec;
    const i = list.findIndex((x) => x.name === spec.name);
    if (i >= 0) list[i] = { ...list[i], ...spec };
    else list.push(spec);
  };
  if (contentType.includes("json-patch+json") && Array.isArray(body)) {
    for (const op of body) {
      if (
        op?.op === "add" &&
        String(op.path).startsWith("/spec/ephemeralContainers")
      ) {
        if (Array.isArray(op.value)) op.value.forEach(upsert);
        else upsert(op.value);
      }
    }
  } else {
    const specs = (body as Pod | undefined)?.spec?.ephemeralContainers;
    if (Array.isArray(specs)) specs.forEach(upsert);
  }
  return list;
}

/**
 * Builds the app.
 * @param ctx Store, runtime, credentials.
 * @returns A Hono app to serve with `getRequestListener` from `@hono/node-server`.
 */
export function createApiApp(ctx: ApiContext): Hono<Env> {
  const { store, runtime } = ctx;
  const app = new Hono<Env>();

  app.use("*", async function requestLog(c, next) {
    await next();
    const who = c.get("auth")?.effective.username ?? "-";
    ctx.logger?.(
      `${c.req.method} ${
        c.req.url.replace(/^https?:\/\/[^/]+/, "")
      } ${c.res.status} ${who}`,
    );
  });

  for (const path of ["/version", "/healthz", "/livez", "/readyz"]) {
    app.get(
      path,
      (c) => path === "/version" ? json(SERVER_VERSION) : c.text("ok"),
    );
  }

  app.use("*", async function authn(c, next) {
    const auth = authenticate(c.env.incoming, ctx.tokens);
    if (!auth) return status(failureStatus(401, "Unauthorized"));
    c.set("auth", auth);
    await next();
  });

  app.get("/api", (c) =>
    json({
      kind: "APIVersions",
      versions: ["v1"],
      serverAddressByClientCIDRs: [{
        clientCIDR: "0.0.0.0/0",
        serverAddress: c.req.header("host") ?? "127.0.0.1",
      }],
    }));
  app.get("/api/v1", () => json(CORE_RESOURCES));
  app.get(
    "/apis",
    () =>
      json({ kind: "APIGroupList", apiVersion: "v1", groups: [AUTHN_GROUP] }),
  );
  app.get(
    "/apis/authentication.k8s.io",
    () => json({ kind: "APIGroup", apiVersion: "v1", ...AUTHN_GROUP }),
  );
  app.get("/apis/authentication.k8s.io/v1", () =>
    json({
      kind: "APIResourceList",
      apiVersion: "v1",
      groupVersion: "authentication.k8s.io/v1",
      resources: [{
        name: "selfsubjectreviews",
        singularName: "selfsubjectreview",
        namespaced: false,
        kind: "SelfSubjectReview",
        verbs: ["create"],
      }],
    }));
  app.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", (c) =>
    json({
      kind: "SelfSubjectReview",
      apiVersion: "authentication.k8s.io/v1",
      metadata: { creationTimestamp: null },
      status: { userInfo: c.get("auth").effective },
    }, 201));

  app.get("/api/v1/namespaces", () =>
    json({
      kind: "NamespaceList",
      apiVersion: "v1",
      metadata: { resourceVersion: String(store.resourceVersion) },
      items: store.listNamespaces(),
    }));
  app.get("/api/v1/namespaces/:ns", (c) => {
    const ns = store.getNamespace(c.req.param("ns"));
    return ns ? json(ns) : status(
      failureStatus(404, `namespaces "${c.req.param("ns")}" not found`, {
        name: c.req.param("ns"),
        kind: "namespaces",
      }),
    );
  });

  const listPods = (
    c: import("hono").Context<Env>,
    namespace: string | undefined,
  ) => {
    const labels = parseSelector(c.req.query("labelSelector"));
    const fields = parseSelector(c.req.query("fieldSelector"));
    const table = wantsTable(c.req.header("accept"));
    if (c.req.query("watch") === "true" || c.req.query("watch") === "1") {
      return watchPods(c, namespace, labels, fields, table);
    }
    const rv = String(store.resourceVersion);
    const pods = store.listPods(namespace).filter((p) =>
      podMatches(p, labels, fields)
    );
    if (table) return json(podTable(pods, rv));
    return json({
      kind: "PodList",
      apiVersion: "v1",
      metadata: { resourceVersion: rv },
      items: pods,
    });
  };

  const watchPods = (
    c: import("hono").Context<Env>,
    namespace: string | undefined,
    labels: [string, string][],
    fields: [string, string][],
    table: boolean,
  ) => {
    const rvParam = Number(c.req.query("resourceVersion"));
    const since = Number.isInteger(rvParam) && rvParam > 0
      ? rvParam
      : undefined;
    const timeout = Number(c.req.query("timeoutSeconds"));
    const encoder = new TextEncoder();
    let stop = () => {};
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        let first = true;
        const send = (e: WatchEvent<Pod>) => {
          if (!podMatches(e.object, labels, fields)) return;
          const object = table
            ? podTable([e.object], e.object.metadata.resourceVersion, first)
            : e.object;
          first = false;
          controller.enqueue(
            encoder.encode(JSON.stringify({ type: e.type, object }) + "\n"),
          );
        };
        // Without a resourceVersion a watch starts with the current state.
        if (since === undefined) {
          for (const p of store.listPods(namespace)) {
            send({ type: "ADDED", object: p });
          }
        }
        const unwatch = store.watchPods({
          namespace,
          sinceResourceVersion: since,
        }, send);
        let timer: ReturnType<typeof setTimeout> | undefined;
        stop = () => {
          unwatch();
          clearTimeout(timer);
        };
        if (timeout > 0) {
          timer = setTimeout(() => {
            stop();
            controller.close();
          }, timeout * 1000);
        }
      },
      cancel() {
        stop();
      },
    });
    return new Response(body, {
      headers: { ...JSON_HEADERS, "transfer-encoding": "chunked" },
    });
  };

  addSecretRoutes(app);

  // No events are recorded; `kubectl describe` asks for them.
  app.get("/api/v1/namespaces/:ns/events", () =>
    json({
      kind: "EventList",
      apiVersion: "v1",
      metadata: { resourceVersion: String(store.resourceVersion) },
      items: [],
    }));

  app.get("/api/v1/pods", (c) => listPods(c, undefined));
  app.get("/api/v1/namespaces/:ns/pods", (c) => listPods(c, c.req.param("ns")));

  app.post("/api/v1/namespaces/:ns/pods", async (c) => {
    const ns = c.req.param("ns");
    if (!store.getNamespace(ns)) {
      return status(
        failureStatus(404, `namespaces "${ns}" not found`, {
          name: ns,
          kind: "namespaces",
        }),
      );
    }
    let body: Pod;
    try {
      body = await c.req.json();
    } catch (err) {
      return status(
        failureStatus(400, `Cannot decode pod: ${(err as Error).message}`),
      );
    }
    const meta = body?.metadata ?? {};
    const name = meta.name ??
      (meta.generateName
        ? `${meta.generateName}${crypto.randomUUID().slice(0, 5)}`
        : undefined);
    const containers = body?.spec?.containers;
    if (
      !name || !Array.isArray(containers) || containers.length === 0 ||
      containers.some((x) => typeof x?.name !== "string")
    ) {
      return status(failureStatus(
        422,
        `Pod "${
          name ?? ""
        }" is invalid: metadata.name and spec.containers[].name are required`,
      ));
    }
    if (store.getPod(ns, name)) {
      return status(
        failureStatus(409, `pods "${name}" already exists`, {
          name,
          kind: "pods",
        }),
      );
    }
    const dryRun = c.req.queries("dryRun")?.includes("All");
    const pod = { ...body, metadata: { ...meta, name, namespace: ns } } as Pod;
    if (dryRun) return json(pod, 201);
    return json(runtime.createPod(pod), 201);
  });

  app.get("/api/v1/namespaces/:ns/pods/:name", (c) => {
    const { ns, name } = c.req.param();
    const pod = store.getPod(ns, name);
    if (!pod) {
      return status(
        failureStatus(404, `pods "${name}" not found`, { name, kind: "pods" }),
      );
    }
    if (wantsTable(c.req.header("accept"))) {
      return json(podTable([pod], pod.metadata.resourceVersion));
    }
    return json(pod);
  });

  app.delete("/api/v1/namespaces/:ns/pods/:name", (c) => {
    const { ns, name } = c.req.param();
    const pod = runtime.deletePod(ns, name);
    if (!pod) {
      return status(
        failureStatus(404, `pods "${name}" not found`, { name, kind: "pods" }),
      );
    }
    return json(pod);
  });

  app.get("/api/v1/namespaces/:ns/pods/:name/ephemeralcontainers", (c) => {
    const { ns, name } = c.req.param();
    const pod = store.getPod(ns, name);
    if (!pod) {
      return status(
        failureStatus(404, `pods "${name}" not found`, { name, kind: "pods" }),
      );
    }
    return json(pod);
  });

  const updateEphemeral = async (c: import("hono").Context<Env>) => {
    const { ns, name } = c.req.param() as { ns: string; name: string };
    const pod = store.getPod(ns, name);
    if (!pod) {
      return status(
        failureStatus(404, `pods "${name}" not found`, { name, kind: "pods" }),
      );
    }
    let body: unknown;
    try {
      body = await c.req.json();
    } catch (err) {
      return status(
        failureStatus(400, `Cannot decode patch: ${(err as Error).message}`),
      );
    }
    const specs = mergeEphemeral(pod, body, c.req.header("content-type") ?? "");
    const bad = specs.find((s) =>
      pod.spec.containers.some((x) => x.name === s.name)
    );
    if (bad) {
      return status(failureStatus(
        422,
        `Pod "${name}" is invalid: spec.ephemeralContainers[0].name: Duplicate value: "${bad.name}"`,
      ));
    }
    return json(runtime.setEphemeralContainers(ns, name, specs));
  };
  app.patch(
    "/api/v1/namespaces/:ns/pods/:name/ephemeralcontainers",
    updateEphemeral,
  );
  app.put(
    "/api/v1/namespaces/:ns/pods/:name/ephemeralcontainers",
    updateEphemeral,
  );

  app.get("/api/v1/namespaces/:ns/pods/:name/log", (c) => {
    const { ns, name } = c.req.param();
    const pod = store.getPod(ns, name);
    const found = resolveContainer(pod, name, c.req.query("container"));
    if ("error" in found) return status(found.error);
    const running = runtime.container(ns, name, found.container);
    if (!running) {
      return status(failureStatus(
        400,
        `container "${found.container}" in pod "${name}" is waiting to start: ContainerCreating`,
      ));
    }
    const tail = c.req.query("tailLines");
    const stream = running.log.stream({
      follow: c.req.query("follow") === "true",
      tailLines: tail === undefined ? undefined : Number(tail),
    });
    return new Response(stream, {
      headers: { "content-type": "text/plain", "transfer-encoding": "chunked" },
    });
  });

  for (const sub of ["exec", "attach", "portforward"]) {
    app.on(
      ["GET", "POST"],
      `/api/v1/namespaces/:ns/pods/:name/${sub}`,
      () => status(failureStatus(400, "Upgrade request required")),
    );
  }

  const node = () => ({
    kind: "Node",
    apiVersion: "v1",
    metadata: {
      name: ctx.nodeName,
      labels: { "kubernetes.io/hostname": ctx.nodeName },
      resourceVersion: "1",
    },
    status: {
      addresses: [{ type: "InternalIP", address: "127.0.0.1" }],
      conditions: [{ type: "Ready", status: "True" }],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
    },
  });
  const noNode = (name: string) =>
    status(failureStatus(404, `nodes "${name}" not found`, {
      name,
      kind: "nodes",
    }));
  app.get("/api/v1/nodes", () =>
    json({
      kind: "NodeList",
      apiVersion: "v1",
      metadata: { resourceVersion: String(store.resourceVersion) },
      items: [node()],
    }));
  app.get("/api/v1/nodes/:node", (c) => {
    const name = c.req.param("node");
    return name === ctx.nodeName ? json(node()) : noNode(name);
  });

  /** The execution fields every route shares. */
  const origin = (c: import("hono").Context<Env>) => {
    const { rawTarget, decodedPath } = ctx.requestTarget(c.env.incoming);
    const headers = rawHeaderPairs(c.env.incoming);
    return { rawTarget, decodedPath, ...impersonationOf(headers), headers };
  };

  // The kubelet's API through the API server (`nodes/NODE/proxy/…`).
  app.all("/api/v1/nodes/:node/proxy/*", async (c) => {
    const { rawTarget } = ctx.requestTarget(c.env.incoming);
    const route = matchRoute(goTarget(rawTarget));
    if (!route || !("node" in route) || route.node === undefined) {
      const id = c.req.param("node").split(":");
      const name = id.length === 3 ? id[1]! : id[0]!;
      if (name !== ctx.nodeName) return noNode(name);
      return c.text("404 page not found\n", 404);
    }
    if (route.node !== ctx.nodeName) return noNode(route.node);
    if (route.via !== "nodes/proxy/run") {
      return c.text("Upgrade request required\n", 400);
    }
    if (c.req.method !== "POST") return c.text("405: Method Not Allowed", 405);
    const pod = store.getPod(route.namespace, route.pod);
    if (!pod) return c.text("pod does not exist", 404);
    if (!runtime.container(route.namespace, route.pod, route.container)) {
      return c.text(
        `container "${route.container}" not found in pod "${route.pod}"`,
        500,
      );
    }
    ctx.executions.add({
      via: route.via,
      namespace: route.namespace,
      pod: route.pod,
      container: route.container,
      command: route.command,
      tty: false,
      stdin: false,
      ...origin(c),
    });
    // The kubelet's RunInContainer: CRI ExecSync, stdout then stderr.
    const proc = spawnContainerProcess({
      argv: route.command,
      cwd: runtime.podDir(route.namespace, route.pod),
      env: { HOSTNAME: route.pod },
      tty: false,
      stdin: false,
    });
    const collect = (r: Readable | null) => {
      const parts: Uint8Array[] = [];
      r?.on("data", (d: Uint8Array) => parts.push(d));
      return () => Buffer.concat(parts);
    };
    const out = collect(proc.stdout);
    const err = collect(proc.stderr);
    const code = await proc.exited;
    const body = Buffer.concat([out(), err()]);
    if (code !== 0) {
      return c.text(
        `command '${route.command.join(" ")}' exited with ${code}: ${err()}`,
        500,
      );
    }
    return new Response(body, { headers: { ...JSON_HEADERS } });
  });

  // What a pod serves, directly or through a service.
  const proxied = (c: import("hono").Context<Env>) => {
    const { rawTarget } = ctx.requestTarget(c.env.incoming);
    const route = matchRoute(goTarget(rawTarget));
    if (!route || !("path" in route)) {
      return status(
        failureStatus(404, "the server could not find the requested resource"),
      );
    }
    if (
      route.via === "pods/proxy" && !store.getPod(route.namespace, route.name)
    ) {
      return status(
        failureStatus(404, `pods "${route.name}" not found`, {
          name: route.name,
          kind: "pods",
        }),
      );
    }
    ctx.executions.add({
      via: route.via,
      namespace: route.namespace,
      pod: route.name,
      container: "",
      command: [],
      tty: false,
      stdin: false,
      proxyPath: route.path,
      ...origin(c),
    });
    return c.text(proxyBody(route, c.req.method));
  };
  for (const kind of ["pods", "services"]) {
    app.all(`/api/v1/namespaces/:ns/${kind}/:name/proxy`, proxied);
    app.all(`/api/v1/namespaces/:ns/${kind}/:name/proxy/*`, proxied);
  }

  app.notFound(() =>
    status(
      failureStatus(404, "the server could not find the requested resource"),
    )
  );
  app.onError((err) =>
    status(failureStatus(500, `Internal error: ${err.message}`))
  );
  return app;
}
