/**
 * The recorder UI in Chromium plays a live session live: the page of a
 * running session shows output stored after the page was opened, without a
 * reload, and says when the session has ended.
 */
import assert from "node:assert/strict";
import { parseRecorderConfig } from "./config.ts";
import { serveRecorder } from "./serve.ts";
import { buildSession } from "./_test_records.ts";
import { launchChromium } from "./_browser_test_util.ts";
import {
  RECORDS_CONTENT_TYPE,
  RECORDS_UPLOAD_PATH,
} from "../protocol/records.ts";
import { SESSION_HEADER } from "../recording/wire.ts";

const UP = "uploader-token-0123456789";
const VIEW = "viewer-token-0123456789";
const TERMINAL = `document.querySelector(".ap-term, .ap-terminal")`;

Deno.test("Recorder UI in Chromium: a live session's page shows output printed after it was opened, without reload, and says when it ended", async () => {
  const dir = await Deno.makeTempDir({ prefix: "execgate-rec-live-ui-" });
  const served = await serveRecorder(parseRecorderConfig({
    listen: { hostname: "127.0.0.1", port: 0 },
    auth: { uploaderTokens: [UP], viewerTokens: [VIEW] },
    storage: { kind: "disk", dir },
    ackIntervalMs: 50,
  }));
  const browser = await launchChromium();
  try {
    const built = buildSession({
      sessionId: "live-ui",
      tty: true,
      steps: [
        { at: 5, out: 1, data: "root@pod:/# " },
        {
          at: 30_000,
          out: 1,
          data: "echo late\r\nprinted-after-open\r\nroot@pod:/# ",
        },
      ],
      endAt: 60_000,
    });
    // The records before the end: header and the prompt, then the rest.
    const all = built.beforeEnd;
    const recordEnd = (off: number) =>
      off + 13 + new DataView(all.buffer, all.byteOffset + off).getUint32(9);
    const split = recordEnd(recordEnd(0));
    let push!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({ start: (c) => push = c });
    const res = await fetch(served.url + RECORDS_UPLOAD_PATH, {
      method: "POST",
      headers: {
        "content-type": RECORDS_CONTENT_TYPE,
        authorization: `Bearer ${UP}`,
        [SESSION_HEADER]: "live-ui",
      },
      body,
      duplex: "half",
    } as RequestInit);
    push.enqueue(all.subarray(0, split));
    const items = async () =>
      (await (await fetch(`${served.url}/v1/recordings`, {
        headers: { authorization: `Bearer ${VIEW}` },
      })).json()).items as { id: string; status: string }[];
    let id: string | undefined;
    while (!id) id = (await items())[0]?.id;

    const ctx = await browser.newContext({
      viewport: { width: 1280, height: 800 },
    });
    const page = await ctx.newPage();
    await page.goto(`${served.url}/ui/r/${id}`);
    await page.fill("#token", VIEW);
    await page.click("#login");
    await page.waitForURL(`${served.url}/ui/r/${id}`);
    assert.equal(await page.locator("#live-state").innerText(), "Live");
    await page.waitForFunction(
      `(${TERMINAL}?.textContent ?? "").includes("root@pod:/#")`,
      undefined,
      { timeout: 30_000 },
    );
    // Marks this document: a reload would lose the mark.
    await page.evaluate("window.__sameDocument = true");

    // Printed after the page was opened.
    push.enqueue(all.subarray(split));
    await page.waitForFunction(
      `(${TERMINAL}?.textContent ?? "").includes("printed-after-open")`,
      undefined,
      { timeout: 30_000 },
    );
    assert.equal(await page.evaluate("window.__sameDocument"), true);

    // The session ends: the page says so and links the finished view; the
    // last screen stays in view (the player's opaque overlay is hidden).
    push.enqueue(built.endRecord);
    push.close();
    const acks = res.body!.getReader();
    while (!(await acks.read()).done) { /* to the end */ }
    await page.waitForSelector("#live-state.ended", { timeout: 30_000 });
    assert.equal(await page.locator("#live-state").innerText(), "Ended");
    assert.equal(
      await page.locator("#finished").innerText(),
      "Show the finished recording",
    );
    assert.equal(await page.locator(".ap-overlay-info").isVisible(), false);
    assert.ok(await page.getByText("printed-after-open").isVisible());
    assert.equal(await page.evaluate("window.__sameDocument"), true);
    assert.ok(
      (await page.evaluate<string>(`${TERMINAL}.textContent`)).includes(
        "printed-after-open",
      ),
    );
    // The finished view: the recording, no live line.
    await page.click("#finished");
    await page.waitForFunction(
      `(${TERMINAL}?.textContent ?? "").includes("printed-after-open")`,
      undefined,
      { timeout: 30_000 },
    );
    assert.equal(await page.locator("#live-state").count(), 0);
    assert.match(await page.locator("#meta").innerText(), /complete/);
    await ctx.close();
  } finally {
    await browser.close();
    await served.close();
    await Deno.remove(dir, { recursive: true });
  }
});
