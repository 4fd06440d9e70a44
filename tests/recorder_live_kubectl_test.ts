/**
 * A real `kubectl exec -i` through the proxy, watched live in the recorder's
 * UI in Chromium: the page opened while the session runs shows what the
 * session prints afterwards, without a reload; a search finds it while the
 * session is still live; the page says when the session has ended.
 */
import assert from "node:assert/strict";
import { launchChromium } from "../src/recorder/_browser_test_util.ts";
import { interactiveKubectl, startStack } from "./_harness.ts";
import {
  startTestRecorder,
  UPLOADER_TOKEN,
  VIEWER_TOKEN,
} from "./_recorder.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const TERMINAL =
  `(document.querySelector(".ap-term, .ap-terminal")?.textContent ?? "")`;

Deno.test(
  "recorder UI: a live kubectl exec plays live in the browser, its output is searchable while it runs, and the page says when it ended",
  opts,
  async () => {
    const rec = await startTestRecorder();
    const stack = await startStack({
      recorderUrls: [rec.url],
      recorderToken: UPLOADER_TOKEN,
    });
    const browser = await launchChromium();
    try {
      const k = interactiveKubectl(stack, "alice", [
        "exec",
        "-i",
        "demo",
        "-c",
        "main",
        "--",
        "sh",
        "-c",
        "echo live-session-started; cat",
      ]);
      await k.waitFor("live-session-started");
      const live = (await rec.list("status=recording"))[0];
      assert.ok(live, "the live session is listed");

      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      await page.goto(`${rec.url}/ui/r/${live.id}`);
      await page.fill("#token", VIEWER_TOKEN);
      await page.click("#login");
      await page.waitForURL(`${rec.url}/ui/r/${live.id}`);
      assert.equal(await page.locator("#live-state").innerText(), "Live");
      await page.waitForFunction(
        `${TERMINAL}.includes("live-session-started")`,
        undefined,
        { timeout: 30_000 },
      );
      await page.evaluate("window.__sameDocument = true");

      // Typed (and echoed by cat) after the page was opened.
      assert.ok(await k.write("typed-after-the-page-opened\n"));
      await k.waitFor("typed-after-the-page-opened");
      await page.waitForFunction(
        `${TERMINAL}.includes("typed-after-the-page-opened")`,
        undefined,
        { timeout: 30_000 },
      );
      assert.equal(await page.evaluate("window.__sameDocument"), true);

      // Still live, and already searchable (the index follows live text).
      const deadline = Date.now() + 30_000;
      for (;;) {
        const found = await rec.list("q=typed-after-the-page");
        if (found[0]?.id === live.id) {
          assert.equal(found[0].status, "recording");
          break;
        }
        assert.ok(Date.now() < deadline, "q never found the live session");
        await new Promise((r) => setTimeout(r, 200));
      }

      // The session ends: the page says so, without a reload.
      await k.closeStdin();
      const done = await k.done();
      assert.equal(done.code, 0, done.stderr);
      assert.equal((await rec.finished(0)).outcome, "complete");
      await page.waitForSelector("#live-state.ended", { timeout: 30_000 });
      assert.equal(await page.locator("#live-state").innerText(), "Ended");
      assert.equal(await page.evaluate("window.__sameDocument"), true);
      assert.ok(
        (await page.evaluate<string>(TERMINAL)).includes(
          "typed-after-the-page-opened",
        ),
      );
      await ctx.close();
    } finally {
      await browser.close();
      await stack.close();
      await rec.close();
    }
  },
);
