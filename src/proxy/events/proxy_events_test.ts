/**
 * The proxy's API events, in process: `createProxy` with an upstream double
 * that records what reached it, and `RequestEvents` over real
 * `EventStream`s to a real recorder app (or to a closed port).
 */
import assert from "node:assert/strict";
import { memoryLogger } from "../../log.ts";
import type { Decision } from "../../policy/decision.ts";
import { EventStream } from "../../recording/event_stream.ts";
import { createRecorder } from "../../recorder/app.ts";
import { parseRecorderConfig } from "../../recorder/config.ts";
import { DiskStorage } from "../../recorder/disk_storage.ts";
import { MemoryEventStore } from "../../recorder/events_store.ts";
import { MemoryEventIndex } from "../../recorder/index/events_index.ts";
import { createProxy } from "../proxy.ts";
import type { UpstreamRequestInit } from "../upstream_connect.ts";
import { RequestEvents } from "./request_events.ts";

const UP = "uploader-token-0123456789";
const opts = { sanitizeOps: false, sanitizeResources: false };
const B64 = btoa("hunter2-proxy-test");

async function stack(
  enforce: boolean,
  recorderUp: boolean,
  maxBodyBytes = 4096,
) {
  const dir = await Deno.makeTempDir();
  const index = new MemoryEventIndex();
  const rec = createRecorder(
    parseRecorderConfig({ auth: { uploaderTokens: [UP] }, ackIntervalMs: 100 }),
    {
      storage: new DiskStorage({ dir }),
      events: { store: new MemoryEventStore(), index },
      logger: memoryLogger(),
    },
  );
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    rec.app.fetch,
  );
  const url = `http://127.0.0.1:${server.addr.port}`;
  if (!recorderUp) await server.shutdown();
  const seen: { init: UpstreamRequestInit; body: string }[] = [];
  const log = memoryLogger();
  const events = new RequestEvents({
    proxyHostname: "p",
    logger: log,
    maxBodyBytes,
    recorderUrls: () => [url],
    openStream: (urls) =>
      new EventStream({ urls, proxyHostname: "p", token: UP, logger: log }),
  });
  const decision: Decision = {
    admitted: true,
    user: "bob@example.com",
    groups: ["g"],
    recorders: ["tag:r"],
    enforceRecorder: enforce,
    allowProxySubresources: false,
    enableEvents: true,
    matched: [],
  };
  const proxy = createProxy({
    upstreamUrl: "http://upstream.invalid",
    authorize: () =>
      Promise.resolve({
        identity: {
          hostname: "bob-laptop",
          nodeId: "n",
          loginName: "bob@example.com",
          groups: [],
        },
        decision,
      }),
    async upstreamRequest(init) {
      const body = init.body ? await new Response(init.body).text() : "";
      seen.push({ init, body });
      return new Response(JSON.stringify({ kind: "Pod" }), {
        status: init.method === "POST" ? 201 : 200,
        headers: { "content-type": "application/json" },
      });
    },
    connectUpstream: () => Promise.reject(new Error("no upgrades here")),
    logger: log,
    events,
  });
  const peer = { remoteAddr: "127.0.0.1:1", headers: new Headers() };
  return {
    seen,
    index,
    log,
    fetch: (path: string, init: RequestInit = {}) =>
      proxy.fetch(new Request("http://proxy.test" + path, init), peer),
    async close() {
      await events.close();
      if (recorderUp) await server.shutdown();
      await rec.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test(
  "proxy events: fail closed with the recorder down answers 503 and forwards nothing",
  opts,
  async () => {
    const s = await stack(true, false);
    try {
      const res = await s.fetch("/api/v1/namespaces/default/pods", {
        method: "POST",
        body: JSON.stringify({ kind: "Pod", metadata: { name: "x" } }),
      });
      assert.equal(res.status, 503);
      const status = await res.json();
      assert.equal(status.kind, "Status");
      assert.match(
        status.message,
        /^execgate: the recorder did not acknowledge the audit event of this request: no recorder accepted the events stream/,
      );
      assert.equal(s.seen.length, 0, "nothing reached the upstream");
    } finally {
      await s.close();
    }
  },
);

Deno.test(
  "proxy events: fail open with the recorder down forwards and logs the loss",
  opts,
  async () => {
    const s = await stack(false, false);
    try {
      const res = await s.fetch("/api/v1/namespaces/default/pods");
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      assert.equal(s.seen.length, 1);
    } finally {
      await s.close();
    }
  },
);

Deno.test(
  "proxy events: fail closed stores the event before upstream sees it, body forwarded exactly, Secret values hashed",
  opts,
  async () => {
    const s = await stack(true, true);
    try {
      // A pod whose annotations smuggle a Secret object.
      const body = JSON.stringify({
        kind: "Pod",
        metadata: { name: "p1" },
        spec: {
          containers: [{ name: "c", command: ["sh", "-c", "id"] }],
          x: { kind: "Secret", data: { pw: B64 } },
        },
      }) + " ".repeat(3);
      const res = await s.fetch(
        "/api/v1/namespaces/default/pods?fieldManager=kubectl",
        {
          method: "POST",
          body,
        },
      );
      assert.equal(res.status, 201);
      const answer = await res.text();
      assert.equal(s.seen.length, 1);
      assert.equal(s.seen[0]!.body, body, "forwarded exactly");
      const page = await s.index.query({ limit: 10 });
      const e = page.items[0]!;
      assert.equal(e.request.verb, "create");
      assert.equal(
        e.request.target,
        "/api/v1/namespaces/default/pods?fieldManager=kubectl",
      );
      const kept = JSON.stringify(e.request.body);
      assert.match(kept, /"command":\["sh","-c","id"\]/);
      assert.ok(!kept.includes(B64));
      // The response record follows the response's end.
      for (
        let i = 0;
        i < 100 && !(await s.index.query({ limit: 1 })).items[0]!.response;
        i++
      ) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const r = (await s.index.query({ limit: 1 })).items[0]!.response!;
      assert.equal(r.status, 201);
      assert.equal(r.requestBytes, body.length);
      assert.equal(r.responseBytes, answer.length);
    } finally {
      await s.close();
    }
  },
);

const HUGE = JSON.stringify({
  kind: "Pod",
  metadata: { name: "esc" },
  spec: { x: "\u0001".repeat(150_000) },
});
const DEEP = "[".repeat(200_000) + "]".repeat(200_000);
const NESTED = `{"kind":"Pod","a":${"[".repeat(5000)}${"]".repeat(5000)}}`;

Deno.test(
  "proxy events: fail open, a caller's body can neither break the shared stream nor the proxy (escapes past the event bound, nesting past the parser)",
  opts,
  async () => {
    const s = await stack(false, true, 1024 * 1024);
    try {
      for (const body of [HUGE, DEEP, NESTED]) {
        const res = await s.fetch("/api/v1/namespaces/default/pods", {
          method: "POST",
          body,
        });
        assert.equal(res.status, 201);
        await res.arrayBuffer();
        assert.equal(s.seen.at(-1)!.body, body, "forwarded exactly");
      }
      let page = await s.index.query({ limit: 10 });
      for (let i = 0; i < 200 && page.items.length < 3; i++) {
        await new Promise((r) => setTimeout(r, 10));
        page = await s.index.query({ limit: 10 });
      }
      assert.equal(page.items.length, 3, "each stored, the stream intact");
      const bodies = page.items.map((e) =>
        e.request.body as {
          json?: unknown;
          jsonOmitted?: string;
          bytes: number;
        }
      );
      assert.ok(bodies.some((b) => b.jsonOmitted === "too large for an event"));
      assert.ok(bodies.every((b) => b.bytes > 0));
    } finally {
      await s.close();
    }
  },
);

Deno.test(
  "proxy events: fail closed refuses a pod body its event cannot hold whole (past the bound, padded, YAML, too large once hashed), forwarding nothing",
  opts,
  async () => {
    const s = await stack(true, true, 4096);
    try {
      const padded = JSON.stringify({
        kind: "Pod",
        metadata: { name: "pad", annotations: { pad: "x".repeat(5000) } },
        spec: { containers: [{ name: "c", command: ["sh", "-c", "evil"] }] },
      });
      const yaml =
        "kind: Pod\nmetadata: {name: y}\nspec:\n  containers: [{name: c, command: [sh, -c, evil]}]\n";
      const cases: [string, string, string, number, RegExp][] = [
        [
          "/api/v1/namespaces/default/pods",
          "POST",
          padded,
          413,
          /create of pods sends more than 4096 bytes \(events\.maxBodyBytes/,
        ],
        [
          "/api/v1/namespaces/default/pods",
          "POST",
          yaml,
          415,
          /not one JSON document/,
        ],
        [
          "/api/v1/namespaces/default/pods",
          "POST",
          DEEP.slice(0, 4000).padEnd(4000, "]"),
          415,
          /not one JSON document/,
        ],
        [
          "/apis/apps/v1/namespaces/default/replicasets",
          "POST",
          padded,
          413,
          /create of replicasets/,
        ],
        [
          "/api/v1/namespaces/default/pods/p/ephemeralcontainers",
          "PATCH",
          yaml,
          415,
          /patch of pods\/ephemeralcontainers/,
        ],
      ];
      for (const [path, method, body, status, message] of cases) {
        const res = await s.fetch(path, { method, body });
        assert.equal(res.status, status, `${method} ${path}`);
        const st = await res.json();
        assert.equal(st.kind, "Status");
        assert.equal(st.code, status);
        assert.match(st.message, message);
        assert.match(st.message, /nothing was forwarded$/);
      }
      assert.equal(s.seen.length, 0, "nothing reached the upstream");
      // Secret values hashed may not fit either: refused, not cut.
      const s2 = await stack(true, true, 1024 * 1024);
      try {
        const many = Object.fromEntries(
          Array.from({ length: 20_000 }, (_, i) => [`k${i}`, ""]),
        );
        const res = await s2.fetch("/api/v1/namespaces/default/pods", {
          method: "POST",
          body: JSON.stringify({
            kind: "Pod",
            spec: { x: { kind: "Secret", data: many } },
          }),
        });
        assert.equal(res.status, 413);
        assert.match(
          (await res.json()).message,
          /too large for one event once Secret values are hashed/,
        );
        // The caller's stream is intact: the next request is recorded.
        const ok = await s2.fetch("/api/v1/namespaces/default/pods", {
          method: "POST",
          body: NESTED,
        });
        assert.equal(ok.status, 201);
        await ok.arrayBuffer();
        assert.equal(s2.seen.length, 1);
        assert.equal(s2.seen[0]!.body, NESTED);
      } finally {
        await s2.close();
      }
    } finally {
      await s.close();
    }
  },
);
