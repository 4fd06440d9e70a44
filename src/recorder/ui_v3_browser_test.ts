/**
 * The `.cast` download in both asciicast versions (`?format=v2`, the
 * default, and `?format=v3`) over a real recorder: checked by the strict v3
 * reader, and played to the end by asciinema-player in Chromium, for a
 * record-stream recording and a v1 `.cast` one.
 */

import assert from "node:assert/strict";
import { parseRecorderConfig } from "./config.ts";
import { DiskStorage } from "./disk_storage.ts";
import { serveRecorder } from "./serve.ts";
import { buildSession, uploadRecords } from "./_test_records.ts";
import { testHeader } from "./_test_util.ts";
import { makeRecordingId } from "./recording_id.ts";
import { launchChromium } from "./_browser_test_util.ts";
import { VIEWER_COOKIE } from "./auth.ts";
import { exitCodeStatus } from "../k8s/status.ts";
import { castV3ParseStream, parseCastV3 } from "./views/_cast_v3_parse.ts";

const UP = "uploader-token-0123456789";
const VIEW = "viewer-token-0123456789";

/** A recorder holding a record-stream recording (exit 3) and a v1 one (exit 2). */
async function setup() {
  const dir = await Deno.makeTempDir({ prefix: "execgate-rec-v3-" });
  const storage = new DiskStorage({ dir });
  // A v1 recording, as the v1 upload stored it (cast + manifest with end).
  const v1 = makeRecordingId("old-v1", new Date());
  const v1Cast = JSON.stringify(testHeader("old-v1")) + "\n" +
    '[0.1,"o","old v1 \\u001b[1mtimes\\u001b[0m\\r\\n"]\n' +
    '[0.4,"o","second line of v1\\r\\n"]\n';
  const bytes = new TextEncoder().encode(v1Cast);
  const end = {
    sessionId: "old-v1",
    endTime: 1_790_000_000.5,
    reason: "normal" as const,
    exitCode: 2,
    channels: {
      stdout: { bytes: 0, sha256: "" },
      stderr: { bytes: 0, sha256: "" },
    },
    castBytes: bytes.length,
  };
  const manifest = {
    id: v1.id,
    sessionId: "old-v1",
    status: "complete" as const,
    header: testHeader("old-v1"),
    castBytes: bytes.length,
    startedAt: 1,
    updatedAt: 1,
    finishedAt: 1,
    end,
  };
  const w = await storage.create(
    v1,
    { ...manifest, status: "recording" },
    bytes,
  );
  await w.finish(manifest);
  const served = await serveRecorder(
    parseRecorderConfig({
      listen: { hostname: "127.0.0.1", port: 0 },
      auth: { uploaderTokens: [UP], viewerTokens: [VIEW] },
      storage: { kind: "disk", dir },
    }),
    { storage },
  );
  const built = buildSession({
    sessionId: "s-v3",
    tty: true,
    steps: [
      { at: 100, out: 1, data: "hello from \x1b[1;32mv3\x1b[0m\r\n" },
      {
        at: 200,
        resize: JSON.stringify({ Width: 100, Height: 30 }),
        shows: { width: 100, height: 30 },
      },
      { at: 250, marker: "a note" },
      { at: 600, out: 1, data: "second line\r\n" },
      { at: 700, status: JSON.stringify(exitCodeStatus(3)) },
    ],
    endAt: 800,
  });
  const r = await uploadRecords(served.url, UP, "s-v3", built.records);
  assert.equal(r.acks.at(-1)?.complete, true);
  const id = r.acks.at(-1)!.id!;
  return {
    served,
    id,
    v1: v1.id,
    built,
    v1Cast,
    async close() {
      await served.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function download(url: string, query = "") {
  const res = await fetch(url + query, {
    headers: { authorization: `Bearer ${VIEW}` },
  });
  return { res, body: await res.text() };
}

Deno.test("Recorder serves a recording's .cast as asciicast v2 or v3 (?format=), any other format refused naming the parameter", async () => {
  const f = await setup();
  try {
    const base = `${f.served.url}/v1/recordings/${f.id}/cast`;
    const v2 = await download(base);
    assert.equal(v2.res.status, 200);
    assert.equal(v2.body, f.built.cast);
    assert.match(v2.body, /\[0\.8,"m","exit 3"\]\n$/, "the v2 exit marker");
    assert.equal((await download(base, "?format=v2")).body, v2.body);

    const v3 = await download(base, "?format=v3");
    assert.equal(v3.res.status, 200);
    assert.equal(v3.res.headers.get("content-type"), "application/x-asciicast");
    assert.match(
      v3.res.headers.get("content-disposition")!,
      /^attachment; filename="\d{4}-\d{2}-\d{2}-s-v3\.cast"$/,
    );
    // Valid by the letter, streamed through the strict reader.
    const items = await Array.fromAsync(
      new Response(v3.body).body!.pipeThrough(castV3ParseStream()),
    );
    const c = parseCastV3(v3.body);
    assert.equal(items.length, c.events.length + 1);
    assert.deepEqual(c.header.term, { cols: 80, rows: 24 });
    assert.equal(c.header.sessionId, "s-v3");
    assert.deepEqual(
      c.events.map((e) => [e.interval, e.code, e.data]),
      [
        [0.1, "o", "hello from \x1b[1;32mv3\x1b[0m\r\n"],
        [0.1, "r", "100x30"],
        [0.05, "m", "a note"],
        [0.35, "o", "second line\r\n"],
        [0.2, "x", "3"],
      ],
    );

    // A v1 recording: v2 is the stored file, v3 takes the manifest's end.
    const old = `${f.served.url}/v1/recordings/${f.v1}/cast`;
    assert.equal((await download(old)).body, f.v1Cast);
    const oldV3 = parseCastV3((await download(old, "?format=v3")).body);
    assert.deepEqual(
      oldV3.events.map((e) => [Math.round(e.time * 1000), e.code]),
      [[100, "o"], [400, "o"], [500, "x"]],
    );

    for (
      const q of [
        "?format=v4",
        "?format=V3",
        "?format=",
        "?format=v3&format=v2",
      ]
    ) {
      const bad = await download(base, q);
      assert.equal(bad.res.status, 400, q);
      assert.match(
        JSON.parse(bad.body).error,
        /^Query parameter "format" must be "v2" or "v3", not /,
        q,
      );
    }
    // The refusal comes after authentication.
    const anon = await fetch(base + "?format=v4");
    await anon.body?.cancel();
    assert.equal(anon.status, 401);
    // Other downloads take no format.
    assert.equal(
      (await download(
        `${f.served.url}/v1/recordings/${f.id}/stdout`,
        "?format=v3",
      ))
        .res.status,
      200,
    );
  } finally {
    await f.close();
  }
});

Deno.test("asciinema-player in Chromium plays both the v2 and the v3 .cast to the end, showing the recorded text", async () => {
  const f = await setup();
  const browser = await launchChromium();
  try {
    const ctx = await browser.newContext();
    await ctx.addCookies([{
      name: VIEWER_COOKIE,
      value: VIEW,
      url: f.served.url,
    }]);
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    const seen: Record<string, { duration: number; text: string }> = {};
    for (
      const [id, text] of [[f.id, "second line"], [
        f.v1,
        "second line of v1",
      ]] as const
    ) {
      await page.goto(`${f.served.url}/ui/r/${id}`);
      assert.equal(
        await page.getAttribute("#download-v3", "href"),
        `/v1/recordings/${id}/cast?format=v3`,
      );
      for (const fmt of ["v2", "v3"]) {
        const key = `${id} ${fmt}`;
        const el = `p-${fmt}`;
        // A fresh player of the download, as a viewer's own page would make.
        await page.evaluate(`(() => {
          const el = document.createElement("div");
          el.id = ${JSON.stringify(el)};
          document.body.append(el);
          const p = AsciinemaPlayer.create(
            ${JSON.stringify(`/v1/recordings/${id}/cast?format=${fmt}`)},
            el, { autoPlay: true });
          window[${JSON.stringify(`ended-${fmt}`)}] = false;
          p.addEventListener("ended", () => {
            window[${JSON.stringify(`ended-${fmt}`)}] = true;
          });
          window[${JSON.stringify(`player-${fmt}`)}] = p;
        })()`);
        await page.waitForFunction(
          `window[${JSON.stringify(`ended-${fmt}`)}] === true && (document
            .querySelector("#${el} .ap-term, #${el} .ap-terminal")
            ?.textContent ?? "").includes(${JSON.stringify(text)})`,
          undefined,
          { timeout: 30_000 },
        );
        seen[key] = {
          duration: await page.evaluate(
            `window[${JSON.stringify(`player-${fmt}`)}].getDuration()`,
          ) as number,
          text: await page.evaluate(
            `document.querySelector("#${el} .ap-term, #${el} .ap-terminal").textContent`,
          ) as string,
        };
      }
    }
    assert.deepEqual(errors, []);
    // Both versions end on the same screen; a record-stream recording's
    // last as long (v2's exit marker is v3's "x"), a v1 one's v2 is the
    // stored file, without the end v3 takes from the manifest.
    for (const id of [f.id, f.v1]) {
      assert.equal(seen[`${id} v2`]!.text, seen[`${id} v3`]!.text, id);
    }
    assert.ok(seen[`${f.id} v3`]!.text.includes("hello from v3"));
    const near = (a: number, b: number) => Math.abs(a - b) < 1e-6;
    assert.ok(near(seen[`${f.id} v2`]!.duration, 0.8));
    assert.ok(near(seen[`${f.id} v3`]!.duration, 0.8));
    assert.ok(near(seen[`${f.v1} v2`]!.duration, 0.4));
    assert.ok(near(seen[`${f.v1} v3`]!.duration, 0.5));
  } finally {
    await browser.close();
    await f.close();
  }
});
