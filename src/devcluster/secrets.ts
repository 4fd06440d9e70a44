/**
 * Secrets in the simulated cluster: just enough for `kubectl create secret`
 * and `kubectl get secret` (create, get, list, delete), kept in memory as
 * the client sent them, `stringData` folded into `data` as the API server
 * does.
 *
 * @module
 */

import type { Hono } from "hono";
import type { Env } from "hono";

/** The discovery entry of `secrets`. */
export const SECRETS_RESOURCE = {
  name: "secrets",
  singularName: "secret",
  namespaced: true,
  kind: "Secret",
  verbs: ["create", "delete", "get", "list"],
};

function statusOf(code: number, reason: string, message: string): Response {
  return new Response(
    JSON.stringify({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message,
      reason,
      code,
    }),
    { status: code, headers: { "content-type": "application/json" } },
  );
}

/**
 * Adds the secrets routes to the cluster's app.
 * @param app The app.
 */
export function addSecretRoutes<E extends Env>(app: Hono<E>): void {
  const secrets = new Map<string, Record<string, unknown>>();
  const key = (ns: string, name: string) => `${ns}/${name}`;
  app.post("/api/v1/namespaces/:ns/secrets", async (c) => {
    const ns = c.req.param("ns");
    let s: Record<string, unknown>;
    try {
      s = await c.req.json();
    } catch {
      return statusOf(400, "BadRequest", "the body is not JSON");
    }
    const meta = (s.metadata ?? {}) as Record<string, unknown>;
    const name = String(meta.name ?? "");
    if (!name) return statusOf(422, "Invalid", "metadata.name is required");
    if (secrets.has(key(ns, name))) {
      return statusOf(409, "AlreadyExists", `secrets "${name}" already exists`);
    }
    const data = { ...(s.data as Record<string, string> ?? {}) };
    for (const [k, v] of Object.entries(s.stringData ?? {})) {
      data[k] = btoa(String(v));
    }
    const stored = {
      ...s,
      kind: "Secret",
      apiVersion: "v1",
      metadata: { ...meta, name, namespace: ns, uid: crypto.randomUUID() },
      data,
    };
    delete (stored as Record<string, unknown>).stringData;
    secrets.set(key(ns, name), stored);
    return new Response(JSON.stringify(stored), {
      status: 201,
      headers: { "content-type": "application/json" },
    });
  });
  app.get("/api/v1/namespaces/:ns/secrets/:name", (c) => {
    const s = secrets.get(key(c.req.param("ns"), c.req.param("name")));
    return s
      ? Response.json(s)
      : statusOf(404, "NotFound", `secrets "${c.req.param("name")}" not found`);
  });
  app.get("/api/v1/namespaces/:ns/secrets", (c) => {
    const ns = c.req.param("ns");
    return Response.json({
      kind: "SecretList",
      apiVersion: "v1",
      metadata: {},
      items: [...secrets.entries()].filter(([k]) => k.startsWith(`${ns}/`))
        .map(([, v]) => v),
    });
  });
  app.delete("/api/v1/namespaces/:ns/secrets/:name", (c) => {
    const k = key(c.req.param("ns"), c.req.param("name"));
    const s = secrets.get(k);
    if (!s) {
      return statusOf(
        404,
        "NotFound",
        `secrets "${c.req.param("name")}" not found`,
      );
    }
    secrets.delete(k);
    return Response.json(s);
  });
}
