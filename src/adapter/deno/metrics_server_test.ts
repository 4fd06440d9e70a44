import assert from "node:assert/strict";
import { Registry } from "../../metrics/registry.ts";
import { metricsHandler } from "../../metrics/metrics_handler.ts";
import { parseHostPort, serveMetrics } from "./metrics_server.ts";

Deno.test("parseHostPort reads host:port and [v6]:port, and refuses the rest", () => {
  assert.deepEqual(parseHostPort("127.0.0.1:9090"), {
    host: "127.0.0.1",
    port: 9090,
  });
  assert.deepEqual(parseHostPort("[::1]:0"), { host: "::1", port: 0 });
  assert.deepEqual(parseHostPort("metrics.local:65535"), {
    host: "metrics.local",
    port: 65535,
  });
  for (
    const bad of [
      "",
      "9090",
      ":9090",
      "127.0.0.1",
      "127.0.0.1:",
      "127.0.0.1:65536",
      "127.0.0.1:123456",
      "::1:9090",
      "[::1]9090",
      "a b:1",
      "127.0.0.1:90 ",
    ]
  ) {
    assert.throws(() => parseHostPort(bad), /expected host:port/, bad);
  }
});

Deno.test("serveMetrics serves the registry on its own port and closes", async () => {
  const r = new Registry();
  r.counter({ name: "served_total", help: "S." }).inc(3);
  const s = await serveMetrics(metricsHandler(r), {
    host: "127.0.0.1",
    port: 0,
  });
  try {
    const res = await fetch(s.url + "/metrics");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.match(await res.text(), /^served_total 3$/m);
    const head = await fetch(s.url + "/metrics", { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
    const nf = await fetch(s.url + "/metrics/");
    assert.equal(nf.status, 404);
    await nf.body?.cancel();
  } finally {
    await s.close();
  }
  await assert.rejects(fetch(s.url + "/metrics"));
});

Deno.test("the metrics listener answers /healthz, and /readyz as ready() says", async () => {
  let ready = false;
  const s = await serveMetrics(
    metricsHandler(new Registry(), { ready: () => ready }),
    { host: "127.0.0.1", port: 0 },
  );
  try {
    const get = async (path: string) => {
      const res = await fetch(s.url + path);
      return [res.status, await res.text()];
    };
    assert.deepEqual(await get("/healthz"), [200, "ok\n"]);
    assert.deepEqual(await get("/readyz"), [503, "not ready\n"]);
    ready = true;
    assert.deepEqual(await get("/readyz"), [200, "ok\n"]);
    const post = await fetch(s.url + "/readyz", { method: "POST" });
    assert.equal(post.status, 405);
    await post.body?.cancel();
  } finally {
    await s.close();
  }
});
