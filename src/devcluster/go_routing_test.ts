import assert from "node:assert/strict";
import tls from "node:tls";
import { encodeWsFrame, WsFrameParser } from "../k8s/ws_frame.ts";
import { openExec } from "../testing/ws_exec_client.ts";
import { withCluster } from "./_test_fixture.ts";
import type { DevCluster } from "./server.ts";

const NS = "/api/v1/namespaces/default";
const text = (b: Uint8Array) => new TextDecoder().decode(b);

interface RawAnswer {
  status: number;
  headers: [string, string][];
  body: string;
}

/** Sends one request head exactly as given over TLS and reads the answer to its end. */
function rawRequest(
  cluster: DevCluster,
  method: string,
  target: string,
  extra: [string, string][] = [],
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: cluster.hostname,
      port: cluster.port,
      ca: cluster.caPem,
      ALPNProtocols: ["http/1.1"],
    });
    const chunks: Uint8Array[] = [];
    socket.on("data", (d: Uint8Array) => chunks.push(d));
    socket.on("error", reject);
    socket.on("close", () => {
      const all = new TextDecoder().decode(
        new Uint8Array(chunks.flatMap((c) => [...c])),
      );
      const end = all.indexOf("\r\n\r\n");
      const [statusLine, ...lines] = all.slice(0, end).split("\r\n");
      const headers = lines.map((l) => {
        const i = l.indexOf(":");
        return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()] as [
          string,
          string,
        ];
      });
      let body = all.slice(end + 4);
      if (
        headers.some(([k, v]) => k === "transfer-encoding" && v === "chunked")
      ) {
        let out = "";
        while (true) {
          const nl = body.indexOf("\r\n");
          const size = parseInt(body.slice(0, nl), 16);
          if (!size) break;
          out += body.slice(nl + 2, nl + 2 + size);
          body = body.slice(nl + 2 + size + 2);
        }
        body = out;
      }
      resolve({ status: Number(statusLine!.split(" ")[1]), headers, body });
    });
    let head = `${method} ${target} HTTP/1.1\r\nHost: ${cluster.hostname}\r\n` +
      `Authorization: Bearer ${cluster.token}\r\nConnection: close\r\n`;
    if (method === "POST") head += "Content-Length: 0\r\n";
    for (const [k, v] of extra) head += `${k}: ${v}\r\n`;
    socket.write(head + "\r\n");
  });
}

function exec(
  cluster: DevCluster,
  target: string,
  headers?: [string, string][],
) {
  return openExec({
    url: cluster.url,
    caPem: cluster.caPem,
    token: cluster.token,
    target,
    headers,
  });
}

Deno.test("devcluster runs pods/exec named by any spelling Go decodes to it", async () => {
  await withCluster(async ({ cluster }) => {
    const q = "?command=echo&command=hi&stdout=true";
    for (
      const target of [
        `${NS}/pods/demo/%65xec${q}`,
        `${NS}/pods/demo%2Fexec${q}`,
        `/%61pi/v1/namespaces/default/pods/demo/exec${q}`,
        `${NS}/pods/demo/exec%2F${q}`,
        `${NS}/pods/demo/exec/${q}`,
      ]
    ) {
      const s = await exec(cluster, target, [
        ["Impersonate-User", "alice"],
        ["Impersonate-Group", "g1"],
        ["Impersonate-Group", "g2"],
      ]);
      assert.equal(s.head.status, 101, target);
      const r = await s.done;
      assert.equal(text(r.stdout), "hi\n", target);
      const e = await cluster.waitForExecution((e) => e.rawTarget === target);
      assert.equal(e.via, "pods/exec");
      assert.deepEqual(e.command, ["echo", "hi"]);
      assert.equal(e.decodedPath.replace(/\/$/, ""), `${NS}/pods/demo/exec`);
      assert.equal(e.container, "main");
      assert.equal(e.impersonateUser, "alice");
      assert.deepEqual(e.impersonateGroups, ["g1", "g2"]);
      assert.ok(
        e.headers.some(([k, v]) => k === "Impersonate-Group" && v === "g2"),
      );
    }
    assert.equal(cluster.executions().length, 5);
  });
});

Deno.test("devcluster accepts a SPDY exec on an encoded path and logs it", async () => {
  await withCluster(async ({ cluster }) => {
    const target =
      `${NS}/pods/demo%2F%65xec?command=echo&command=spdy&stdout=True`;
    const socket = tls.connect({
      host: cluster.hostname,
      port: cluster.port,
      ca: cluster.caPem,
      ALPNProtocols: ["http/1.1"],
    });
    const head = new Promise<string>((resolve, reject) => {
      let got = "";
      socket.on("data", (d: Uint8Array) => {
        got += new TextDecoder().decode(d);
        if (got.includes("\r\n\r\n")) resolve(got);
      });
      socket.on("error", reject);
    });
    socket.write(
      `POST ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${cluster.token}\r\n` +
        "Content-Length: 0\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n" +
        "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n",
    );
    assert.match(await head, /^HTTP\/1.1 101 /);
    const e = await cluster.waitForExecution((e) => e.rawTarget === target);
    assert.equal(e.via, "pods/exec");
    assert.deepEqual(e.command, ["echo", "spdy"]);
    const closed = new Promise((r) => socket.on("close", r));
    socket.destroy();
    await closed;
  });
});

Deno.test("devcluster reads exec queries with ParseQuery and Kubernetes bools", async () => {
  await withCluster(async ({ cluster }) => {
    const semicolon =
      `${NS}/pods/demo/exec?command=echo%20a;&command=echo&command=b&stdout=yes`;
    const s = await exec(cluster, semicolon);
    assert.equal(text((await s.done).stdout), "b\n");
    const e = await cluster.waitForExecution((e) => e.rawTarget === semicolon);
    assert.deepEqual(e.command, ["echo", "b"]);

    const tty =
      `${NS}/pods/demo/exec?command=sh&command=-c&command=test+-t+1+%26%26+echo+isatty&stdout=1&tty=yes`;
    const t = await exec(cluster, tty);
    t.resize(80, 24);
    const r = await t.done;
    assert.match(text(r.stdout), /isatty\r\n/);
    assert.equal(
      (await cluster.waitForExecution((e) => e.rawTarget === tty)).tty,
      true,
    );

    const notTty =
      `${NS}/pods/demo/exec?command=sh&command=-c&command=test+-t+1+||+echo+notty&stdout=1&tty=FALSE&tty=true`;
    const n = await exec(cluster, notTty);
    assert.equal(text((await n.done).stdout), "notty\n");
  });
});

Deno.test("devcluster runs the kubelet's exec through nodes/NODE/proxy with kubelet query names", async () => {
  await withCluster(async ({ cluster }) => {
    const target =
      "/api/v1/nodes/devcluster/proxy/exec/default/demo/main?command=echo&command=x&output=1";
    const s = await exec(cluster, target);
    assert.equal(s.head.status, 101);
    assert.equal(text((await s.done).stdout), "x\n");
    const e = await cluster.waitForExecution((e) => e.rawTarget === target);
    assert.equal(e.via, "nodes/proxy/exec");
    assert.deepEqual([e.namespace, e.pod, e.container], [
      "default",
      "demo",
      "main",
    ]);
    assert.deepEqual(e.command, ["echo", "x"]);

    // The kubelet wants exactly "1": `output=true` asks for no stream.
    const none = await exec(
      cluster,
      "/api/v1/nodes/devcluster/proxy/exec/default/demo/main?command=echo&output=true",
    );
    assert.equal(none.head.status, 400);
    assert.match(none.body ?? "", /at least 1 of stdin, stdout, stderr/);
    const other = await exec(
      cluster,
      "/api/v1/nodes/elsewhere/proxy/exec/default/demo/main?command=echo&output=1",
    );
    assert.equal(other.head.status, 404);
    assert.equal(cluster.executions().length, 1);
  });
});

Deno.test("devcluster attaches through the kubelet's attach on nodes/NODE/proxy", async () => {
  await withCluster(async ({ cluster }) => {
    await cluster.waitForPod("default", "demo");
    const target =
      "/api/v1/nodes/devcluster/proxy/attach/default/demo/main?input=1&output=1";
    let out = "";
    const seen = Promise.withResolvers<void>();
    const s = await openExec({
      url: cluster.url,
      caPem: cluster.caPem,
      token: cluster.token,
      target,
      onStdout: (d) => {
        out += text(d);
        if (out.includes("attached-42")) seen.resolve();
      },
    });
    assert.equal(s.head.status, 101);
    // Only the shell's output, not the pty's echo of the line, says 42.
    s.stdin("echo attached-$((40+2))\n");
    await seen.promise;
    const e = await cluster.waitForExecution((e) => e.rawTarget === target);
    assert.equal(e.via, "nodes/proxy/attach");
    assert.equal(e.stdin, true);
    s.close();
    await s.done;
  });
});

Deno.test("devcluster answers the kubelet's run with the command's output", async () => {
  await withCluster(async ({ cluster }) => {
    const target =
      "/api/v1/nodes/devcluster/proxy/run/default/demo/main?cmd=echo%20hi";
    const r = await rawRequest(cluster, "POST", target);
    assert.equal(r.status, 200);
    assert.equal(r.body.trim(), "hi");
    const e = await cluster.waitForExecution((e) => e.rawTarget === target);
    assert.equal(e.via, "nodes/proxy/run");
    assert.deepEqual(e.command, ["echo", "hi"]);

    // Sent as an upgrade it is still an ordinary request upstream.
    const up = await rawRequest(cluster, "POST", target.replace("hi", "up"), [
      ["Upgrade", "websocket"],
      ["Connection", "Upgrade"],
    ]);
    assert.equal(up.status, 200);
    assert.equal(up.body.trim(), "up");
    assert.equal(cluster.executions().length, 2);

    const get = await rawRequest(cluster, "GET", target);
    assert.equal(get.status, 405);
    const nodes = await rawRequest(cluster, "GET", "/api/v1/nodes");
    assert.deepEqual(
      JSON.parse(nodes.body).items.map((n: { metadata: { name: string } }) =>
        n.metadata.name
      ),
      ["devcluster"],
    );
  });
});

Deno.test("devcluster routes ordinary requests on the decoded path too", async () => {
  await withCluster(async ({ cluster }) => {
    const pod = await rawRequest(cluster, "GET", `${NS}/pods/%64emo/`);
    assert.equal(pod.status, 200);
    assert.equal(JSON.parse(pod.body).metadata.name, "demo");
    const list = await rawRequest(
      cluster,
      "GET",
      `/%61pi/v1/namespaces/default/pods?labelSelector=app%3Dnope;&labelSelector=app%3Ddemo`,
    );
    assert.deepEqual(
      JSON.parse(list.body).items.map((p: { metadata: { name: string } }) =>
        p.metadata.name
      ),
      ["demo"],
    );
    const plain = await rawRequest(cluster, "POST", `${NS}/pods/demo%2Fexec`);
    assert.equal(plain.status, 400);
    assert.match(plain.body, /Upgrade request required/);
  });
});

Deno.test("devcluster answers a bad escape with Go's plain 400 and runs nothing", async () => {
  await withCluster(async ({ cluster }) => {
    const target = `${NS}/pods/demo/%zzexec?command=echo&command=hi&stdout=1`;
    const plain = await rawRequest(cluster, "GET", target);
    assert.equal(plain.status, 400);
    assert.equal(plain.body, "400 Bad Request");
    const s = await exec(cluster, target);
    assert.equal(s.head.status, 400);
    assert.equal(s.body, "400 Bad Request");
    const seen = cluster.requests().filter((r) => r.rawTarget === target);
    assert.deepEqual(seen.map((r) => r.upgrade), [false, true]);
    assert.equal(cluster.executions().length, 0);
  });
});

Deno.test("devcluster serves pods and services proxy paths, WebSocket echo included", async () => {
  await withCluster(async ({ cluster }) => {
    const pod = `${NS}/pods/demo:8080/proxy/healthz`;
    const r = await rawRequest(cluster, "GET", pod);
    assert.equal(r.status, 200);
    assert.equal(
      r.body,
      "devcluster pods/proxy default/demo port 8080 GET /healthz\n",
    );
    const svc = `${NS}/services/https:web:443/proxy/`;
    const v = await rawRequest(cluster, "POST", svc);
    assert.equal(
      v.body,
      "devcluster services/proxy default/web port 443 POST /\n",
    );
    const missing = await rawRequest(cluster, "GET", `${NS}/pods/nope/proxy/`);
    assert.equal(missing.status, 404);

    const ws = `${NS}/pods/demo/proxy/%73ocket`;
    const echoed = await wsEcho(cluster, ws, "ping");
    assert.equal(echoed, "ping");
    const vias = cluster.executions().map((e) => [e.via, e.pod, e.proxyPath]);
    assert.deepEqual(vias, [
      ["pods/proxy", "demo", "/healthz"],
      ["services/proxy", "web", "/"],
      ["pods/proxy", "demo", "/socket"],
    ]);
  });
});

/** Opens a WebSocket on `target`, sends one text message, returns the first one back. */
function wsEcho(
  cluster: DevCluster,
  target: string,
  message: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: cluster.hostname,
      port: cluster.port,
      ca: cluster.caPem,
      ALPNProtocols: ["http/1.1"],
    });
    socket.on("error", reject);
    socket.write(
      `GET ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${cluster.token}\r\n` +
        "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    );
    let head = new Uint8Array(0);
    let open = false;
    const frames = new WsFrameParser();
    socket.on("data", (d: Uint8Array) => {
      let rest = d;
      if (!open) {
        head = new Uint8Array([...head, ...d]);
        const end = text(head).indexOf("\r\n\r\n");
        if (end < 0) return;
        if (!text(head).startsWith("HTTP/1.1 101")) {
          socket.destroy();
          return reject(new Error(`No upgrade: ${text(head)}`));
        }
        open = true;
        // The head is ASCII: its text offset is its byte offset.
        rest = head.subarray(end + 4);
        socket.write(encodeWsFrame({
          opcode: 1,
          payload: new TextEncoder().encode(message),
          mask: new Uint8Array([1, 2, 3, 4]),
        }));
      }
      for (const f of frames.push(rest)) {
        if (f.opcode !== 1) continue;
        socket.end(encodeWsFrame({
          opcode: 8,
          payload: new Uint8Array([3, 232]),
          mask: new Uint8Array([1, 2, 3, 4]),
        }));
        resolve(text(f.payload));
      }
    });
  });
}
