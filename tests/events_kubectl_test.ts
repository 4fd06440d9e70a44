/**
 * API request events (issue 12) with real kubectl through the proxy, to a
 * real recorder (disk storage, SQLite index): each request of a caller whose
 * grant says `enableEvents` is stored with who, what and how it went; a
 * workload's body is on record with its command; Secret values never are;
 * fail closed with the recorder down refuses the request and kubectl prints
 * why; fail open goes on and logs the loss.
 */
import assert from "node:assert/strict";
import { kubectl, type Stack, startStack } from "./_harness.ts";
import {
  allStoredText,
  startTestRecorder,
  type TestRecorder,
  UPLOADER_TOKEN,
  VIEWER_TOKEN,
} from "./_recorder.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const here = new URL(".", import.meta.url).pathname;
const POLICY = `${here}testdata/events_policy.hujson`;

type Stored = {
  request: Record<string, unknown> & {
    body?: { json?: unknown; bytes: number; sha256: string };
  };
  response?: Record<string, unknown>;
  stream: string;
};

async function events(rec: TestRecorder, query: string): Promise<Stored[]> {
  const res = await fetch(`${rec.url}/v1/events?${query}`, {
    headers: { authorization: `Bearer ${VIEWER_TOKEN}` },
  });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()).items;
}

/** Polls (bounded) until an event matching `query` has its response. */
async function settled(
  rec: TestRecorder,
  query: string,
  pick: (e: Stored) => boolean = () => true,
): Promise<Stored> {
  for (let i = 0; i < 200; i++) {
    const e = (await events(rec, query)).find(pick);
    if (e?.response) return e;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no settled event for ${query}`);
}

Deno.test(
  "API events: run --command, debug, logs, secrets, delete pod, each stored with its fields",
  opts,
  async (t) => {
    const rec = await startTestRecorder();
    let stack: Stack | undefined;
    try {
      stack = await startStack({
        recorderUrls: [rec.url],
        recorderToken: UPLOADER_TOKEN,
        policyFile: POLICY,
      });
      const s = stack;
      await t.step(
        "kubectl run --command: the pod's command is on record",
        async () => {
          const r = await kubectl(s, "alice", [
            "run",
            "ev-runner",
            "--image=busybox",
            "--restart=Never",
            "--command",
            "--",
            "sh",
            "-c",
            "echo run-ev-command",
          ]);
          assert.equal(r.code, 0, r.stderr);
          const e = await settled(rec, "verb=create&resource=pods");
          const q = e.request;
          assert.equal(q.phase, "request");
          assert.equal(q.verb, "create");
          assert.equal(q.method, "POST");
          assert.equal(q.apiGroup, "");
          assert.equal(q.apiVersion, "v1");
          assert.equal(q.resource, "pods");
          assert.equal(q.namespace, "default");
          assert.match(
            String(q.target),
            /^\/api\/v1\/namespaces\/default\/pods/,
          );
          assert.deepEqual(q.caller, {
            srcNode: "alice-laptop",
            srcNodeID: (q.caller as { srcNodeID: string }).srcNodeID,
            srcNodeUserID:
              (q.caller as { srcNodeUserID: string }).srcNodeUserID,
            srcNodeUser: "alice@example.com",
          });
          assert.equal(
            (q.impersonate as { user: string }).user,
            "alice@example.com",
          );
          assert.ok(
            (q.impersonate as { groups: string[] }).groups.includes(
              "system:masters",
            ),
          );
          const pod = q.body?.json as {
            metadata: { name: string };
            spec: { containers: { command?: string[] }[] };
          };
          assert.equal(pod.metadata.name, "ev-runner");
          assert.deepEqual(pod.spec.containers[0]!.command, [
            "sh",
            "-c",
            "echo run-ev-command",
          ]);
          assert.equal(q.body?.sha256.length, 64);
          const res = e.response!;
          assert.equal(res.status, 201);
          assert.equal(typeof res.latencyMs, "number");
          assert.ok((res.requestBytes as number) > 0);
          assert.equal(res.requestBytes, q.body?.bytes);
          assert.ok((res.responseBytes as number) > 0);
        },
      );

      await t.step(
        "kubectl debug without -it: the ephemeral container's body",
        async () => {
          const r = await kubectl(s, "alice", [
            "debug",
            "demo",
            "--image=busybox",
            "--container=dbg-ev",
            "--",
            "sh",
            "-c",
            "echo debug-ev-command",
          ]);
          assert.equal(r.code, 0, r.stderr);
          const e = await settled(
            rec,
            "resource=pods/ephemeralcontainers",
            (e) => e.request.verb === "patch" || e.request.verb === "update",
          );
          assert.equal(e.request.subresource, "ephemeralcontainers");
          assert.equal(e.request.name, "demo");
          assert.match(
            JSON.stringify(e.request.body?.json),
            /debug-ev-command/,
          );
          assert.equal(e.response!.status, 200);
        },
      );

      await t.step("kubectl logs: a pods/log read is an event", async () => {
        const r = await kubectl(s, "alice", ["logs", "demo"]);
        assert.equal(r.code, 0, r.stderr);
        const e = await settled(rec, "resource=pods/log");
        assert.equal(e.request.verb, "get");
        assert.equal(e.request.name, "demo");
        assert.equal(e.request.body, undefined);
        assert.equal(e.response!.status, 200);
        assert.equal(
          e.response!.responseBytes,
          new TextEncoder().encode(r.stdout).length,
        );
      });

      await t.step("secrets: values never stored", async () => {
        const value = "hunter2-event-secret-value";
        const c = await kubectl(s, "alice", [
          "create",
          "secret",
          "generic",
          "ev-secret",
          `--from-literal=password=${value}`,
        ]);
        const g = await kubectl(s, "alice", [
          "get",
          "secret",
          "ev-secret",
          "-o",
          "yaml",
        ]);
        const created = await settled(rec, "verb=create&resource=secrets");
        assert.equal(created.request.body, undefined);
        assert.equal(c.code, 0, c.stderr);
        assert.equal(g.code, 0, g.stderr);
        // kubectl shows the value: the API server has it, the events do not.
        assert.match(g.stdout, new RegExp(btoa(value)));
        const got = await settled(rec, "verb=get&resource=secrets");
        assert.equal(got.request.name, "ev-secret");
        assert.equal(got.response!.status, 200);
        assert.equal(got.request.body, undefined);
        const stored = await allStoredText(rec.dir);
        assert.ok(!stored.includes(value), `${c.stderr} ${g.stderr}`);
        assert.ok(!stored.includes(btoa(value)));
      });

      await t.step("kubectl delete pod: an event", async () => {
        const r = await kubectl(s, "alice", [
          "delete",
          "pod",
          "ev-runner",
          "--wait=false",
        ]);
        assert.equal(r.code, 0, r.stderr);
        const e = await settled(rec, "verb=delete&resource=pods");
        assert.equal(e.request.name, "ev-runner");
        assert.equal(e.response!.status, 200);
      });

      await t.step(
        "kubectl exec: the upgrade is an event, 101 once the session ends",
        async () => {
          const r = await kubectl(s, "alice", [
            "exec",
            "demo",
            "--",
            "echo",
            "exec-ev",
          ]);
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.stdout, "exec-ev\n");
          const e = await settled(rec, "resource=pods/exec");
          assert.equal(e.request.upgrade, true);
          assert.equal(e.request.name, "demo");
          assert.match(String(e.request.target), /command=exec-ev/);
          assert.equal(e.response!.status, 101);
        },
      );

      await t.step("search: by user, q, and paging", async () => {
        const mine = await events(rec, "user=alice%40example.com&limit=1000");
        assert.ok(mine.length >= 6);
        assert.ok(
          mine.every((e) =>
            (e.request.caller as { srcNodeUser: string }).srcNodeUser ===
              "alice@example.com"
          ),
        );
        const found = await events(rec, "q=run-ev-command");
        assert.equal(found.length, 1);
        const first = await fetch(`${rec.url}/v1/events?limit=2`, {
          headers: { authorization: `Bearer ${VIEWER_TOKEN}` },
        }).then((r) => r.json());
        assert.equal(first.items.length, 2);
        assert.ok(first.next);
      });

      await t.step(
        "UI: the Events page lists and searches, linking sessions",
        async () => {
          const ui = async (path: string) => {
            const res = await fetch(rec.url + path, {
              headers: { cookie: `execgate_viewer=${VIEWER_TOKEN}` },
            });
            assert.equal(res.status, 200, path);
            return await res.text();
          };
          const all = await ui("/ui/events?user=alice%40example.com");
          assert.match(all, /<table id="events">/);
          assert.match(all, /href="\/ui\?user=alice%40example.com"/);
          assert.match(all, /pods\/ephemeralcontainers/);
          const found = await ui("/ui/events?q=run-ev-command");
          assert.equal(found.match(/<tr class="event">/g)?.length, 1);
          assert.match(found, /echo run-ev-command/);
          const list = await ui("/ui?user=alice%40example.com");
          assert.match(
            list,
            /id="events-link" href="\/ui\/events\?user=alice%40example.com"/,
          );
          const secrets = await ui("/ui/events?resource=secrets");
          assert.ok(!secrets.includes("hunter2-event-secret-value"));
        },
      );
    } finally {
      await stack?.close();
      await rec.close();
    }
  },
);

Deno.test(
  "API events with the recorder down: fail closed refuses and kubectl prints why; fail open goes on",
  opts,
  async (t) => {
    const rec = await startTestRecorder();
    const stack = await startStack({
      recorderUrls: [rec.url],
      recorderToken: UPLOADER_TOKEN,
      policyFile: POLICY,
      recording: { connectTimeoutMs: 1000, ackTimeoutMs: 2000 },
    });
    let recUp = true;
    try {
      // kubectl caches discovery: the refusal then reaches the request
      // itself, whose Status kubectl prints (client-go prints only a
      // generic line for a 503 to discovery, whatever the body says).
      const warm = await kubectl(stack, "alice", ["get", "pods"]);
      assert.equal(warm.code, 0, warm.stderr);
      await rec.close();
      recUp = false;
      await t.step("fail closed: refused, with the reason", async () => {
        const r = await kubectl(stack, "alice", ["get", "pods"]);
        assert.notEqual(r.code, 0);
        assert.match(
          r.stderr,
          /Error from server \(ServiceUnavailable\): execgate: the recorder did not acknowledge the audit event of this request: /,
        );
        assert.ok(
          stack.logs.some((l) =>
            l.status === 503 &&
            String(l.reason).includes("did not acknowledge the audit event")
          ),
        );
      });
      await t.step("fail open: answered, the loss logged", async () => {
        const r = await kubectl(stack, "dave", ["get", "pods"]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /demo/);
        assert.ok(
          stack.logs.some((l) =>
            l.msg === "API events are being lost (fail open)"
          ),
        );
      });
    } finally {
      await stack.close();
      if (recUp) await rec.close();
    }
  },
);
