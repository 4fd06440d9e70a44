/**
 * `/metrics` end to end: real kubectl exec through the proxy to a real
 * recorder, then both `/metrics` scraped (the proxy's on its own listener,
 * the recorder's on its HTTP app) and the counters checked against what
 * happened, by the right amounts.
 */
import assert from "node:assert/strict";
import { kubectl, startStack } from "./_harness.ts";
import {
  startTestRecorder,
  UPLOADER_TOKEN,
  VIEWER_TOKEN,
} from "./_recorder.ts";
import {
  type Exposition,
  parseExposition,
  sampleValue,
} from "../src/testing/prometheus_text.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** 1,000 lines of 92 bytes on stdout. */
const PRINT_100K =
  "i=0; while [ $i -lt 1000 ]; do echo 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghi; i=$((i+1)); done";

async function scrape(url: string, token?: string): Promise<Exposition> {
  const res = await fetch(url, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  const body = await res.text();
  assert.equal(res.status, 200, body);
  assert.equal(
    res.headers.get("content-type"),
    "text/plain; version=0.0.4; charset=utf-8",
  );
  return parseExposition(body);
}

/** Scrapes until `ok` holds (the proxy counts a session once its relay returned). */
async function scrapeUntil(
  url: string,
  ok: (e: Exposition) => boolean,
  token?: string,
): Promise<Exposition> {
  for (let i = 0;; i++) {
    const e = await scrape(url, token);
    if (ok(e)) return e;
    if (i >= 200) return e; // the asserts that follow say what is wrong
    await new Promise((r) => setTimeout(r, 25));
  }
}

const exec = (outcome: string) => ({ type: "exec", outcome });

Deno.test(
  "metrics: a recorded kubectl exec moves the proxy's and the recorder's counters by what happened",
  opts,
  async () => {
    const rec = await startTestRecorder();
    const stack = await startStack({
      recorderUrls: [rec.url],
      recorderToken: UPLOADER_TOKEN,
      metricsAddress: "127.0.0.1:0",
    });
    try {
      const proxyUrl = stack.proxy.metricsUrl! + "/metrics";
      const recUrl = rec.url + "/metrics";
      const p0 = await scrape(proxyUrl);
      const r0 = await scrape(recUrl, VIEWER_TOKEN);
      assert.equal(
        sampleValue(p0, "execgate_sessions_total", exec("normal")),
        0,
      );

      // alice: recorded, fail closed; her recording saw the final Status,
      // so the session ended normal.
      const r = await kubectl(stack, "alice", [
        "exec",
        "-i",
        "demo",
        "--",
        "sh",
        "-c",
        "read line; " + PRINT_100K,
      ], { stdin: "0123456789\n" });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdoutBytes.length, 92_000);
      const upload = await rec.finished(0);
      assert.equal(upload.outcome, "complete", upload.reason);

      const p1 = await scrapeUntil(
        proxyUrl,
        (e) =>
          sampleValue(e, "execgate_sessions_total", exec("normal")) >=
            1,
      );
      assert.equal(
        sampleValue(p1, "execgate_sessions_total", exec("normal")),
        1,
        JSON.stringify(
          p1.samples.filter((x) =>
            x.name === "execgate_sessions_total" && x.value > 0
          ),
        ),
      );
      for (
        const o of [
          "client-closed",
          "upstream-closed",
          "recording-failed",
          "recording-required",
        ]
      ) {
        assert.equal(sampleValue(p1, "execgate_sessions_total", exec(o)), 0, o);
      }
      assert.equal(
        sampleValue(p1, "execgate_sessions_active", { type: "exec" }),
        0,
      );
      const down = sampleValue(p1, "execgate_relayed_bytes_total", {
        direction: "upstream_to_client",
      });
      // The output, plus WebSocket framing, the Status and the 101's rest.
      assert.ok(down >= 92_000 && down < 100_000, String(down));
      // stdin: 11 bytes in at least one frame.
      const up = sampleValue(p1, "execgate_relayed_bytes_total", {
        direction: "client_to_upstream",
      });
      assert.ok(up >= 11 && up < 1000, String(up));
      // Acknowledged session bytes: every record after the header.
      const recorded = sampleValue(p1, "execgate_recorded_bytes_total");
      assert.ok(recorded > 92_000, String(recorded));
      assert.ok(recorded < upload.bodyBytes, `${recorded} ${upload.bodyBytes}`);
      assert.ok(
        sampleValue(p1, "execgate_upload_ack_latency_seconds_count") >= 1,
      );
      for (
        const reason of ["unavailable", "recorder", "protocol", "unfinished"]
      ) {
        assert.equal(
          sampleValue(p1, "execgate_recording_failures_total", { reason }),
          0,
          reason,
        );
      }

      const r1 = await scrape(recUrl, VIEWER_TOKEN);
      const delta = (name: string, labels?: Record<string, string>) =>
        sampleValue(r1, name, labels) - sampleValue(r0, name, labels);
      assert.equal(
        delta("execgate_recordings_total", { status: "complete" }),
        1,
      );
      assert.equal(
        delta("execgate_recordings_total", { status: "partial" }),
        0,
      );
      assert.equal(delta("execgate_ingested_bytes_total"), upload.bodyBytes);
      assert.equal(sampleValue(r1, "execgate_uploads_active"), 0);
      assert.ok(delta("execgate_recorder_ack_latency_seconds_count") >= 1);

      // bob: not recorded; relayed and counted, nothing recorded.
      const b = await kubectl(stack, "bob", [
        "exec",
        "demo",
        "--",
        "echo",
        "hi",
      ]);
      assert.equal(b.code, 0, b.stderr);
      const p2 = await scrapeUntil(
        proxyUrl,
        (e) =>
          sampleValue(e, "execgate_sessions_total", exec("upstream-closed")) >=
            1,
      );
      // Unrecorded, nothing read its Status: the relay says who closed.
      assert.equal(
        sampleValue(p2, "execgate_sessions_total", exec("upstream-closed")),
        1,
      );
      assert.equal(
        sampleValue(p2, "execgate_sessions_total", exec("normal")),
        1,
      );
      assert.equal(sampleValue(p2, "execgate_recorded_bytes_total"), recorded);

      // Index queries, by kind.
      await rec.list();
      await rec.list("q=abcdefghi");
      const r2 = await scrape(recUrl, VIEWER_TOKEN);
      const q = (kind: string) =>
        sampleValue(r2, "execgate_index_query_seconds_count", { kind }) -
        sampleValue(r1, "execgate_index_query_seconds_count", { kind });
      assert.equal(q("list"), 1);
      assert.equal(q("text"), 1);
    } finally {
      await stack.close();
      await rec.close();
    }
  },
);

Deno.test(
  "metrics: the proxy's /metrics is never answered on its API port, and the recorder's needs a credential",
  opts,
  async () => {
    const rec = await startTestRecorder();
    const stack = await startStack({ metricsAddress: "127.0.0.1:0" });
    try {
      // On the API port /metrics is a Kubernetes path: forwarded upstream as
      // the caller, whatever the cluster answers.
      const api = await kubectl(stack, "bob", ["get", "--raw", "/metrics"]);
      assert.ok(!api.stdout.includes("execgate_"), api.stdout.slice(0, 300));
      // The ops listener serves /metrics, /healthz and /readyz only.
      for (const path of ["/healthz", "/readyz"]) {
        const res = await fetch(stack.proxy.metricsUrl! + path);
        assert.equal(res.status, 200, path);
        assert.equal(await res.text(), "ok\n");
      }
      const other = await fetch(stack.proxy.metricsUrl! + "/api/v1/pods");
      assert.equal(other.status, 404);
      await other.body?.cancel();
      const post = await fetch(stack.proxy.metricsUrl! + "/metrics", {
        method: "POST",
      });
      assert.equal(post.status, 405);
      await post.body?.cancel();
      // The recorder's: no credential, an uploader's: refused.
      const none = await fetch(rec.url + "/metrics");
      assert.equal(none.status, 401);
      await none.body?.cancel();
      const up = await fetch(rec.url + "/metrics", {
        headers: { authorization: `Bearer ${UPLOADER_TOKEN}` },
      });
      assert.equal(up.status, 403);
      await up.body?.cancel();
    } finally {
      await stack.close();
      await rec.close();
    }
  },
);

Deno.test(
  "metrics: a fail-closed exec with no recorder up counts a refused session and an unavailable recorder",
  opts,
  async () => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const closed = `http://127.0.0.1:${(l.addr as Deno.NetAddr).port}`;
    l.close();
    const stack = await startStack({
      recorderUrls: [closed],
      recorderToken: UPLOADER_TOKEN,
      metricsAddress: "127.0.0.1:0",
      recording: { connectTimeoutMs: 2000 },
    });
    try {
      const r = await kubectl(stack, "alice", [
        "exec",
        "demo",
        "--",
        "echo",
        "x",
      ]);
      assert.notEqual(r.code, 0);
      const e = await scrapeUntil(
        stack.proxy.metricsUrl! + "/metrics",
        (e) =>
          sampleValue(
            e,
            "execgate_sessions_total",
            exec("recording-required"),
          ) >=
            1,
      );
      // kubectl may retry over SPDY after the WebSocket refusal: each
      // attempt is a refused session.
      const refused = sampleValue(
        e,
        "execgate_sessions_total",
        exec("recording-required"),
      );
      assert.ok(refused >= 1 && refused <= 2, String(refused));
      assert.equal(
        sampleValue(e, "execgate_recording_failures_total", {
          reason: "unavailable",
        }),
        refused,
      );
      for (const o of ["normal", "upstream-closed"]) {
        assert.equal(sampleValue(e, "execgate_sessions_total", exec(o)), 0);
      }
      assert.equal(
        sampleValue(e, "execgate_sessions_active", { type: "exec" }),
        0,
      );
    } finally {
      await stack.close();
    }
  },
);

Deno.test(
  "metrics: policy reloads count ok and failed, and a broken file keeps the old policy",
  opts,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "execgate-metrics-" });
    const file = `${dir}/policy.hujson`;
    const good = await Deno.readTextFile(
      new URL("./testdata/policy.hujson", import.meta.url),
    );
    await Deno.writeTextFile(file, good);
    const stack = await startStack({
      policyFile: file,
      metricsAddress: "127.0.0.1:0",
    });
    const url = stack.proxy.metricsUrl! + "/metrics";
    const reloads = (e: Exposition, result: string) =>
      sampleValue(e, "execgate_policy_reloads_total", { result });
    try {
      const e0 = await scrape(url);
      assert.equal(reloads(e0, "ok"), 0);
      assert.equal(reloads(e0, "failed"), 0);
      // Replaced whole (as editors and ConfigMaps do), so the watcher never
      // reads half a file.
      const replace = async (text: string) => {
        await Deno.writeTextFile(`${dir}/next.tmp`, text);
        await Deno.rename(`${dir}/next.tmp`, file);
      };
      await replace(good + "\n{ not a policy");
      const e1 = await scrapeUntil(url, (e) => reloads(e, "failed") >= 1);
      assert.equal(reloads(e1, "failed"), 1);
      assert.equal(reloads(e1, "ok"), 0);
      // bob still gets what the old policy gave him.
      const b = await kubectl(stack, "bob", ["auth", "whoami"]);
      assert.equal(b.code, 0, b.stderr);
      await replace(good + "\n// changed\n");
      const e2 = await scrapeUntil(url, (e) => reloads(e, "ok") >= 1);
      assert.equal(reloads(e2, "ok"), 1);
      assert.equal(reloads(e2, "failed"), 1);
    } finally {
      await stack.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "metrics: fail-open API events lost with the recorder down are counted dropped",
  opts,
  async () => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const closed = `http://127.0.0.1:${(l.addr as Deno.NetAddr).port}`;
    l.close();
    const stack = await startStack({
      recorderUrls: [closed],
      recorderToken: UPLOADER_TOKEN,
      policyFile: new URL("./testdata/events_policy.hujson", import.meta.url)
        .pathname,
      metricsAddress: "127.0.0.1:0",
      recording: { connectTimeoutMs: 1000, ackTimeoutMs: 2000 },
    });
    try {
      const url = stack.proxy.metricsUrl! + "/metrics";
      assert.equal(
        sampleValue(await scrape(url), "execgate_events_dropped_total"),
        0,
      );
      // dave: events enabled, fail open; every request's event is lost.
      const r = await kubectl(stack, "dave", ["get", "pods"]);
      assert.equal(r.code, 0, r.stderr);
      const e = await scrapeUntil(
        url,
        (e) => sampleValue(e, "execgate_events_dropped_total") >= 1,
      );
      const lost = stack.logs.find((x) =>
        x.msg === "API events are being lost (fail open)"
      );
      assert.ok(lost, "the loss is logged");
      assert.ok(sampleValue(e, "execgate_events_dropped_total") >= 1);
      // Nothing waits any more once the events are counted lost.
      await scrapeUntil(
        url,
        (e) => sampleValue(e, "execgate_events_queued") === 0,
      );
    } finally {
      await stack.close();
    }
  },
);
