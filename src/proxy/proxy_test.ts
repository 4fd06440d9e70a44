import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { memoryLogger } from "../log.ts";
import { serveProxy } from "./node_server.ts";
import { createProxy } from "./proxy.ts";
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
