import assert from "node:assert/strict";
import { createRecorder, DiskStorage, parseRecorderConfig } from "./mod.ts";
import { parseExposition, sampleValue } from "../testing/prometheus_text.ts";

const VIEWER = "viewer-token-0123456789";
const SCRAPE = "scrape-token-0123456789";
const UPLOADER = "uploader-token-0123456789";

Deno.test("Recorder GET /metrics answers a viewer or a metrics token, nothing else", async () => {
  const dir = await Deno.makeTempDir();
  const r = createRecorder(
    parseRecorderConfig({
      auth: { viewerTokens: [VIEWER], uploaderTokens: [UPLOADER] },
      metrics: { tokens: [SCRAPE] },
    }),
    { storage: new DiskStorage({ dir }) },
  );
  try {
    const get = (path: string, token?: string) =>
      r.app.request(path, {
        headers: token ? { authorization: `Bearer ${token}` } : {},
      });
    for (const token of [VIEWER, SCRAPE]) {
      const res = await get("/metrics", token);
      assert.equal(res.status, 200);
      const e = parseExposition(await res.text());
      assert.equal(sampleValue(e, "execgate_uploads_active"), 0);
    }
    assert.equal((await get("/metrics")).status, 401);
    assert.equal((await get("/metrics", "wrong-token-0123456789")).status, 401);
    assert.equal((await get("/metrics", UPLOADER)).status, 403);
    // The scrape token opens nothing else.
    assert.equal((await get("/v1/recordings", SCRAPE)).status, 401);
    // A listing is timed.
    assert.equal((await get("/v1/recordings?q=x", VIEWER)).status, 200);
    const e = parseExposition(await (await get("/metrics", SCRAPE)).text());
    assert.equal(
      sampleValue(e, "execgate_index_query_seconds_count", { kind: "text" }),
      1,
    );
  } finally {
    await r.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseRecorderConfig refuses a short metrics token", () => {
  assert.throws(
    () => parseRecorderConfig({ metrics: { tokens: ["short"] } }),
    /metrics\.tokens\.0.*16 characters/s,
  );
});
