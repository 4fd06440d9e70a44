/**
 * The recorder UI in Chromium: a moderator ends a live session from its
 * page (the uploader, standing in for the proxy, is told on its
 * acknowledgement stream, and the recording names the moderator); a viewer
 * sees no such button and cannot post it.
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
const MOD = "moderator-token-0123456789";

Deno.test("Recorder UI in Chromium: a moderator ends a live session; a viewer cannot", async () => {
  const dir = await Deno.makeTempDir({ prefix: "execgate-rec-mod-" });
  const served = await serveRecorder(parseRecorderConfig({
    listen: { hostname: "127.0.0.1", port: 0 },
    auth: {
      uploaderTokens: [UP],
      viewerTokens: [VIEW],
      moderators: [{ name: "mod-mallory", token: MOD }],
    },
    storage: { kind: "disk", dir },
    ackIntervalMs: 50,
  }));
  const browser = await launchChromium();
  try {
    // A live upload: header and some output, the body kept open.
    const built = buildSession({
      sessionId: "live",
      tty: true,
      steps: [{ at: 5, out: 1, data: "root@pod:/# " }],
      endAt: 10,
    });
    let push!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({ start: (c) => push = c });
    const res = await fetch(served.url + RECORDS_UPLOAD_PATH, {
      method: "POST",
      headers: {
        "content-type": RECORDS_CONTENT_TYPE,
        authorization: `Bearer ${UP}`,
        [SESSION_HEADER]: "live",
      },
      body,
      duplex: "half",
    } as RequestInit);
    push.enqueue(built.beforeEnd);
    const acks = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let ackText = "";
    const terminateLine = (async () => {
      for (;;) {
        const r = await acks.read();
        if (r.done) return undefined;
        ackText += r.value;
        const line = ackText.split("\n").find((l) => l.includes("terminate"));
        if (line) return JSON.parse(line);
      }
    })();
    const items = async () =>
      (await (await fetch(`${served.url}/v1/recordings`, {
        headers: { authorization: `Bearer ${VIEW}` },
      })).json()).items as { id: string; status: string }[];
    let id: string | undefined;
    while (!id) id = (await items())[0]?.id;
    const login = async (token: string) => {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      await page.goto(`${served.url}/ui/r/${id}`);
      await page.fill("input[name=token]", token);
      await page.click("button[type=submit]");
      await page.waitForURL(`${served.url}/ui/r/${id}`);
      return { ctx, page };
    };
    // A viewer: no button; a forged post is refused.
    const viewer = await login(VIEW);
    assert.equal(await viewer.page.locator("form#terminate").count(), 0);
    const forged = await viewer.page.evaluate(async (url) => {
      const r = await fetch(url, {
        method: "POST",
        body: new URLSearchParams({ reason: "x" }),
      });
      return r.status;
    }, `${served.url}/ui/r/${id}/terminate`);
    assert.equal(forged, 403);
    await viewer.ctx.close();
    // The moderator: ends it with a reason.
    const mod = await login(MOD);
    await mod.page.fill("form#terminate input[name=reason]", "policy review");
    await mod.page.click("form#terminate button[type=submit]");
    await mod.page.waitForURL(`${served.url}/ui/r/${id}`);
    const told = await terminateLine;
    assert.deepEqual(told?.terminate, {
      by: "mod-mallory",
      reason: "policy review",
    });
    // The uploader (the proxy) then ends the upload; the recording says who.
    push.enqueue(built.endRecord);
    push.close();
    for (;;) {
      const r = await acks.read();
      if (r.done) break;
    }
    const man = await (await fetch(`${served.url}/v1/recordings/${id}`, {
      headers: { authorization: `Bearer ${VIEW}` },
    })).json();
    assert.equal(man.terminated.by, "mod-mallory");
    assert.equal(man.terminated.reason, "policy review");
    await mod.page.reload();
    assert.match(
      await mod.page.locator("#meta").innerText(),
      /mod-mallory: policy review/,
    );
    assert.equal(await mod.page.locator("form#terminate").count(), 0);
    await mod.ctx.close();
  } finally {
    await browser.close();
    await served.close();
    await Deno.remove(dir, { recursive: true });
  }
});
