import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { memoryLogger } from "../log.ts";
import { serveProxy } from "./node_server.ts";
import { createProxy, type SessionContext } from "./proxy.ts";
import type { Decision } from "../policy/decision.ts";
import { goBool, goTarget, goValues } from "../devcluster/go_request.ts";
import type { RelayTap } from "../recording/relay_tap.ts";
import { upstreamConnector, upstreamRequester } from "./upstream_connect.ts";

const FORBIDDEN_BODY =
  '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \\"demo\\" is forbidden: User \\"bob\\" cannot create resource \\"pods/exec\\"","reason":"Forbidden","code":403}';

/** An upstream that records the raw headers of every request it gets. */
async function spyUpstream() {
  const seen: { method: string; url: string; headers: [string, string][] }[] =
    [];
  const pairs = (raw: string[]) => {
    const out: [string, string][] = [];
    for (let i = 0; i < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
    return out;
  };
  const server = http.createServer((req, res) => {
    seen.push({
      method: req.method!,
      url: req.url!,
      headers: pairs(req.rawHeaders),
    });
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"kind":"PodList"}');
  });
  server.on("upgrade", (req, socket) => {
    seen.push({
      method: req.method!,
      url: req.url!,
      headers: pairs(req.rawHeaders),
    });
    socket.end(
      `HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nX-Upstream: yes\r\nContent-Length: ${FORBIDDEN_BODY.length}\r\n\r\n${FORBIDDEN_BODY}`,
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    seen,
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

async function setup() {
  const up = await spyUpstream();
  const proxy = createProxy({
    upstreamUrl: up.url,
    upstreamToken: "proxy-sa-token",
    authorize: () =>
      Promise.resolve({
        identity: {
          hostname: "bob-laptop",
          nodeId: "n",
          loginName: "bob",
          groups: [],
        },
        decision: {
          admitted: true,
          user: "bob",
          groups: ["viewers", "oncall"],
          recorders: [],
          enforceRecorder: false,
          allowProxySubresources: false,
          matched: [],
        },
      }),
    upstreamRequest: upstreamRequester({ server: up.url }),
    connectUpstream: upstreamConnector({ server: up.url }),
    logger: memoryLogger(),
  });
  const served = await serveProxy(proxy, { host: "127.0.0.1", port: 0 });
  return {
    up,
    served,
    async close() {
      await served.close();
      await up.close();
    },
  };
}

/** Sends raw bytes (in pieces) and returns everything the proxy answers. */
function rawExchange(port: number, pieces: Uint8Array[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port }, async () => {
      for (const p of pieces) {
        await new Promise<void>((r) => s.write(p, () => r()));
      }
    });
    let out = "";
    s.on("data", (d) => (out += d.toString("latin1")));
    s.on("end", () => resolve(out));
    s.on("error", reject);
  });
}

const FORGED: [string, string][] = [
  ["Authorization", "Bearer stolen"],
  ["Impersonate-User", "system:admin"],
  ["Impersonate-Group", "system:masters"],
  ["impersonate-group", "system:nodes"],
  ["Impersonate-Uid", "0"],
  ["Impersonate-Extra-Scopes", "everything"],
];

function upgradeRequest(): string {
  let s =
    "GET /api/v1/namespaces/default/pods/demo/exec?command=sh&stdout=true HTTP/1.1\r\nHost: proxy\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\nSec-WebSocket-Extensions: permessage-deflate\r\n";
  for (const [k, v] of FORGED) s += `${k}: ${v}\r\n`;
  return s + "\r\n";
}

const EXPECTED_UPGRADE_HEADERS: [string, string][] = [
  ["Host", "127.0.0.1:PORT"],
  ["Connection", "Upgrade"],
  ["Upgrade", "websocket"],
  ["Sec-WebSocket-Version", "13"],
  ["Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="],
  ["Sec-WebSocket-Protocol", "v5.channel.k8s.io"],
  ["Authorization", "Bearer proxy-sa-token"],
  ["Impersonate-User", "bob"],
  ["Impersonate-Group", "viewers"],
  ["Impersonate-Group", "oncall"],
];

Deno.test("proxy sends only its own credentials and the caller's impersonation upstream on upgrades", async () => {
  const t = await setup();
  try {
    const enc = new TextEncoder();
    const req = enc.encode(upgradeRequest());
    const port = new URL(t.up.url).port;
    const expected = EXPECTED_UPGRADE_HEADERS.map(([k, v]) =>
      [k, v.replace("PORT", port)] as [string, string]
    );
    // The client's request head split at every position.
    for (let i = 1; i < req.length; i += 7) {
      const answer = await rawExchange(t.served.port, [
        req.subarray(0, i),
        req.subarray(i),
      ]);
      // The upstream's non-101 answer reaches the client unchanged.
      assert.equal(
        answer,
        `HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nX-Upstream: yes\r\nContent-Length: ${FORBIDDEN_BODY.length}\r\n\r\n${FORBIDDEN_BODY}`,
      );
      const got = t.up.seen.at(-1)!;
      assert.equal(
        got.url,
        "/api/v1/namespaces/default/pods/demo/exec?command=sh&stdout=true",
      );
      assert.deepEqual(got.headers, expected, `split at ${i}`);
    }
  } finally {
    await t.close();
  }
});

Deno.test("proxy sends only its own credentials and the caller's impersonation upstream on ordinary requests", async () => {
  const t = await setup();
  try {
    const res = await fetch(`${t.served.url}/api/v1/namespaces/default/pods`, {
      headers: Object.fromEntries(
        FORGED.filter(([k]) => k !== "impersonate-group"),
      ),
    });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '{"kind":"PodList"}');
    const got = t.up.seen.at(-1)!;
    const names = got.headers.map(([k]) => k.toLowerCase());
    assert.ok(!names.includes("impersonate-uid"));
    assert.ok(!names.some((n) => n.startsWith("impersonate-extra")));
    // One header line per group: a comma-joined line would be read by the
    // API server as a single group named "viewers, oncall".
    assert.deepEqual(
      got.headers.filter(([k]) => /^(authorization|impersonate-)/i.test(k)),
      [
        ["Authorization", "Bearer proxy-sa-token"],
        ["Impersonate-User", "bob"],
        ["Impersonate-Group", "viewers"],
        ["Impersonate-Group", "oncall"],
      ],
    );
  } finally {
    await t.close();
  }
});

// ---------------------------------------------------------------------------
// Canonical parsing, routing, the upgrade allowlist and identity headers,
// through the real served proxy with a spy upstream and raw TCP clients.

type Seen = { method: string; url: string; headers: [string, string][] };

/** A spy upstream: records every request head; upgrades get 101 or a 403. */
async function spy(answer: "101" | "403") {
  const seen: Seen[] = [];
  const pairs = (raw: string[]) => {
    const out: [string, string][] = [];
    for (let i = 0; i < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
    return out;
  };
  const server = http.createServer((req, res) => {
    seen.push({
      method: req.method!,
      url: req.url!,
      headers: pairs(req.rawHeaders),
    });
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"kind":"PodList"}');
  });
  server.on("upgrade", (req, socket) => {
    seen.push({
      method: req.method!,
      url: req.url!,
      headers: pairs(req.rawHeaders),
    });
    if (answer === "403") {
      socket.end(
        `HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${FORBIDDEN_BODY.length}\r\n\r\n${FORBIDDEN_BODY}`,
      );
      return;
    }
    const proto = req.headers["sec-websocket-protocol"];
    socket.end(
      `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${req.headers.upgrade}\r\n${
        proto
          ? `Sec-WebSocket-Protocol: ${String(proto).split(",")[0]!.trim()}\r\n`
          : ""
      }\r\n`,
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    seen,
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function decisionOf(d: Partial<Decision>): Decision {
  return {
    admitted: true,
    user: "bob",
    groups: ["viewers"],
    recorders: [],
    enforceRecorder: false,
    allowProxySubresources: false,
    matched: [],
    ...d,
  };
}

const RECORDED = decisionOf({ recorders: ["tag:rec"], enforceRecorder: true });
const UNRECORDED = decisionOf({});

async function stack(decision: Decision, answer: "101" | "403" = "101") {
  const up = await spy(answer);
  const sessions: SessionContext[] = [];
  const ends: unknown[][] = [];
  const logger = memoryLogger();
  const proxy = createProxy({
    upstreamUrl: up.url,
    upstreamToken: "proxy-sa-token",
    authorize: () =>
      Promise.resolve({
        identity: {
          hostname: "bob-laptop",
          nodeId: "n",
          loginName: "bob",
          groups: [],
        },
        decision,
      }),
    upstreamRequest: upstreamRequester({ server: up.url }),
    connectUpstream: upstreamConnector({ server: up.url }),
    openTap: (ctx) => {
      sessions.push(ctx);
      if (ctx.decision.recorders.length === 0) {
        return Promise.resolve(undefined);
      }
      const tap: RelayTap = {
        upgraded: () => {},
        clientObserver: () => new TransformStream(),
        upstreamGate: () => new TransformStream(),
        end: (...args) => {
          ends.push(args);
          return Promise.resolve();
        },
      };
      return Promise.resolve(tap);
    },
    logger,
  });
  const served = await serveProxy(proxy, { host: "127.0.0.1", port: 0 });
  return {
    up,
    sessions,
    ends,
    logger,
    port: served.port,
    async close() {
      await served.close();
      await up.close();
    },
  };
}

/** Sends exact bytes over a raw TCP connection and reads the answer to EOF. */
async function send(port: number, bytes: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const data = new TextEncoder().encode(bytes);
    for (let o = 0; o < data.length;) o += await conn.write(data.subarray(o));
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(16384);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    return new TextDecoder("latin1").decode(
      new Uint8Array(chunks.flatMap((c) => [...c])),
    );
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/** The `message` of the `Status` in a raw answer (plain or chunked body). */
function messageOf(answer: string): string {
  const [head, ...rest] = answer.split("\r\n\r\n");
  let body = rest.join("\r\n\r\n");
  if (/transfer-encoding: chunked/i.test(head!)) {
    body = body.split("\r\n").filter((_, i) => i % 2 === 1).join("");
  }
  return (JSON.parse(body) as { message: string }).message;
}

function request(method: string, target: string, headers: [string, string][]) {
  return `${method} ${target} HTTP/1.1\r\n${
    headers.map(([k, v]) => `${k}: ${v}\r\n`).join("")
  }\r\n`;
}

const WS = (protocols = "v5.channel.k8s.io"): [string, string][] => [
  ["Host", "proxy"],
  ["Connection", "Upgrade"],
  ["Upgrade", "websocket"],
  ["Sec-WebSocket-Version", "13"],
  ["Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="],
  ...(protocols
    ? [["Sec-WebSocket-Protocol", protocols] as [string, string]]
    : []),
];
const SPDY = (...protocols: string[]): [string, string][] => [
  ["Host", "proxy"],
  ["Connection", "Upgrade"],
  ["Upgrade", "SPDY/3.1"],
  ...protocols.map((p) => ["X-Stream-Protocol-Version", p] as [string, string]),
  ["Content-Length", "0"],
];
const PLAIN: [string, string][] = [["Host", "proxy"], ["Connection", "close"]];
const POD = "/api/v1/namespaces/default/pods/demo";

const REFUSED: [string, string, string, [string, string][], number, RegExp][] =
  [
    [
      "bad escape",
      "GET",
      `${POD}/%zzec?command=id`,
      WS(),
      400,
      /"%zz" at offset 37 is not a valid escape/,
    ],
    [
      "dot-dot",
      "GET",
      `${POD}/x/%2e%2e/exec?command=id`,
      WS(),
      400,
      /is "\.\."/,
    ],
    [
      "empty segment",
      "GET",
      `/api/v1/namespaces/default/pods//demo/exec`,
      WS(),
      400,
      /is empty/,
    ],
    ["invalid UTF-8", "GET", `${POD}%FF/exec`, WS(), 400, /not valid UTF-8/],
    [
      "absolute-form upgrade",
      "GET",
      `http://k8s${POD}/exec?command=id`,
      WS(),
      400,
      /not origin-form/,
    ],
    [
      "absolute-form plain",
      "GET",
      `http://k8s/api/v1/namespaces`,
      PLAIN,
      400,
      /not origin-form/,
    ],
    [
      "kubelet exec",
      "GET",
      `/api/v1/nodes/n/proxy/exec/default/demo/c?command=id&output=1`,
      WS(),
      403,
      /proxy requests .* are refused for recorded callers/,
    ],
    [
      "kubelet attach",
      "GET",
      `/api/v1/nodes/n/proxy/attach/default/demo/c`,
      SPDY("v4.channel.k8s.io"),
      403,
      /allowProxySubresources/,
    ],
    [
      "kubelet run",
      "POST",
      `/api/v1/nodes/n/proxy/run/default/demo/c?cmd=id`,
      [...PLAIN, ["Content-Length", "0"]],
      403,
      /this one is "\/api\/v1\/nodes\/n\/proxy\/run\/default\/demo\/c"/,
    ],
    [
      "encoded kubelet run",
      "POST",
      `/api/v1/nodes/n/%70roxy/run/default/demo/c?cmd=id`,
      [...PLAIN, ["Content-Length", "0"]],
      403,
      /refused for recorded callers/,
    ],
    [
      "pod port proxy",
      "GET",
      `${POD}:8080/proxy/x`,
      PLAIN,
      403,
      /refused for recorded callers/,
    ],
    [
      "pod proxy upgrade",
      "GET",
      `${POD}/proxy/`,
      WS(),
      403,
      /refused for recorded callers/,
    ],
    [
      "service proxy",
      "GET",
      `/api/v1/namespaces/default/services/https:s:443/proxy/`,
      PLAIN,
      403,
      /refused/,
    ],
    [
      "proxy verb",
      "GET",
      `/api/v1/proxy/namespaces/default/pods/demo/exec`,
      WS(),
      403,
      /refused/,
    ],
    [
      "exec in another group",
      "GET",
      `/apis/foo/v1/namespaces/default/pods/demo/exec?command=id`,
      WS(),
      403,
      /refused/,
    ],
    [
      "exec with extra segment",
      "GET",
      `${POD}/exec/extra?command=id`,
      WS(),
      403,
      /refused/,
    ],
    [
      "other upgrade",
      "GET",
      `${POD}/log`,
      WS(),
      403,
      /upgrade requests other than exec, attach and port-forward are refused for recorded callers \(this one is "\/api\/v1\/namespaces\/default\/pods\/demo\/log"\)/,
    ],
    [
      "plain exec",
      "POST",
      `${POD}/exec?command=id`,
      [...PLAIN, ["Content-Length", "0"]],
      400,
      /exec requires a WebSocket or SPDY upgrade/,
    ],
    [
      "plain attach",
      "GET",
      `${POD}/attach`,
      PLAIN,
      400,
      /attach requires a WebSocket or SPDY upgrade/,
    ],
    [
      "channel.k8s.io only",
      "GET",
      `${POD}/exec?command=id`,
      WS("channel.k8s.io"),
      400,
      /offers "channel\.k8s\.io" Sec-WebSocket-Protocol protocols; the proxy records and accepts only v5\.channel\.k8s\.io, v4\.channel\.k8s\.io/,
    ],
    [
      "base64 only",
      "GET",
      `${POD}/exec?command=id`,
      WS("base64.channel.k8s.io, v4.base64.channel.k8s.io"),
      400,
      /accepts only/,
    ],
    [
      "no protocol",
      "GET",
      `${POD}/exec?command=id`,
      WS(""),
      400,
      /offers no Sec-WebSocket-Protocol/,
    ],
    [
      "bearer-only protocol",
      "GET",
      `${POD}/exec?command=id`,
      WS("base64url.bearer.authorization.k8s.io.dG9r"),
      400,
      /accepts only/,
    ],
    [
      "spdy v3 only",
      "POST",
      `${POD}/exec?command=id`,
      SPDY("v3.channel.k8s.io", "channel.k8s.io"),
      400,
      /X-Stream-Protocol-Version protocols/,
    ],
    [
      "mixed Upgrade",
      "GET",
      `${POD}/exec?command=id`,
      [...WS().filter(([k]) => k !== "Upgrade"), [
        "Upgrade",
        "websocket, spdy/3.1",
      ]],
      400,
      /must say exactly/,
    ],
    [
      "h2c Upgrade",
      "GET",
      `${POD}/exec?command=id`,
      [...WS().filter(([k]) => k !== "Upgrade"), ["Upgrade", "h2c"]],
      400,
      /must say exactly/,
    ],
    [
      "port-forward with a channel protocol",
      "GET",
      `${POD}/portforward?ports=80`,
      WS(),
      400,
      /this port-forward offers/,
    ],
  ];

Deno.test("proxy refuses, without contacting upstream, every target and offer a recorded caller could use unrecorded", async () => {
  const t = await stack(RECORDED);
  try {
    for (const [name, method, target, headers, status, message] of REFUSED) {
      const answer = await send(t.port, request(method, target, headers));
      assert.match(
        answer,
        new RegExp(`^HTTP/1\\.1 ${status} `),
        `${name}: ${answer}`,
      );
      assert.match(messageOf(answer), message, name);
      assert.deepEqual(t.up.seen, [], `${name}: upstream saw nothing`);
      assert.deepEqual(t.sessions, [], `${name}: no session was opened`);
    }
  } finally {
    await t.close();
  }
});

const ACCEPTED: [
  string,
  string,
  [string, string][],
  string,
  Partial<SessionContext["exec"]>,
][] = [
  ["%65xec", `${POD}/%65xec?command=id`, WS(), `${POD}/exec?command=id`, {
    sessionType: "exec",
    command: ["id"],
  }],
  ["demo%2Fexec", `${POD}%2Fexec?command=id`, WS(), `${POD}/exec?command=id`, {
    command: ["id"],
  }],
  [
    "/%61pi",
    `/%61pi/v1/namespaces/default/pods/demo/exec?command=id`,
    WS(),
    `${POD}/exec?command=id`,
    { pod: "demo" },
  ],
  ["exec%2F", `${POD}/exec%2F?command=id`, WS(), `${POD}/exec/?command=id`, {
    command: ["id"],
  }],
  [
    "%61ttach",
    `${POD}/%61ttach?stdin=true&tty=true`,
    WS(),
    `${POD}/attach?stdin=true&tty=true`,
    { sessionType: "attach", command: [], stdin: true, tty: true },
  ],
  [
    "semicolon pair",
    `${POD}/exec?command=echo%20innocent;&command=sh&command=-c&command=cat%20/etc/shadow`,
    WS(),
    `${POD}/exec?command=sh&command=-c&command=cat+%2Fetc%2Fshadow`,
    { command: ["sh", "-c", "cat /etc/shadow"] },
  ],
  [
    "bad-escape pair",
    `${POD}/exec?command=a%zz&command=id`,
    WS(),
    `${POD}/exec?command=id`,
    { command: ["id"] },
  ],
  [
    "tty=yes",
    `${POD}/exec?command=sh&tty=yes&stdin=`,
    WS(),
    `${POD}/exec?command=sh&tty=yes&stdin=`,
    { tty: true, stdin: true },
  ],
  [
    "tty=FALSE",
    `${POD}/exec?command=sh&tty=FALSE&tty=true&stdin=0`,
    WS(),
    `${POD}/exec?command=sh&tty=FALSE&tty=true&stdin=0`,
    { tty: false, stdin: false },
  ],
  [
    "containers",
    `${POD}/exec?container=a&container=b&command=id`,
    WS(),
    `${POD}/exec?container=a&container=b&command=id`,
    { container: "a" },
  ],
  [
    "mixed protocols",
    `${POD}/exec?command=id`,
    WS("channel.k8s.io, v4.channel.k8s.io,v5.channel.k8s.io"),
    `${POD}/exec?command=id`,
    { command: ["id"] },
  ],
  [
    "spdy",
    `${POD}/exec?command=id`,
    SPDY(
      "v5.channel.k8s.io",
      "v4.channel.k8s.io",
      "v3.channel.k8s.io",
      "channel.k8s.io",
    ),
    `${POD}/exec?command=id`,
    { command: ["id"] },
  ],
];

Deno.test("proxy forwards the canonical target of an accepted exec, and the tap sees what upstream parses with Go's rules", async () => {
  const t = await stack(RECORDED);
  try {
    for (const [name, target, headers, canonical, want] of ACCEPTED) {
      t.up.seen.length = 0;
      t.sessions.length = 0;
      const spdy = headers.some(([, v]) => v === "SPDY/3.1");
      const answer = await send(
        t.port,
        request(spdy ? "POST" : "GET", target, headers),
      );
      assert.match(answer, /^HTTP\/1\.1 101 /, name);
      assert.equal(t.up.seen.length, 1, name);
      const got = t.up.seen[0]!;
      assert.equal(got.url, canonical, name);
      // What the API server reads, by the dev cluster's independent reader.
      const go = goTarget(got.url);
      const ctx = t.sessions[0]!;
      assert.equal(ctx.exec.pod, go.segments[5], name);
      assert.deepEqual(
        ctx.exec.command,
        ctx.exec.sessionType === "exec" ? goValues(go.query, "command") : [],
        name,
      );
      assert.equal(
        ctx.exec.container,
        goValues(go.query, "container")[0] ?? "",
        name,
      );
      assert.equal(ctx.exec.tty, goBool(goValues(go.query, "tty")), name);
      assert.equal(ctx.exec.stdin, goBool(goValues(go.query, "stdin")), name);
      // And the same read of the raw target the client sent.
      const raw = goTarget(target);
      assert.deepEqual(
        goValues(raw.query, "command"),
        goValues(go.query, "command"),
        name,
      );
      for (const [k, v] of Object.entries(want)) {
        assert.deepEqual(
          (ctx.exec as unknown as Record<string, unknown>)[k],
          v,
          `${name}: ${k}`,
        );
      }
      const protos = got.headers.filter(([k]) =>
        /^(sec-websocket-protocol|x-stream-protocol-version)$/i.test(k)
      ).map(([, v]) => v);
      assert.deepEqual(
        protos,
        spdy
          ? ["v5.channel.k8s.io", "v4.channel.k8s.io"]
          : name === "mixed protocols"
          ? ["v4.channel.k8s.io, v5.channel.k8s.io"]
          : ["v5.channel.k8s.io"],
        name,
      );
      assert.equal(ctx.transport, spdy ? "spdy" : "websocket");
    }
  } finally {
    await t.close();
  }
});

Deno.test("proxy ends the tap 'refused' with the upstream's Status message when the exec is not upgraded", async () => {
  const t = await stack(RECORDED, "403");
  try {
    const answer = await send(
      t.port,
      request("GET", `${POD}/exec?command=id`, WS()),
    );
    assert.match(answer, /^HTTP\/1\.1 403 Forbidden/);
    assert.equal(t.ends.length, 1);
    assert.equal(t.ends[0]![0], "refused");
    assert.deepEqual(t.ends[0]![2], {
      status: 403,
      message:
        'pods "demo" is forbidden: User "bob" cannot create resource "pods/exec"',
    });
  } finally {
    await t.close();
  }
});

Deno.test("proxy relays a recorded caller's port-forward unrecorded, logged, with only port-forward protocols", async () => {
  const t = await stack(RECORDED);
  try {
    const answer = await send(
      t.port,
      request(
        "GET",
        `${POD}/portforward?ports=8080&ports=9090`,
        WS("v5.channel.k8s.io, SPDY/3.1+portforward.k8s.io"),
      ),
    );
    assert.match(answer, /^HTTP\/1\.1 101 /);
    assert.equal(t.up.seen[0]!.url, `${POD}/portforward?ports=8080&ports=9090`);
    assert.deepEqual(
      t.up.seen[0]!.headers.filter(([k]) => k === "Sec-WebSocket-Protocol"),
      [["Sec-WebSocket-Protocol", "SPDY/3.1+portforward.k8s.io"]],
    );
    assert.deepEqual(t.sessions, []);
    const line = t.logger.lines.find((l) => l.msg === "port-forward")!;
    assert.deepEqual([line.user, line.namespace, line.pod, line.ports], [
      "bob",
      "default",
      "demo",
      ["8080", "9090"],
    ]);
    assert.equal(typeof line.sessionId, "string");
  } finally {
    await t.close();
  }
});

Deno.test("proxy relays proxy subresources for callers allowed to, and anything for callers with no recorder", async () => {
  for (
    const decision of [
      decisionOf({ recorders: ["tag:rec"], allowProxySubresources: true }),
      UNRECORDED,
    ]
  ) {
    const t = await stack(decision);
    try {
      const run = await send(
        t.port,
        request(
          "POST",
          `/api/v1/nodes/n/%70roxy/run/default/demo/c?cmd=echo%20hi`,
          [...PLAIN, ["Content-Length", "0"]],
        ),
      );
      assert.match(run, /^HTTP\/1\.1 200 /);
      assert.equal(
        t.up.seen.at(-1)!.url,
        "/api/v1/nodes/n/proxy/run/default/demo/c?cmd=echo+hi",
      );
      const ws = await send(
        t.port,
        request(
          "GET",
          `/api/v1/nodes/n/proxy/exec/default/demo/c?command=id`,
          WS("channel.k8s.io"),
        ),
      );
      assert.match(ws, /^HTTP\/1\.1 101 /);
      assert.equal(
        t.up.seen.at(-1)!.url,
        "/api/v1/nodes/n/proxy/exec/default/demo/c?command=id",
      );
      if (decision.recorders.length > 0) {
        assert.ok(
          t.logger.lines.some((l) =>
            l.msg === "proxy request relayed unrecorded" && l.user === "bob"
          ),
        );
      } else {
        // No recorder: the tap is not asked to read the offer, it is forwarded as sent.
        const other = await send(
          t.port,
          request("GET", `${POD}/exec?command=id`, WS("channel.k8s.io")),
        );
        assert.match(other, /^HTTP\/1\.1 101 /);
        assert.equal(
          t.up.seen.at(-1)!.headers.find(([k]) =>
            k === "Sec-WebSocket-Protocol"
          )![1],
          "channel.k8s.io",
        );
      }
      const bad = await send(t.port, request("GET", `${POD}/%zz`, PLAIN));
      assert.match(bad, /^HTTP\/1\.1 400 /, "parsing is the same for everyone");
    } finally {
      await t.close();
    }
  }
});

const FORGED_SPELLINGS: [string, string][] = [
  ["Impersonate_User", "system:admin"],
  ["IMPERSONATE-USER", "system:admin"],
  ["Impersonate-User", "system:admin"],
  ["impersonate-group", "system:masters"],
  ["Impersonate_Group", "system:masters"],
  ["X-Remote-User", "system:admin"],
  ["x_remote_group", "system:masters"],
  ["X-Remote-Extra-Scopes", "everything"],
  ["X-Remote-User", "again"],
  ["X-Foo", "named-in-connection"],
  ["Proxy-Authorization", "Basic c3RvbGVu"],
  ["Authorization", "Bearer stolen"],
];

Deno.test("proxy sends no client identity header in any spelling upstream, over ordinary, WebSocket and SPDY requests", async () => {
  for (const decision of [UNRECORDED, RECORDED]) {
    const t = await stack(decision);
    try {
      const cases: [string, string, string, [string, string][]][] = [
        ["ordinary", "GET", "/api/v1/namespaces/default/pods", [[
          "Host",
          "proxy",
        ], ["Connection", "close, X-Foo"]]],
        ["websocket", "GET", `${POD}/exec?command=id`, [
          ...WS().map(([k, v]) =>
            [k, k === "Connection" ? "Upgrade, X-Foo" : v] as [string, string]
          ),
        ]],
        ["spdy", "POST", `${POD}/exec?command=id`, [
          ...SPDY("v4.channel.k8s.io").map(([k, v]) =>
            [k, k === "Connection" ? "Upgrade, X-Foo" : v] as [string, string]
          ),
        ]],
      ];
      for (const [name, method, target, headers] of cases) {
        t.up.seen.length = 0;
        const answer = await send(
          t.port,
          request(method, target, [...headers, ...FORGED_SPELLINGS]),
        );
        assert.match(answer, /^HTTP\/1\.1 (200|101) /, `${name}: ${answer}`);
        const got = t.up.seen[0]!.headers;
        const norm = (k: string) => k.toLowerCase().replaceAll("_", "-");
        const identity = got.filter(([k]) =>
          /^(authorization|proxy-authorization|impersonate-|x-remote-|x-foo)/
            .test(norm(k))
        );
        assert.deepEqual(identity, [
          ["Authorization", "Bearer proxy-sa-token"],
          ["Impersonate-User", "bob"],
          ["Impersonate-Group", "viewers"],
        ], name);
        assert.ok(
          !got.some(([, v]) => /system:|everything|stolen|again/.test(v)),
          name,
        );
        if (name !== "ordinary") {
          assert.deepEqual(got.filter(([k]) => norm(k) === "connection"), [[
            "Connection",
            "Upgrade",
          ]], name);
        }
      }
    } finally {
      await t.close();
    }
  }
});

Deno.test("proxy answers 400 to header names that are not HTTP tokens, without contacting upstream", async () => {
  const t = await stack(RECORDED);
  try {
    for (const name of ["X(y)", "Impersonate@User", "X y", 'X"y', "X/y"]) {
      for (
        const [method, target, headers] of [
          ["GET", "/api/v1/namespaces", PLAIN],
          ["GET", `${POD}/exec?command=id`, WS()],
        ] as [string, string, [string, string][]][]
      ) {
        const answer = await send(
          t.port,
          request(method, target, [...headers, [name, "system:admin"]]),
        );
        assert.match(answer, /^HTTP\/1\.1 400 /, `${name}: ${answer}`);
        assert.deepEqual(t.up.seen, [], name);
      }
    }
  } finally {
    await t.close();
  }
});
