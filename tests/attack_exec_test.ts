/**
 * The fail-closed invariant, attacked: raw TLS clients send every
 * path/method/Upgrade/subprotocol/query variant of an exec that we know of
 * through the proxy to the simulated cluster (which reads requests the way Go's
 * net/http and kube-apiserver do, and logs every command it actually started).
 *
 * The invariant checked after every variant, for the fail-closed identity:
 * for every command the cluster started, a recording exists whose argv,
 * container and TTY flag equal what the cluster parsed, and whose output holds
 * every stdout byte the client received. A variant the proxy refuses never
 * reaches the cluster at all.
 */
import assert from "node:assert/strict";
import type net from "node:net";
import tls from "node:tls";
import type { Execution } from "../src/devcluster/mod.ts";
import { openExec } from "../src/testing/ws_exec_client.ts";
import { type Stack, startStack, USERS } from "./_harness.ts";
import {
  parseCast,
  startTestRecorder,
  type TestRecorder,
  UPLOADER_TOKEN,
} from "./_recorder.ts";
import type { RecordingManifest } from "../src/recorder/mod.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const NS = "/api/v1/namespaces/default";

/** Sends raw bytes over TLS and returns everything until the server closes. */
function rawExchange(
  stack: Stack,
  bytes: string,
  opt: { closeAfterMs?: number } = {},
): Promise<string> {
  const u = new URL(stack.proxy.url);
  return new Promise((resolve, reject) => {
    const s: net.Socket = tls.connect({
      host: u.hostname,
      port: Number(u.port),
      ca: stack.proxyCaPem,
      ALPNProtocols: ["http/1.1"],
    });
    let out = "";
    s.on("data", (d: Uint8Array) => {
      out += new TextDecoder("latin1").decode(d);
      // A 101 stays open: a head is all these tests need.
      if (/^HTTP\/1\.[01] 101/.test(out) && out.includes("\r\n\r\n")) {
        s.destroy();
        resolve(out);
      }
    });
    s.on("error", (e) => (out ? resolve(out) : reject(e)));
    s.on("close", () => resolve(out));
    s.write(new TextEncoder().encode(bytes));
    if (opt.closeAfterMs) setTimeout(() => s.end(), opt.closeAfterMs);
  });
}

/** Waits until the proxy has logged `n` session ends (the recording is finished by then). */
async function sessionEnds(stack: Stack, n: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (
    stack.logs.filter((l) => l.msg === "session end").length < n
  ) {
    if (Date.now() > deadline) {
      throw new Error(`the proxy logged fewer than ${n} session ends`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Ctx {
  stack: Stack;
  rec: TestRecorder;
  seenRecordings: Set<string>;
  ends: number;
}

/** Recordings that appeared since the last call. */
async function newRecordings(ctx: Ctx): Promise<RecordingManifest[]> {
  const all = await ctx.rec.list("limit=1000");
  const fresh = all.filter((m) => !ctx.seenRecordings.has(m.id));
  for (const m of fresh) ctx.seenRecordings.add(m.id);
  return fresh;
}

/**
 * Checks the invariant for what happened since `before` executions:
 * each execution has its own recording with the same argv/container/tty
 * holding `clientStdout`.
 */
async function assertRecorded(
  ctx: Ctx,
  executions: readonly Execution[],
  clientStdout: Uint8Array,
): Promise<RecordingManifest[]> {
  const fresh = await newRecordings(ctx);
  for (const e of executions) {
    const match = fresh.find((m) =>
      JSON.stringify(m.header.argv) === JSON.stringify(e.command) &&
      m.header.kubernetes.container === e.container &&
      m.header.kubernetes.podName === e.pod &&
      m.header.tty === e.tty
    );
    assert.ok(
      match,
      `the cluster ran ${JSON.stringify(e.command)} (container ${
        JSON.stringify(e.container)
      }, tty ${e.tty}) via ${e.via} but no recording has it; recordings: ${
        JSON.stringify(fresh.map((m) => [m.header.argv, m.status]))
      }`,
    );
    const { cast } = await ctx.rec.read(match.id);
    const { output } = parseCast(cast);
    // A non-TTY cast turns "\n" into "\r\n" (the terminal's onlcr) so that it
    // replays as the client's terminal showed it.
    const sent = new TextDecoder().decode(clientStdout);
    const got = e.tty ? sent : sent.replaceAll("\n", "\r\n");
    assert.ok(
      output.includes(got),
      `the client received ${JSON.stringify(got)}, recorded ${
        JSON.stringify(output)
      }`,
    );
  }
  return fresh;
}

interface WsVariant {
  name: string;
  target: string;
  protocols?: string[];
  headers?: [string, string][];
  /** What the proxy must do. */
  expect: "refused" | "forwarded";
  /** For refused: the status code. */
  status?: number;
}

function mark(i: number): string {
  return `mark-${i}-${crypto.randomUUID().slice(0, 8)}`;
}

Deno.test(
  "attack: every exec variant from a fail-closed caller is recorded as executed, or never reaches the cluster",
  opts,
  async (t) => {
    const rec = await startTestRecorder();
    const stack = await startStack({
      recorderUrls: [rec.url],
      recorderToken: UPLOADER_TOKEN,
    });
    const ctx: Ctx = { stack, rec, seenRecordings: new Set(), ends: 0 };
    const exec = (m: string) =>
      `command=echo&command=${m}&container=main&stdout=true`;
    const variants: ((m: string) => WsVariant)[] = [
      (m) => ({
        name: "plain exec",
        target: `${NS}/pods/demo/exec?${exec(m)}`,
        expect: "forwarded",
      }),
      (m) => ({
        name: "%65xec",
        target: `${NS}/pods/demo/%65xec?${exec(m)}`,
        expect: "forwarded",
      }),
      (m) => ({
        name: "demo%2Fexec",
        target: `${NS}/pods/demo%2Fexec?${exec(m)}`,
        expect: "forwarded",
      }),
      (m) => ({
        name: "/%61pi/v1",
        target: `/%61pi/v1/namespaces/default/pods/demo/exec?${exec(m)}`,
        expect: "forwarded",
      }),
      (m) => ({
        name: "exec%2F",
        target: `${NS}/pods/demo/exec%2F?${exec(m)}`,
        expect: "forwarded",
      }),
      (m) => ({
        name: "trailing slash",
        target: `${NS}/pods/demo/exec/?${exec(m)}`,
        expect: "forwarded",
      }),
      (m) => ({
        name: "encoded namespace and pod",
        target: `/api/v1/namespaces/%64efault/pods/%64%65%6d%6f/exec?${
          exec(m)
        }`,
        expect: "forwarded",
      }),
      (m) => ({
        name: "; pair dropped by Go",
        target:
          `${NS}/pods/demo/exec?command=echo%20innocent;&command=echo&command=${m}&container=main&stdout=true`,
        expect: "forwarded",
      }),
      (m) => ({
        name: "bad escape pair dropped by Go",
        target:
          `${NS}/pods/demo/exec?command=echo&command=%zz&command=${m}&container=main&stdout=true`,
        expect: "forwarded",
      }),
      (m) => ({
        name: "+ is a space in a query",
        target:
          `${NS}/pods/demo/exec?command=sh&command=-c&command=echo+${m}&container=main&stdout=true`,
        expect: "forwarded",
      }),
      (m) => ({
        name: "duplicate container: the first wins",
        target:
          `${NS}/pods/demo/exec?command=echo&command=${m}&container=main&container=other&stdout=true`,
        expect: "forwarded",
      }),
      (m) => ({
        name: "stdout=yes is true",
        target:
          `${NS}/pods/demo/exec?command=echo&command=${m}&container=main&stdout=yes`,
        expect: "forwarded",
      }),
      (m) => ({
        name: "stdout= (empty) is true",
        target:
          `${NS}/pods/demo/exec?command=echo&command=${m}&container=main&stdout=`,
        expect: "forwarded",
      }),
      (m) => ({
        name: "tty=yes is a TTY",
        target:
          `${NS}/pods/demo/exec?command=echo&command=${m}&container=main&stdout=true&tty=yes`,
        expect: "forwarded",
      }),
      (m) => ({
        name: "offered v4.base64 and v5: only v5 goes upstream",
        target: `${NS}/pods/demo/exec?${exec(m)}`,
        protocols: ["v4.base64.channel.k8s.io", "v5.channel.k8s.io"],
        expect: "forwarded",
      }),
      (m) => ({
        name: "a bearer token in the subprotocol list is not offered upstream",
        target: `${NS}/pods/demo/exec?${exec(m)}`,
        protocols: [
          "base64url.bearer.authorization.k8s.io.Zm9v",
          "v4.channel.k8s.io",
        ],
        expect: "forwarded",
      }),
      (m) => ({
        name: "forged identity headers",
        target: `${NS}/pods/demo/exec?${exec(m)}`,
        headers: [
          ["Impersonate_User", "system:admin"],
          ["X-Remote-User", "system:admin"],
          ["X-Remote-Group", "system:masters"],
          ["impersonate-group", "evil"],
        ],
        expect: "forwarded",
      }),
      // Refused before anything reaches the cluster.
      (m) => ({
        name: "dot segment",
        target: `${NS}/pods/demo/./exec?${exec(m)}`,
        expect: "refused",
        status: 400,
      }),
      (m) => ({
        name: "dot-dot segment",
        target: `${NS}/pods/x/../demo/exec?${exec(m)}`,
        expect: "refused",
        status: 400,
      }),
      (m) => ({
        name: "encoded dot-dot",
        target: `${NS}/pods/x/%2e%2E/demo/exec?${exec(m)}`,
        expect: "refused",
        status: 400,
      }),
      (m) => ({
        name: "double slash",
        target: `/api/v1//namespaces/default/pods/demo/exec?${exec(m)}`,
        expect: "refused",
        status: 400,
      }),
      (m) => ({
        name: "bad path escape",
        target: `${NS}/pods/demo/ex%zzec?${exec(m)}`,
        expect: "refused",
        status: 400,
      }),
      (m) => ({
        name: "absolute-form target",
        target: `https://127.0.0.1${NS}/pods/demo/exec?${exec(m)}`,
        expect: "refused",
        status: 400,
      }),
      (m) => ({
        name: "only channel.k8s.io offered",
        target: `${NS}/pods/demo/exec?${exec(m)}`,
        protocols: ["channel.k8s.io"],
        expect: "refused",
        status: 400,
      }),
      (m) => ({
        name: "only base64.channel.k8s.io offered",
        target: `${NS}/pods/demo/exec?${exec(m)}`,
        protocols: ["base64.channel.k8s.io"],
        expect: "refused",
        status: 400,
      }),
      (m) => ({
        name: "only v4.base64.channel.k8s.io offered",
        target: `${NS}/pods/demo/exec?${exec(m)}`,
        protocols: ["v4.base64.channel.k8s.io"],
        expect: "refused",
        status: 400,
      }),
      (m) => ({
        name: "no subprotocol offered",
        target: `${NS}/pods/demo/exec?${exec(m)}`,
        protocols: [],
        expect: "refused",
        status: 400,
      }),
      (m) => ({
        name: "kubelet exec through nodes/proxy",
        target:
          `/api/v1/nodes/devcluster/proxy/exec/default/demo/main?command=echo&command=${m}&output=1`,
        expect: "refused",
        status: 403,
      }),
      (m) => ({
        name: "kubelet exec through nodes/proxy, encoded",
        target:
          `/api/v1/nodes/devcluster/%70roxy/exec/default/demo/main?command=echo&command=${m}&output=1`,
        expect: "refused",
        status: 403,
      }),
      (m) => ({
        name: "kubelet attach through nodes/proxy",
        target:
          `/api/v1/nodes/devcluster/proxy/attach/default/demo/main?output=1&m=${m}`,
        expect: "refused",
        status: 403,
      }),
      (m) => ({
        name: "pod proxy upgrade",
        target: `${NS}/pods/demo:8080/proxy/ws?m=${m}`,
        expect: "refused",
        status: 403,
      }),
      (m) => ({
        name: "service proxy upgrade",
        target: `${NS}/services/https:demo:443/proxy/?m=${m}`,
        expect: "refused",
        status: 403,
      }),
      (m) => ({
        name: "deprecated proxy verb",
        target: `/api/v1/proxy/namespaces/default/pods/demo/exec?${exec(m)}`,
        expect: "refused",
        status: 403,
      }),
      (m) => ({
        name: "exec with an extra segment",
        target: `${NS}/pods/demo/exec/more?${exec(m)}`,
        expect: "refused",
        status: 403,
      }),
      (m) => ({
        name: "a watch upgrade (not exec, attach or port-forward)",
        target: `${NS}/pods?watch=true&m=${m}`,
        expect: "refused",
        status: 403,
      }),
    ];
    try {
      for (const [i, make] of variants.entries()) {
        const m = mark(i);
        const v = make(m);
        await t.step(`${v.name}: ${v.expect}`, async () => {
          const execBefore = stack.cluster.executions().length;
          const reqBefore = stack.cluster.requests().length;
          const s = await openExec({
            url: stack.proxy.url,
            caPem: stack.proxyCaPem,
            token: USERS.alice,
            target: v.target,
            protocols: v.protocols,
            headers: v.headers,
          });
          if (v.expect === "refused") {
            assert.equal(s.head.status, v.status, s.body);
            const body = JSON.parse(s.body ?? "{}");
            assert.equal(body.kind, "Status");
            assert.ok(body.message.length > 10, body.message);
            assert.deepEqual(
              stack.cluster.requests().slice(reqBefore),
              [],
              "a refused request reached the cluster",
            );
            assert.equal(stack.cluster.executions().length, execBefore);
            return;
          }
          assert.equal(s.head.status, 101, s.body);
          const r = await s.done;
          await sessionEnds(stack, ++ctx.ends);
          const ran = stack.cluster.executions().slice(execBefore);
          assert.equal(ran.length, 1, JSON.stringify(ran));
          // What the cluster ran is what the marker says, with no forged identity.
          assert.ok(
            ran[0]!.command.join(" ").includes(m),
            ran[0]!.command.join(" "),
          );
          assert.ok(
            new TextDecoder().decode(r.stdout).includes(m),
            `stdout: ${new TextDecoder().decode(r.stdout)}`,
          );
          assert.equal(ran[0]!.impersonateUser, "alice@example.com");
          assert.deepEqual(ran[0]!.impersonateGroups, ["system:masters"]);
          for (const [k] of ran[0]!.headers) {
            const n = k.toLowerCase().replaceAll("_", "-");
            assert.ok(
              !n.startsWith("x-remote-") && n !== "proxy-authorization",
              `${k} reached the cluster`,
            );
          }
          const fresh = await assertRecorded(ctx, ran, r.stdout);
          assert.ok(fresh.every((f) => f.status === "complete"));
        });
      }

      await t.step(
        "an exec the cluster refuses (no such pod) is stored as refused, never complete",
        async () => {
          const m = mark(900);
          const s = await openExec({
            url: stack.proxy.url,
            caPem: stack.proxyCaPem,
            token: USERS.alice,
            target: `${NS}/pods/nosuchpod/exec?${exec(m)}`,
          });
          assert.equal(s.head.status, 404);
          await sessionEnds(stack, ++ctx.ends);
          const fresh = await newRecordings(ctx);
          assert.equal(fresh.length, 1);
          assert.equal(fresh[0]!.status, "refused");
          assert.equal(fresh[0]!.end?.upstream?.status, 404);
          assert.deepEqual(fresh[0]!.header.argv, ["echo", m]);
        },
      );

      await t.step(
        "mixed Upgrade header and non-upgrade exec are refused before upstream",
        async () => {
          const reqBefore = stack.cluster.requests().length;
          const key = btoa("0123456789abcdef");
          const mixed = await rawExchange(
            stack,
            `GET ${NS}/pods/demo/exec?command=echo&command=x&stdout=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${USERS.alice}\r\nConnection: Upgrade\r\nUpgrade: websocket, SPDY/3.1\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n`,
          );
          assert.match(mixed, /^HTTP\/1\.1 400/);
          const plain = await rawExchange(
            stack,
            `GET ${NS}/pods/demo/exec?command=echo&command=x&stdout=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${USERS.alice}\r\nConnection: close\r\n\r\n`,
          );
          assert.match(plain, /^HTTP\/1\.1 400/);
          const run = await rawExchange(
            stack,
            `POST /api/v1/nodes/devcluster/proxy/run/default/demo/main?cmd=echo%20x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${USERS.alice}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
          );
          assert.match(run, /^HTTP\/1\.1 403/);
          const podProxy = await rawExchange(
            stack,
            `GET ${NS}/pods/demo/proxy/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${USERS.alice}\r\nConnection: close\r\n\r\n`,
          );
          assert.match(podProxy, /^HTTP\/1\.1 403/);
          assert.deepEqual(stack.cluster.requests().slice(reqBefore), []);
        },
      );

      await t.step(
        "SPDY upgrades are routed on the decoded path too: an encoded exec is recorded",
        async () => {
          const reqBefore = stack.cluster.requests().length;
          const m = mark(901);
          const head = await rawExchange(
            stack,
            `POST ${NS}/pods/demo/%65xec?command=echo&command=${m}&container=main&stdout=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${USERS.alice}\r\nContent-Length: 0\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\nX-Stream-Protocol-Version: channel.k8s.io\r\nImpersonate_User: system:admin\r\n\r\n`,
          );
          assert.match(head, /^HTTP\/1\.1 101/);
          const got = stack.cluster.requests().slice(reqBefore);
          assert.equal(got.length, 1);
          assert.equal(
            got[0]!.rawTarget.split("?")[0],
            `${NS}/pods/demo/exec`,
            "upstream gets the canonical target",
          );
          const versions = got[0]!.headers.filter(([k]) =>
            k.toLowerCase() === "x-stream-protocol-version"
          ).map(([, v]) => v);
          assert.deepEqual(versions, ["v4.channel.k8s.io"]);
          assert.ok(
            !got[0]!.headers.some(([k]) =>
              /impersonate.user/i.test(k) && k !== "Impersonate-User"
            ),
          );
          await sessionEnds(stack, ++ctx.ends);
          const fresh = await newRecordings(ctx);
          assert.equal(fresh.length, 1);
          assert.deepEqual(fresh[0]!.header.argv, ["echo", m]);
        },
      );

      await t.step(
        "pipelined requests, HTTP/1.0 and obs-fold keep the invariant",
        async () => {
          const execBefore = stack.cluster.executions().length;
          const endsBefore = stack.logs.filter((l) =>
            l.msg === "session end"
          ).length;
          const key = btoa("0123456789abcdef");
          const upgradeHead = (target: string, version = "1.1", extra = "") =>
            `GET ${target} HTTP/${version}\r\nHost: x\r\nAuthorization: Bearer ${USERS.alice}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n${extra}\r\n`;
          const m1 = mark(903), m2 = mark(904), m3 = mark(905), m4 = mark(906);
          // An ordinary request, then an exec on the same connection.
          await rawExchange(
            stack,
            `GET ${NS}/pods/demo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${USERS.alice}\r\n\r\n` +
              upgradeHead(`${NS}/pods/demo/%65xec?${exec(m1)}`),
          );
          // Two exec requests back to back: the second rides in the first's
          // upgraded stream (garbage to the channel protocol), never as a
          // request of its own.
          await rawExchange(
            stack,
            upgradeHead(`${NS}/pods/demo/exec?${exec(m2)}`) +
              upgradeHead(`${NS}/pods/demo/exec?${exec(m3)}`),
          );
          // HTTP/1.0 and an obs-folded forged identity header.
          await rawExchange(
            stack,
            upgradeHead(
              `${NS}/pods/demo/exec?${exec(m4)}`,
              "1.0",
              "X-Remote-User: a\r\n  system:admin\r\n",
            ),
          );
          const ran = stack.cluster.executions().slice(execBefore);
          for (const e of ran) {
            assert.equal(e.impersonateUser, "alice@example.com");
            assert.ok(!e.headers.some(([k]) => /^x.remote/i.test(k)));
          }
          // Every session the proxy started has ended before we look.
          const started = stack.logs.filter((l) =>
            l.msg === "session start"
          ).length;
          await sessionEnds(stack, started);
          ctx.ends = started;
          assert.ok(
            stack.logs.filter((l) => l.msg === "session end").length >=
              endsBefore,
          );
          await assertRecorded(ctx, ran, new Uint8Array());
          assert.ok(
            !ran.some((e) => e.command.includes(m3)),
            "a pipelined second exec ran",
          );
        },
      );

      await t.step(
        "a fail-open caller's encoded exec is recorded too",
        async () => {
          const m = mark(902);
          const execBefore = stack.cluster.executions().length;
          const s = await openExec({
            url: stack.proxy.url,
            caPem: stack.proxyCaPem,
            token: USERS.dave,
            target: `${NS}/pods/demo%2F%65xec?${exec(m)}`,
          });
          assert.equal(s.head.status, 101);
          const r = await s.done;
          await sessionEnds(stack, ++ctx.ends);
          await assertRecorded(
            ctx,
            stack.cluster.executions().slice(execBefore),
            r.stdout,
          );
        },
      );
    } finally {
      await stack.close();
      await rec.close();
    }
  },
);
