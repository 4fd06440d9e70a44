/**
 * Port-forward recording (issue 12) with real kubectl through the proxy to
 * the simulated cluster's `web` pod and a real recorder: 1.29 over SPDY,
 * 1.33 over SPDY and over the WebSocket tunnel. curl fetches pages through
 * the forwarded local port; the recording (read back from the recorder)
 * names the pod and the ports, each stream's open and close, and the bytes
 * each way equal to what curl sent and received. Content is recorded only
 * for a grant with `recordPortForward`. Fail closed without a recorder
 * refuses the port-forward with a reason kubectl prints.
 */
import assert from "node:assert/strict";
import { PAGE } from "../src/devcluster/_pod_servers.ts";
import {
  curl,
  PORT_FORWARD_CLIENTS,
  type PortForwardClient,
  startWebPod,
  WEB_PORTS,
} from "../src/devcluster/_portforward_checks.ts";
import { whenForwarding } from "../src/devcluster/_portforward_process.ts";
import { RecordDecoder, RecordType } from "../src/protocol/records.ts";
import type {
  PortForwardEventRecord,
  SessionEnd,
} from "../src/recording/wire.ts";
import { type Stack, startStack, type User } from "./_harness.ts";
import {
  startTestRecorder,
  UPLOADER_TOKEN,
  VIEWER_TOKEN,
} from "./_recorder.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const here = new URL(".", import.meta.url).pathname;

function portForward(stack: Stack, user: User, client: PortForwardClient) {
  const child = new Deno.Command(client.bin ?? "/usr/bin/kubectl", {
    args: [
      "--kubeconfig",
      stack.kubeconfig,
      "--context",
      user,
      "port-forward",
      "pod/web",
      `:${WEB_PORTS.http}`,
    ],
    env: {
      HOME: stack.home,
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      ...client.env,
    },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return { child, forwarding: whenForwarding(child, [WEB_PORTS.http]) };
}

/** Fetches `path` with curl; what it sent and received, headers included. */
async function fetchThrough(port: number, path: string) {
  const r = await curl([
    "-o",
    "-",
    "-w",
    "\n%{size_request} %{size_header} %{size_download}",
    `http://127.0.0.1:${port}${path}`,
  ]);
  assert.equal(r.code, 0, r.err);
  const text = new TextDecoder().decode(r.out);
  const cut = text.lastIndexOf("\n");
  const [sent, header, body] = text.slice(cut + 1).split(" ").map(Number);
  return {
    body: text.slice(0, cut),
    sent: sent!,
    received: header! + body!,
  };
}

/** The recording's records, from the recorder's storage (the evidence). */
async function evidence(dir: string, id: string) {
  const bytes = await Deno.readFile(`${dir}/${id}.records`);
  const records = new RecordDecoder().push(bytes);
  const events = records.filter((r) => r.type === RecordType.PORTFORWARD).map(
    (r) =>
      JSON.parse(new TextDecoder().decode(r.payload)) as PortForwardEventRecord,
  );
  const data = records.filter((r) => r.type === RecordType.PORTFORWARD_DATA);
  return { records, events, data };
}

/**
 * Waits (bounded, polled) until the live recording holds `n` data-stream
 * closes: kubectl closes a stream some time after curl's connection ends,
 * and stopping it before would end those streams `atEnd`.
 */
async function whenStreamsClosed(
  rec: {
    dir: string;
    list(q?: string): Promise<{ id: string; status: string }[]>;
  },
  n: number,
) {
  for (let i = 0; i < 200; i++) {
    const live = (await rec.list()).find((m) => m.status === "recording");
    if (live) {
      const { events } = await evidence(rec.dir, live.id).catch(() => ({
        events: [] as PortForwardEventRecord[],
      }));
      const opened = new Set(
        events.filter((e) => e.event === "open" && e.streamType === "data")
          .map((e) => e.stream),
      );
      const closed = events.filter((e) =>
        e.event === "close" && opened.has(e.stream)
      );
      if (closed.length >= n) return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits (bounded) until the recorder has finished `n + 1` uploads. */
async function finished(
  rec: { finished(n: number): Promise<unknown> },
  n: number,
) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      rec.finished(n),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`upload ${n} did not finish in 30 s`)),
          30_000,
        );
      }),
    ]) as { id?: string; outcome: string; reason?: string };
  } finally {
    clearTimeout(timer);
  }
}

Deno.test(
  "kubectl port-forward through the proxy is recorded: ports, stream opens and closes, bytes each way as curl counted them",
  opts,
  async (t) => {
    const rec = await startTestRecorder();
    const stack = await startStack({
      recorderUrls: [rec.url],
      recorderToken: UPLOADER_TOKEN,
    });
    const pod = await startWebPod(stack.cluster);
    let uploads = 0;
    try {
      for (const client of PORT_FORWARD_CLIENTS) {
        await t.step(`${client.name} as alice (fail closed)`, async () => {
          const pf = await portForward(stack, "alice", client).forwarding;
          const local = pf.localPorts.get(WEB_PORTS.http)!;
          let a, b;
          try {
            a = await fetchThrough(local, "/");
            assert.equal(a.body, PAGE);
            b = await fetchThrough(local, "/bytes?n=100000&seed=1");
            assert.equal(b.body.length > 0, true);
            await whenStreamsClosed(rec, 2);
          } finally {
            await pf.stop();
          }
          const result = await finished(rec, uploads++);
          assert.equal(result.outcome, "complete", result.reason);
          const { manifest } = await rec.read(result.id!);
          const h = manifest.header!;
          assert.equal(h.kubernetes.sessionType, "portforward");
          assert.equal(h.kubernetes.podName, "web");
          assert.equal(h.kubernetes.namespace, "default");
          assert.equal(h.srcNodeUser, "alice@example.com");
          assert.deepEqual(h.portforward, { ports: [], recordContent: false });

          const { events, data } = await evidence(rec.dir, result.id!);
          assert.equal(data.length, 0, "no content without recordPortForward");
          const opens = events.filter((e) => e.event === "open");
          // One data and one error stream per curl connection, port 8080.
          const dataStreams = opens.filter((e) =>
            e.event === "open" && e.streamType === "data"
          );
          assert.equal(dataStreams.length, 2);
          for (const o of opens) {
            assert.equal(o.event === "open" && o.port, WEB_PORTS.http);
            assert.equal(o.event === "open" && o.by, "client");
          }
          const closes = dataStreams.map((o) =>
            events.find((e) => e.event === "close" && e.stream === o.stream)
          );
          assert.deepEqual(
            closes.map((c) =>
              c?.event === "close" && [c.bytesFromClient, c.bytesFromPod]
            ),
            [[a.sent, a.received], [b.sent, b.received]],
          );
          for (const c of closes) {
            assert.equal(c?.event === "close" && c.atEnd, undefined);
          }

          const end = manifest.end as SessionEnd;
          const pf2 = end.portforward!;
          assert.deepEqual(pf2.ports, [WEB_PORTS.http]);
          assert.equal(pf2.bytesFromClient, a.sent + b.sent);
          // The error streams carry nothing when all went well.
          assert.equal(pf2.bytesFromPod, a.received + b.received);
          assert.equal(pf2.streamCount, opens.length);
          assert.equal(
            pf2.streams.filter((s) => s.streamType === "data").map((s) =>
              s.bytesFromPod
            ).join(),
            [a.received, b.received].join(),
          );
          assert.ok(pf2.durationMs >= 0);
          assert.equal(
            end.protocol,
            client.upgrade === "websocket"
              ? "SPDY/3.1+portforward.k8s.io"
              : "portforward.k8s.io",
          );
          // The recording page has a row per stream with its bytes.
          const res = await fetch(`${rec.url}/ui/r/${result.id}`, {
            headers: { authorization: `Bearer ${VIEWER_TOKEN}` },
          });
          const page = (await res.text()).replace(/>\s+</g, "><");
          assert.equal(res.status, 200);
          assert.match(page, /<section id="portforward">/);
          assert.match(
            page,
            new RegExp(
              `<td>data</td><td>8080</td><td>[^<]*</td><td>[0-9.]+</td><td>[0-9.]+</td><td>${a.sent}</td><td>${a.received}</td>`,
            ),
          );
          // The cast shows a line per event.
          const { cast } = await rec.read(result.id!);
          assert.match(
            cast,
            /port-forward: stream \d+ opened by the client: data, port 8080/,
          );
          assert.match(
            cast,
            new RegExp(
              `closed: ${a.sent} bytes from the client, ${a.received} from the pod`,
            ),
          );
        });
      }
    } finally {
      await pod.close();
      await stack.close();
      await rec.close();
    }
  },
);

Deno.test(
  "a recorded fail-closed port-forward carries 64 MiB from the pod and 8 connections at once, and the recording counts every byte each way",
  opts,
  async () => {
    const rec = await startTestRecorder();
    const stack = await startStack({
      recorderUrls: [rec.url],
      recorderToken: UPLOADER_TOKEN,
    });
    const pod = await startWebPod(stack.cluster);
    try {
      const client = PORT_FORWARD_CLIENTS[2]!;
      const pf = await portForward(stack, "alice", client).forwarding;
      const local = pf.localPorts.get(WEB_PORTS.http)!;
      let seconds = 0;
      try {
        const started = performance.now();
        const big = await fetchThrough(
          local,
          `/bytes?n=${64 * 1024 * 1024}&seed=4`,
        );
        seconds = (performance.now() - started) / 1000;
        assert.equal(big.body.length > 0, true);
        const many = await Promise.all(
          Array.from(
            { length: 8 },
            (_, i) =>
              fetchThrough(local, `/bytes?n=${256 * 1024 + i}&seed=${i}`),
          ),
        );
        const { events } = await (async () => {
          await pf.stop();
          const r = await finished(rec, 0);
          assert.equal(r.outcome, "complete", r.reason);
          const { manifest } = await rec.read(r.id!);
          const end = manifest.end as SessionEnd;
          assert.equal(
            end.portforward!.bytesFromPod,
            big.received + many.reduce((n, m) => n + m.received, 0),
          );
          assert.equal(
            end.portforward!.bytesFromClient,
            big.sent + many.reduce((n, m) => n + m.sent, 0),
          );
          return await evidence(rec.dir, r.id!);
        })();
        assert.equal(
          events.filter((e) => e.event === "open" && e.streamType === "data")
            .length,
          9,
        );
        console.log(
          `64 MiB from the pod through a recorded fail-closed port-forward (${client.name}): ${
            seconds.toFixed(2)
          } s, ${(64 / seconds).toFixed(0)} MiB/s`,
        );
      } finally {
        await pf.stop();
      }
    } finally {
      await pod.close();
      await stack.close();
      await rec.close();
    }
  },
);

Deno.test(
  "kubectl port-forward with recordPortForward records the content both ways",
  opts,
  async () => {
    const rec = await startTestRecorder();
    const stack = await startStack({
      recorderUrls: [rec.url],
      recorderToken: UPLOADER_TOKEN,
      policyFile: `${here}testdata/portforward_content_policy.hujson`,
    });
    const pod = await startWebPod(stack.cluster);
    try {
      const client = PORT_FORWARD_CLIENTS[2]!;
      const pf = await portForward(stack, "alice", client).forwarding;
      let a;
      try {
        a = await fetchThrough(pf.localPorts.get(WEB_PORTS.http)!, "/");
      } finally {
        await pf.stop();
      }
      const result = await finished(rec, 0);
      assert.equal(result.outcome, "complete", result.reason);
      const { data } = await evidence(rec.dir, result.id!);
      const side = (from: number) =>
        new TextDecoder().decode(
          new Uint8Array(
            data.filter((r) => r.payload[0] === from).flatMap((r) => [
              ...r.payload.subarray(5),
            ]),
          ),
        );
      const sent = side(0);
      const got = side(1);
      assert.equal(sent.length, a.sent);
      assert.match(sent, /^GET \/ HTTP\/1\.1\r\n/);
      assert.equal(got.length, a.received);
      assert.ok(got.endsWith(PAGE), got);
    } finally {
      await pod.close();
      await stack.close();
      await rec.close();
    }
  },
);

Deno.test(
  "kubectl port-forward for a fail-closed caller with no recorder is refused, and kubectl says why",
  opts,
  async (t) => {
    const stack = await startStack();
    const pod = await startWebPod(stack.cluster);
    try {
      for (
        const client of [PORT_FORWARD_CLIENTS[0]!, PORT_FORWARD_CLIENTS[2]!]
      ) {
        await t.step(client.name, async () => {
          const { forwarding } = portForward(stack, "alice", client);
          const err = await forwarding.then(
            () => undefined,
            (e: Error) => e,
          );
          assert.ok(err, "kubectl must not listen");
          assert.match(
            err.message,
            /this session must be recorded, but no recorder is reachable/,
          );
          assert.equal(
            stack.cluster.executions().some((e) =>
              e.via === "pods/portforward" &&
              e.impersonateUser === "alice@example.com"
            ),
            false,
            "nothing reached the pod",
          );
        });
      }
    } finally {
      await pod.close();
      await stack.close();
    }
  },
);

Deno.test(
  "kubectl port-forward whose recorder is lost midway: fail closed ends it with the reason on the open stream, fail open forwards on unrecorded",
  opts,
  async (t) => {
    const { startFakeRecorder } = await import(
      "../src/testing/fake_recorder.ts"
    );
    const pod = { close: async () => {} } as { close(): Promise<void> };
    for (const client of [PORT_FORWARD_CLIENTS[0]!, PORT_FORWARD_CLIENTS[2]!]) {
      await t.step(`${client.name}, alice (fail closed)`, async () => {
        const rec = await startFakeRecorder({ token: UPLOADER_TOKEN });
        const stack = await startStack({
          recorderUrls: [rec.url],
          recorderToken: UPLOADER_TOKEN,
        });
        const web = await startWebPod(stack.cluster);
        try {
          const pf = await portForward(stack, "alice", client).forwarding;
          const local = pf.localPorts.get(WEB_PORTS.http)!;
          assert.equal((await fetchThrough(local, "/")).body, PAGE);
          // A slow download in flight when the recorder goes.
          const out = await Deno.makeTempFile({ dir: stack.dir });
          const slow = curl([
            "--limit-rate",
            "1M",
            "-o",
            out,
            `http://127.0.0.1:${local}/bytes?n=${64 * 1024 * 1024}&seed=2`,
          ]);
          // The download's data stream is open (the second one) and bytes
          // flow: fail closed, its opening reached the pod only once
          // acknowledged, so wait for the first bytes at curl (polled).
          await rec.until((u) =>
            u.records.filter((r) =>
              r.type === RecordType.PORTFORWARD &&
              /"event":"open","stream":\d+,"streamType":"data"/.test(
                new TextDecoder().decode(r.payload),
              )
            ).length >= 2
          );
          for (let i = 0; i < 400 && (await Deno.stat(out)).size === 0; i++) {
            await new Promise((r) => setTimeout(r, 25));
          }
          rec.giveUp("the disk is full");
          const cut = await slow;
          assert.notEqual(cut.code, 0, "the download must not complete");
          const exit = await pf.exited;
          assert.match(
            exit.stderr,
            /execgate: port-forward ended: recording failed: .*the disk is full/,
          );
          assert.ok(
            stack.logs.some((l) =>
              l.msg === "port-forward recording failed; ending the connection"
            ),
          );
        } finally {
          await web.close();
          await stack.close();
          await rec.close();
        }
      });
    }
    await t.step("kubectl 1.33, dave (fail open)", async () => {
      const rec = await startFakeRecorder({ token: UPLOADER_TOKEN });
      const stack = await startStack({
        recorderUrls: [rec.url],
        recorderToken: UPLOADER_TOKEN,
      });
      const web = await startWebPod(stack.cluster);
      try {
        const pf = await portForward(stack, "dave", PORT_FORWARD_CLIENTS[2]!)
          .forwarding;
        const local = pf.localPorts.get(WEB_PORTS.http)!;
        try {
          assert.equal((await fetchThrough(local, "/")).body, PAGE);
          await rec.until((u) =>
            u.records.some((r) => r.type === RecordType.PORTFORWARD)
          );
          rec.giveUp("the disk is full");
          // Bounded polling: the proxy logs the failure, then forwards on.
          for (let i = 0; i < 200; i++) {
            if (
              stack.logs.some((l) =>
                l.msg ===
                  "port-forward recording failed; the forward continues unrecorded"
              )
            ) break;
            await new Promise((r) => setTimeout(r, 50));
          }
          assert.ok(
            stack.logs.some((l) =>
              l.msg ===
                "port-forward recording failed; the forward continues unrecorded"
            ),
          );
          assert.equal((await fetchThrough(local, "/")).body, PAGE);
        } finally {
          await pf.stop();
        }
      } finally {
        await web.close();
        await stack.close();
        await rec.close();
      }
    });
    await pod.close();
  },
);
