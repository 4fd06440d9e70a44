import assert from "node:assert/strict";
import {
  KUBECTL,
  KUBECTL_129,
  processBackend,
  runKubectl,
  startFakeApiServer,
} from "../k8s/spdy/_kubectl_harness.ts";
import { spawn } from "node:child_process";
import {
  type ExecBackend,
  type ExecOptions,
  execProcessFromNode,
  negotiateProtocol,
  parseExecRequest,
  serveSpdyExec,
} from "./spdy_server.ts";

const EXEC_ARGS = (...cmd: string[]) => [
  "exec",
  "-n",
  "default",
  "pod1",
  "-c",
  "main",
  "--",
  ...cmd,
];

/** A backend of node:child_process processes, through execProcessFromNode. */
const nodeBackend: ExecBackend = {
  start(o) {
    const child = spawn(o.argv[0]!, o.argv.slice(1), {
      stdio: [o.stdin ? "pipe" : "ignore", "pipe", "pipe"],
    });
    const exited = new Promise<number>((r) =>
      child.on("close", (code) => r(code ?? 1))
    );
    return execProcessFromNode({
      stdin: child.stdin,
      stdout: child.stdout!,
      stderr: child.stderr!,
      resize() {},
      exited,
      kill: () => child.kill(),
    });
  },
};

async function withServer(
  minor: string,
  fn: (port: number, caPem: string, started: ExecOptions[]) => Promise<void>,
  backend?: ExecBackend,
) {
  let upgrades: string[] = [];
  const started: ExecOptions[] = [];
  const sessions: Promise<void>[] = [];
  const server = await startFakeApiServer(minor, (req, socket, head) => {
    sessions.push(
      serveSpdyExec({
        socket,
        head,
        request: { url: req.url ?? "", headers: req.headers },
        backend: backend ?? processBackend((o) => started.push(o)),
      }),
    );
  });
  upgrades = server.upgrades;
  try {
    await fn(server.port, server.caPem, started);
    await Promise.all(sessions);
    // SPDY only: a WebSocket attempt would be a GET
    assert.ok(
      upgrades.length > 0 && upgrades.every((u) => u.startsWith("POST ")),
      String(upgrades),
    );
  } finally {
    await server.close();
  }
}

for (
  const [name, bin, minor, env] of [
    ["kubectl 1.29", KUBECTL_129, "29", {}],
    ["kubectl 1.31 (SPDY forced)", KUBECTL, "31", {
      KUBECTL_REMOTE_COMMAND_WEBSOCKETS: "false",
    }],
  ] as const
) {
  Deno.test(`serveSpdyExec runs a command for ${name}: stdout, stderr, exit 3`, async () => {
    await withServer(minor, async (port, caPem, started) => {
      const r = await runKubectl(
        bin,
        port,
        caPem,
        EXEC_ARGS("sh", "-c", "echo out; echo err >&2; exit 3"),
        { env },
      );
      assert.equal(new TextDecoder().decode(r.stdout), "out\n", r.stderr);
      assert.match(r.stderr, /^err$/m);
      assert.match(r.stderr, /command terminated with exit code 3/);
      assert.equal(r.code, 3);
      assert.deepEqual(started[0]?.argv, [
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
      ]);
      assert.equal(started[0]?.stdin, false);
    });
  });

  Deno.test(`serveSpdyExec pipes 1 MiB of stdin through cat byte-exact for ${name}`, async () => {
    const input = new Uint8Array(1024 * 1024);
    for (let i = 0; i < input.length; i++) {
      input[i] = (i * 7919 + (i >> 11)) & 0xff;
    }
    await withServer(minor, async (port, caPem) => {
      const r = await runKubectl(bin, port, caPem, [
        "exec",
        "-i",
        ...EXEC_ARGS("cat").slice(1),
      ], {
        env,
        stdin: input,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.length, input.length);
      assert.deepEqual(r.stdout, input);
    });
  });
}

Deno.test("serveSpdyExec answers 403 when no offered protocol is served", async () => {
  const written: Uint8Array[] = [];
  let ended = false;
  await serveSpdyExec({
    socket: {
      write: (c) => (written.push(c), true),
      end: () => (ended = true),
      destroy: () => {},
      pause: () => {},
      resume: () => {},
      on: () => {},
    },
    request: {
      url: "/api/v1/namespaces/ns/pods/p/exec?command=ls&stdout=true",
      headers: {
        "x-stream-protocol-version": "v3.channel.k8s.io, channel.k8s.io",
      },
    },
    backend: { start: () => assert.fail("must not start") },
  });
  const text = new TextDecoder().decode(written[0]);
  assert.match(text, /^HTTP\/1.1 403 Forbidden\r\n/);
  assert.match(text, /"reason":"Forbidden"/);
  assert.ok(ended);
});

Deno.test("negotiateProtocol picks the client's first served offer", () => {
  assert.equal(
    negotiateProtocol("v5.channel.k8s.io, v4.channel.k8s.io"),
    "v5.channel.k8s.io",
  );
  assert.equal(
    negotiateProtocol(["v4.channel.k8s.io", "v5.channel.k8s.io"]),
    "v4.channel.k8s.io",
  );
  assert.equal(negotiateProtocol("v3.channel.k8s.io"), undefined);
  assert.equal(negotiateProtocol(undefined), undefined);
});

Deno.test("parseExecRequest reads the path and the flags", () => {
  const o = parseExecRequest(
    "/api/v1/namespaces/ns/pods/p/exec?command=sh&command=-c&command=ls&container=main&stdin=true&stdout=true&tty=true&stderr=true",
  );
  assert.deepEqual(o, {
    namespace: "ns",
    pod: "p",
    container: "main",
    argv: ["sh", "-c", "ls"],
    stdin: true,
    stdout: true,
    stderr: false,
    tty: true,
  });
  assert.throws(
    () => parseExecRequest("/api/v1/namespaces/ns/pods/p/exec?stdout=true"),
    SyntaxError,
  );
  assert.throws(() => parseExecRequest("/api/v1/pods"), /not a pod exec/);
});

Deno.test("parseExecRequest reads the target as kube-apiserver and the kubelet do", () => {
  const base = {
    namespace: "default",
    pod: "demo",
    container: "",
    argv: ["echo", "b"],
    stdin: false,
    stdout: true,
    stderr: false,
    tty: false,
  };
  const cases: [string, Partial<typeof base>][] = [
    [
      "/api/v1/namespaces/default/pods/demo/%65xec?command=echo&command=b&stdout=1",
      {},
    ],
    [
      "/%61pi/v1/namespaces/default/pods/demo%2Fexec%2F?command=echo&command=b&stdout=yes",
      {},
    ],
    [
      "/api/v1/namespaces/default/pods/demo/exec?command=echo%20a;&command=echo&command=b&stdout=&tty=False",
      {},
    ],
    [
      "/api/v1/namespaces/default/pods/demo/exec?command=echo+b&stdout=x&tty=yes&stderr=1",
      { argv: ["echo b"], tty: true },
    ],
    [
      "/api/v1/namespaces/default/pods/demo/exec?command=echo&command=b&stdout=0&stdin=FALSE&container=c&container=d",
      { stdout: false, container: "c" },
    ],
    [
      "/api/v1/nodes/devcluster/proxy/exec/default/demo/main?command=echo&command=b&output=1&input=true&error=1",
      { container: "main", stderr: true },
    ],
    [
      "/api/v1/nodes/devcluster:10250/proxy/exec/default/demo/uid/main?command=echo&command=b&output=1&tty=1&error=1",
      { container: "main", tty: true },
    ],
  ];
  for (const [url, diff] of cases) {
    assert.deepEqual(parseExecRequest(url), { ...base, ...diff }, url);
  }
  assert.throws(
    () =>
      parseExecRequest(
        "/api/v1/namespaces/default/pods/demo/%zzexec?command=x",
      ),
    /not a valid escape/,
  );
});

Deno.test("serveSpdyExec with execProcessFromNode: exit 3 and 1 MiB through cat (kubectl 1.29)", async () => {
  const input = new Uint8Array(1024 * 1024);
  for (let i = 0; i < input.length; i++) {
    input[i] = (i * 131 + (i >> 13)) & 0xff;
  }
  await withServer("29", async (port, caPem) => {
    const a = await runKubectl(
      KUBECTL_129,
      port,
      caPem,
      EXEC_ARGS("sh", "-c", "echo out; echo err >&2; exit 3"),
    );
    assert.equal(new TextDecoder().decode(a.stdout), "out\n", a.stderr);
    assert.match(a.stderr, /^err$/m);
    assert.equal(a.code, 3);
    const b = await runKubectl(KUBECTL_129, port, caPem, [
      "exec",
      "-i",
      ...EXEC_ARGS("cat").slice(1),
    ], {
      stdin: input,
    });
    assert.equal(b.code, 0, b.stderr);
    assert.deepEqual(b.stdout, input);
  }, nodeBackend);
});
