/**
 * The recorder's web UI in a real browser, showing a session that real
 * kubectl made through the proxy.
 */
import assert from "node:assert/strict";
import { viewRecordingInBrowser } from "../src/recorder/_browser_test_util.ts";
import { kubectl, startStack } from "./_harness.ts";
import {
  startTestRecorder,
  UPLOADER_TOKEN,
  VIEWER_TOKEN,
} from "./_recorder.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "recorder UI: filter by pod, open a kubectl session, see its output in the player",
  opts,
  async () => {
    const rec = await startTestRecorder();
    const stack = await startStack({
      recorderUrls: [rec.url],
      recorderToken: UPLOADER_TOKEN,
    });
    try {
      stack.cluster.createPod({
        name: "web-ui-pod",
        containers: [{
          name: "app",
          image: "busybox",
          command: ["sleep", "600"],
        }],
      });
      await stack.cluster.waitForPod("default", "web-ui-pod");
      const r = await kubectl(stack, "alice", [
        "exec",
        "web-ui-pod",
        "--",
        "sh",
        "-c",
        "echo shown-in-the-browser",
      ]);
      assert.equal(r.code, 0, r.stderr);
      // Another recorded session in another pod, which the filter must hide.
      await kubectl(stack, "alice", [
        "exec",
        "demo",
        "--",
        "echo",
        "other-pod",
      ]);
      assert.equal((await rec.finished(0)).outcome, "complete");
      assert.equal((await rec.finished(1)).outcome, "complete");

      const seen = await viewRecordingInBrowser({
        baseUrl: rec.url,
        viewerToken: VIEWER_TOKEN,
        pod: "web-ui-pod",
        expectText: "shown-in-the-browser",
      });
      assert.equal(seen.anonymousStatus, 401);
      assert.equal(seen.wrongTokenStatus, 401);
      assert.match(seen.terminalText, /shown-in-the-browser/);
      assert.ok(!seen.terminalText.includes("other-pod"));
      assert.match(seen.downloadHref, /\/cast$/);
      // An uploader cannot read.
      const asUploader = await fetch(`${rec.url}/v1/recordings`, {
        headers: { authorization: `Bearer ${UPLOADER_TOKEN}` },
      });
      assert.equal(asUploader.status, 403);
      await asUploader.body?.cancel();
    } finally {
      await stack.close();
      await rec.close();
    }
  },
);
