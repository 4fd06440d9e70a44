import assert from "node:assert/strict";
import { parseRecorderConfig } from "./config.ts";
import { DiskStorage } from "./disk_storage.ts";
import { serveRecorder } from "./serve.ts";
import { buildSession, uploadRecords } from "./_test_records.ts";
import {
  launchChromium,
  viewRecordingInBrowser,
} from "./_browser_test_util.ts";

const UP = "uploader-token-0123456789";
const VIEW = "viewer-token-0123456789";

Deno.test("Recorder UI in Chromium: refuses missing and wrong credentials, logs in, filters by pod, plays the session", async () => {
  const dir = await Deno.makeTempDir({ prefix: "execgate-rec-ui-" });
  const served = await serveRecorder(
    parseRecorderConfig({
      listen: { hostname: "127.0.0.1", port: 0 },
      auth: { uploaderTokens: [UP], viewerTokens: [VIEW] },
      storage: { kind: "disk", dir },
    }),
    { storage: new DiskStorage({ dir }) },
  );
  const browser = await launchChromium();
  try {
    const sessions: [string, string, string][] = [
      ["s-web", "web-0", "nothing to see"],
      ["s-db", "db-0", "the \x1b[1;31mdatabase\x1b[0m says hello"],
    ];
    for (const [sid, pod, out] of sessions) {
      const built = buildSession({
        sessionId: sid,
        podName: pod,
        tty: false,
        steps: [{ at: 50, out: 1, data: out + "\n" }, {
          at: 100,
          out: 1,
          data: "$ ",
        }],
        endAt: 150,
      });
      const r = await uploadRecords(served.url, UP, sid, built.records);
      assert.equal(r.acks.at(-1)?.complete, true);
    }
    const seen = await viewRecordingInBrowser({
      baseUrl: served.url,
      viewerToken: VIEW,
      pod: "db-0",
      expectText: "database says hello",
      browser,
    });
    assert.equal(seen.anonymousStatus, 401);
    assert.equal(seen.wrongTokenStatus, 401);
    assert.match(seen.sessionUrl, /\/ui\/r\/\d{4}\/\d{2}\/\d{2}\/s-db$/);
    assert.ok(seen.terminalText.includes("database says hello"));
    assert.match(
      seen.downloadHref,
      /^\/v1\/recordings\/\d{4}\/\d{2}\/\d{2}\/s-db\/cast$/,
    );

    // An uploader token is refused at the login form.
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${served.url}/ui`);
    await page.fill("#token", UP);
    const [res] = await Promise.all([
      page.waitForNavigation(),
      page.click("#login"),
    ]);
    assert.equal(res?.status(), 403);
    assert.match(
      await page.textContent("#login-error") ?? "",
      /uploader token cannot view/,
    );
    // A page deep link without the cookie is refused too.
    const deep = await page.goto(
      `${served.url}${seen.sessionUrl.replace(/^https?:\/\/[^/]+/, "")}`,
    );
    assert.equal(deep?.status(), 401);
    await ctx.close();
  } finally {
    await browser.close();
    await served.close();
    await Deno.remove(dir, { recursive: true });
  }
});
