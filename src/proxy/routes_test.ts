import assert from "node:assert/strict";
import { parseRequestTarget } from "./request_target.ts";
import {
  classifyRoute,
  execRequestOf,
  portForwardPorts,
  type RouteKind,
} from "./routes.ts";

const NS = "/api/v1/namespaces/ns";

const CASES: [string, RouteKind, Record<string, unknown>?][] = [
  [`${NS}/pods/p/exec`, "exec", { namespace: "ns", name: "p" }],
  [`${NS}/pods/p/exec/`, "exec"],
  [`${NS}/pods/p/%65xec`, "exec"],
  [`${NS}/pods/p%2Fexec`, "exec"],
  [`/%61pi/v1/namespaces/ns/pods/p/exec`, "exec"],
  [`${NS}/pods/p/attach`, "attach"],
  [`${NS}/pods/p/portforward`, "portforward"],
  [`${NS}/pods/p/exec/extra`, "proxy", {
    subresource: "exec",
    rest: ["extra"],
  }],
  [`${NS}/pods/p/EXEC`, "proxy"],
  [`${NS}/PODS/p/exec`, "proxy"],
  [`/api/v2/namespaces/ns/pods/p/exec`, "proxy"],
  [`/api/v1/pods/p/exec`, "proxy"],
  [`/apis/foo/v1/namespaces/ns/pods/p/exec`, "proxy", { group: "foo" }],
  [`/apis/foo/v1/namespaces/ns/pods/p/attach`, "proxy"],
  [`/apis/foo/v1/namespaces/ns/widgets/w/portforward`, "proxy"],
  [`/api/v1/nodes/n/proxy/exec/ns/p/c`, "proxy", {
    resource: "nodes",
    name: "n",
    subresource: "proxy",
    rest: ["exec", "ns", "p", "c"],
  }],
  [`/api/v1/nodes/n/proxy/attach/ns/p/c`, "proxy"],
  [`/api/v1/nodes/n/proxy/run/ns/p/c`, "proxy"],
  [`/api/v1/nodes/n/proxy`, "proxy"],
  [`${NS}/pods/p:8080/proxy/x`, "proxy", { name: "p:8080" }],
  [`${NS}/services/https:s:443/proxy/`, "proxy", { name: "https:s:443" }],
  [`/apis/g/v1/namespaces/ns/things/t/proxy/a/b`, "proxy"],
  [`/api/v1/proxy/namespaces/ns/pods/p/exec`, "proxy", { verbPrefix: "proxy" }],
  [`/api/v1/proxy/nodes/n/exec`, "proxy"],
  [`/api/v1/proxy`, "proxy"],
  [`/api/v1/watch/namespaces/ns/pods`, "other", {
    verbPrefix: "watch",
    namespace: "ns",
    resource: "pods",
  }],
  [`/api/v1/watch/namespaces/ns/pods/p/exec`, "proxy"],
  [`${NS}/pods`, "other", { resource: "pods" }],
  [`${NS}/pods/p`, "other", { name: "p" }],
  [`${NS}/pods/p/log`, "other", { subresource: "log" }],
  [`/api/v1/namespaces/ns`, "other", { resource: "namespaces", name: "ns" }],
  [`/api/v1/namespaces/ns/status`, "other", { subresource: "status" }],
  [`/api/v1/namespaces/ns/exec`, "other", { resource: "exec" }],
  [`/api`, "other"],
  [`/apis`, "other"],
  [`/api/v1`, "other"],
  [`/apis/apps/v1`, "other"],
  [`/version`, "other"],
  [`/`, "other"],
];

for (const [target, kind, fields] of CASES) {
  Deno.test(`classifyRoute: ${target} is ${kind}`, () => {
    const r = classifyRoute(parseRequestTarget(target).segments);
    assert.equal(r.kind, kind);
    for (const [k, v] of Object.entries(fields ?? {})) {
      assert.deepEqual((r as unknown as Record<string, unknown>)[k], v, k);
    }
  });
}

Deno.test("execRequestOf reads the options with Kubernetes' conversion rules", () => {
  const t = parseRequestTarget(
    `${NS}/pods/p/exec?command=echo%20innocent;&command=sh&command=-c&command=cat%20/etc/shadow&container=a&container=b&tty=yes&stdin=&stdout=FALSE&stderr=0`,
  );
  assert.deepEqual(execRequestOf(classifyRoute(t.segments), t), {
    sessionType: "exec",
    namespace: "ns",
    pod: "p",
    container: "a",
    command: ["sh", "-c", "cat /etc/shadow"],
    tty: true,
    stdin: true,
    stdout: false,
    stderr: false,
  });
  const a = parseRequestTarget(`${NS}/pods/p/attach?command=x&stdin=true`);
  const ar = execRequestOf(classifyRoute(a.segments), a);
  assert.deepEqual([ar.sessionType, ar.command, ar.stdin, ar.tty], [
    "attach",
    [],
    true,
    false,
  ]);
  assert.throws(
    () => execRequestOf(classifyRoute(["api"]), a),
    /Cannot read exec parameters: the route is "other"/,
  );
});

Deno.test("portForwardPorts reads every ports value", () => {
  const t = parseRequestTarget(`${NS}/pods/p/portforward?ports=80&ports=443`);
  assert.deepEqual(portForwardPorts(t), ["80", "443"]);
});
