import assert from "node:assert/strict";
import { parseRecorderConfig } from "./config.ts";
import { DiskStorage } from "./disk_storage.ts";
import { serveRecorder } from "./serve.ts";
import { buildSession, endRecordOf, uploadRecords } from "./_test_records.ts";
import {
  launchChromium,
  viewRecordingInBrowser,
} from "./_browser_test_util.ts";
import type { Page } from "playwright-core";
import { encodeRecord, RecordType } from "../protocol/records.ts";
import { concatBytes } from "../bytes.ts";
import { VIEWER_COOKIE } from "./auth.ts";

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

// ---------------------------------------------------------------------------
// Found by trying the UI as a new user: each fix, seen in Chromium.

/** Noon UTC of the day every dated session below falls on. */
const DAY = "2026-11-27";
const T0 = Date.UTC(2026, 10, 27, 12) / 1000;

/** One session to upload, with the header fields the UI shows. */
interface UiSession {
  sessionId: string;
  /** Header `timestamp`, Unix seconds. */
  at: number;
  pod: string;
  sessionType?: "exec" | "attach";
  argv?: string[];
  container?: string;
  /** Output lines and terminal sizes, `atMs` after the start. */
  steps?: ({ atMs: number; out: string } | {
    atMs: number;
    size: [number, number];
  })[];
  /** The end record; `false`: the upload stays open (a live recording). */
  end:
    | false
    | {
      atMs: number;
      reason: "normal" | "refused";
      exitCode?: number;
      upstream?: { status: number; message: string };
    };
}

const utf8 = new TextEncoder();

async function sha256Hex(data: Uint8Array): Promise<string> {
  const d = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new Uint8Array(data)),
  );
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The record stream of a session: before the end record, and the end. */
async function recordsOf(
  s: UiSession,
): Promise<{ body: Uint8Array; end?: Uint8Array }> {
  const argv = s.argv ?? [];
  const header = {
    version: 2,
    width: 80,
    height: 24,
    timestamp: s.at,
    command: argv.join(" "),
    argv,
    tty: true,
    srcNode: "laptop",
    srcNodeID: "n1",
    srcNodeUserID: "u1",
    srcNodeUser: "alice@example.com",
    kubernetes: {
      podName: s.pod,
      namespace: "default",
      container: s.container ?? "main",
      sessionType: s.sessionType ?? "exec",
    },
    proxy: "proxy-1",
    sessionId: s.sessionId,
  };
  const parts = [
    encodeRecord(RecordType.HEADER, 0, utf8.encode(JSON.stringify(header))),
  ];
  const stdout: Uint8Array[] = [];
  for (const step of s.steps ?? []) {
    if ("out" in step) {
      const data = utf8.encode(step.out);
      stdout.push(data);
      parts.push(encodeRecord(RecordType.STDOUT, step.atMs * 1000, data));
    } else {
      const [Width, Height] = step.size;
      parts.push(
        encodeRecord(
          RecordType.RESIZE,
          step.atMs * 1000,
          utf8.encode(JSON.stringify({ Width, Height })),
        ),
      );
    }
  }
  const body = concatBytes(parts);
  if (s.end === false) return { body };
  const out = concatBytes(stdout);
  const end = {
    sessionId: s.sessionId,
    endTime: s.at + s.end.atMs / 1000,
    reason: s.end.reason,
    ...(s.end.exitCode === undefined ? {} : { exitCode: s.end.exitCode }),
    ...(s.end.upstream ? { upstream: s.end.upstream } : {}),
    channels: {
      stdout: { bytes: out.length, sha256: await sha256Hex(out) },
      stderr: { bytes: 0, sha256: await sha256Hex(new Uint8Array(0)) },
    },
    castBytes: body.length,
  };
  return { body, end: endRecordOf(end, s.end.atMs) };
}

const REFUSAL =
  'pods "db-0" is forbidden: User "alice@example.com" cannot create resource "pods/exec"';

/** Newest first, as the list shows them. */
const UI_SESSIONS: UiSession[] = [
  {
    sessionId: "s-next-day",
    at: Date.UTC(2026, 10, 28) / 1000,
    pod: "web-0",
    argv: ["date"],
    end: { atMs: 10, reason: "normal", exitCode: 0 },
  },
  {
    sessionId: "s-live",
    at: T0 + 100,
    pod: "live-0",
    argv: ["top"],
    steps: [{ atMs: 5, out: "still running\r\n" }],
    end: false,
  },
  {
    sessionId: "s-big",
    at: T0 + 40,
    pod: "big-0",
    argv: ["htop"],
    steps: [
      { atMs: 1, size: [140, 40] },
      ...Array.from({ length: 40 }, (_, i) => ({
        atMs: 10 + i,
        out: `row ${String(i + 1).padStart(2, "0")} ${"=".repeat(120)}` +
          (i < 39 ? "\r\n" : ""),
      })),
    ],
    end: { atMs: 100, reason: "normal", exitCode: 0 },
  },
  {
    sessionId: "s-refused",
    at: T0 + 30,
    pod: "db-0",
    // One long word: what made the table wider than a phone.
    argv: [
      "psql",
      "postgresql://reporting-readonly@db-0.db.default.svc.cluster.local:5432/analytics?sslmode=require",
    ],
    end: {
      atMs: 20,
      reason: "refused",
      upstream: { status: 403, message: REFUSAL },
    },
  },
  {
    sessionId: "s-attach",
    at: T0 + 20,
    pod: "web-0",
    sessionType: "attach",
    container: "debugger-abc",
    steps: [{ atMs: 5, out: "/ # " }],
    end: { atMs: 3000, reason: "normal", exitCode: 0 },
  },
  {
    sessionId: "s-exec",
    at: T0 + 10,
    pod: "web-0",
    argv: ["sh", "-c", "echo hello"],
    steps: [{ atMs: 5, out: "hello\r\n" }],
    end: { atMs: 65_000, reason: "normal", exitCode: 0 },
  },
  {
    sessionId: "s-prev-day",
    at: Date.UTC(2026, 10, 27) / 1000 - 1,
    pod: "web-0",
    argv: ["uptime"],
    end: { atMs: 10, reason: "normal", exitCode: 0 },
  },
];

const ALL_IDS = UI_SESSIONS.map((s) => s.sessionId);

/** The session ids of the table's rows, top to bottom. */
async function rowIds(page: Page): Promise<string[]> {
  const ids = await inPage<string[]>(
    page,
    `[...document.querySelectorAll("#recordings tr.rec")].map((r) => r.dataset.id)`,
  );
  return ids.map((id) => id.split("/").at(-1)!);
}

/** The text of one cell (`td.<cls>`) of a session's row. */
async function cell(page: Page, sid: string, cls: string): Promise<string> {
  // innerText: a <br> counts as a line break, as a reader sees it.
  const text = await page.innerText(
    `#recordings tr.rec[data-id$="/${sid}"] td.${cls}`,
  );
  return text.replace(/\s+/g, " ").trim();
}

/** Logs in with the form on the current (401) page; waits for the page after. */
async function logIn(page: Page, token: string): Promise<void> {
  await page.fill("#token", token);
  await Promise.all([page.waitForNavigation(), page.click("#login")]);
}

/** Runs a function in the page (a string, so it is not type checked as Deno code). */
async function inPage<T>(page: Page, fn: string): Promise<T> {
  return await page.evaluate(fn) as T;
}

Deno.test("Recorder UI in Chromium: what a new user tripped on (days, hints, login return, columns, player fit, phone width, pages, icon, placeholder)", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "execgate-rec-ui-" });
  const served = await serveRecorder(
    parseRecorderConfig({
      listen: { hostname: "127.0.0.1", port: 0 },
      auth: { uploaderTokens: [UP], viewerTokens: [VIEW] },
      storage: { kind: "disk", dir },
    }),
    { storage: new DiskStorage({ dir }) },
  );
  const base = served.url;
  let hold!: ReadableStreamDefaultController<Uint8Array>;
  let live: Promise<unknown> = Promise.resolve();
  const browser = await launchChromium();
  try {
    for (const s of UI_SESSIONS) {
      const { body, end } = await recordsOf(s);
      if (end) {
        const r = await uploadRecords(
          base,
          UP,
          s.sessionId,
          concatBytes([
            body,
            end,
          ]),
        );
        assert.equal(r.acks.at(-1)?.done, true, s.sessionId);
        continue;
      }
      live = uploadRecords(
        base,
        UP,
        s.sessionId,
        new ReadableStream<Uint8Array>({
          start(c) {
            hold = c;
            c.enqueue(body);
          },
        }),
      );
    }
    // The live upload is listed once its header is stored.
    const api = (path: string) =>
      fetch(base + path, { headers: { authorization: `Bearer ${VIEW}` } })
        .then((r) => r.json());
    for (let i = 0;; i++) {
      const list = await api("/v1/recordings?status=recording");
      if (list.items.length === 1) break;
      assert.ok(i < 200, "the live recording was never listed");
      await new Promise((r) => setTimeout(r, 25));
    }
    const listed = await api("/v1/recordings");
    assert.deepEqual(
      listed.items.map((m: { sessionId: string }) => m.sessionId),
      ALL_IDS,
    );

    const ctx = await browser.newContext({
      viewport: { width: 1280, height: 800 },
    });
    // Logged in without the form, so no step depends on another.
    await ctx.addCookies([{ name: VIEWER_COOKIE, value: VIEW, url: base }]);
    const page = await ctx.newPage();

    await t.step("login returns to the page and query asked for", async () => {
      const c = await browser.newContext();
      const page = await c.newPage();
      const first = await page.goto(`${base}/ui?command=sh&pod=web-0`);
      assert.equal(first?.status(), 401);
      assert.equal(
        await page.inputValue("#login-next"),
        "/ui?command=sh&pod=web-0",
      );
      await logIn(page, VIEW);
      assert.equal(page.url(), `${base}/ui?command=sh&pod=web-0`);
      assert.equal(await page.inputValue("#f-command"), "sh");
      assert.deepEqual(await rowIds(page), ["s-exec"]);
      await c.close();
    });

    await t.step("login refuses to send the viewer off-site", async () => {
      for (
        const next of [
          "//evil.example",
          "https://evil.example",
          "/\\evil.example",
          "/ui/../evil",
          "/uievil",
        ]
      ) {
        const c = await browser.newContext();
        const p = await c.newPage();
        await p.goto(`${base}/ui`);
        await p.evaluate(
          `document.getElementById("login-next").value = ${
            JSON.stringify(next)
          }`,
        );
        await logIn(p, VIEW);
        assert.equal(p.url(), `${base}/ui`, next);
        await c.close();
      }
      // And what the server answers, without a browser in between.
      for (
        const [next, location] of [
          ["//evil.example/ui", "/ui"],
          ["https://evil.example", "/ui"],
          ["/\\evil.example", "/ui"],
          ["/ui\t/x", "/ui"],
          ["/ui/r/2026/11/27/s-exec#top", "/ui/r/2026/11/27/s-exec"],
          ["/ui?command=sh&pod=web-0", "/ui?command=sh&pod=web-0"],
        ]
      ) {
        const res = await fetch(`${base}/ui/login`, {
          method: "POST",
          body: new URLSearchParams({ token: VIEW, next: next! }),
          redirect: "manual",
        });
        await res.body?.cancel();
        assert.equal(res.status, 303, next);
        assert.equal(res.headers.get("location"), location, next);
      }
    });

    await t.step("From = Through = one day lists that whole day", async () => {
      await page.goto(`${base}/ui`);
      assert.match(await page.textContent("label:has(#f-to)") ?? "", /incl/);
      await page.fill("#f-from", DAY);
      await page.fill("#f-to", DAY);
      await Promise.all([page.waitForNavigation(), page.click("#apply")]);
      assert.deepEqual(
        await rowIds(page),
        ALL_IDS.filter((id) => !/day$/.test(id)),
      );
      assert.equal(await page.$("#empty"), null);
      assert.equal(await page.inputValue("#f-from"), DAY);
      assert.equal(await page.inputValue("#f-to"), DAY, "shown as typed");
      // The API's Unix-second `to` stays exclusive.
      const exclusive = await api(`/v1/recordings?from=${T0}&to=${T0 + 20}`);
      assert.deepEqual(
        exclusive.items.map((m: { sessionId: string }) => m.sessionId),
        ["s-exec"],
      );
    });

    await t.step("each filter says how it matches", async () => {
      await page.goto(`${base}/ui`);
      assert.equal(
        await page.getAttribute("#f-user", "placeholder"),
        "exact login",
      );
      assert.equal(
        await page.getAttribute("#f-pod", "placeholder"),
        "exact",
      );
      assert.equal(
        await page.getAttribute("#f-command", "placeholder"),
        "contains",
      );
      assert.match(
        await page.textContent("label:has(#q)") ?? "",
        /contains/,
      );
      assert.match(
        await page.textContent("#filter-hint") ?? "",
        /match exactly; command and output match any part/,
      );
    });

    await t.step(
      "columns: type, command of an attach, duration, live, refusal",
      async () => {
        await page.goto(`${base}/ui`);
        assert.equal(await cell(page, "s-exec", "type"), "exec");
        assert.equal(await cell(page, "s-exec", "cmd"), "sh -c echo hello");
        assert.equal(await cell(page, "s-exec", "dur"), "1 min 5 s");
        assert.equal(await cell(page, "s-attach", "type"), "attach");
        assert.equal(
          await cell(page, "s-attach", "cmd"),
          "attach to debugger-abc",
        );
        assert.equal(await cell(page, "s-attach", "dur"), "3.0 s");
        assert.equal(await cell(page, "s-live", "dur"), "live");
        assert.equal(await cell(page, "s-live", "status"), "recording");
        assert.equal(
          await cell(page, "s-refused", "status"),
          `refused 403 ${REFUSAL}`,
        );
        assert.equal(await cell(page, "s-refused", "dur"), "0.0 s");
      },
    );

    await t.step(
      "a 140×40 recording keeps the player's controls on screen at 1280×800",
      async () => {
        await page.goto(`${base}/ui?pod=big-0`);
        await Promise.all([
          page.waitForNavigation(),
          page.click("#recordings tr.rec a"),
        ]);
        await page.waitForFunction(
          `(document.querySelector(".ap-term")?.textContent ?? "").includes("row 40")`,
          undefined,
          { timeout: 30_000 },
        );
        // The player re-fits on the next frames after a resize event.
        await page.waitForFunction(
          `document.querySelectorAll(".ap-term .ap-line").length === 40`,
          undefined,
          { timeout: 10_000 },
        );
        await page.evaluate(
          `new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))`,
        );
        const box = await inPage<
          { top: number; bottom: number; vh: number; scrollY: number }
        >(
          page,
          `(() => {
          const r = document.querySelector(".ap-control-bar").getBoundingClientRect();
          return { top: r.top, bottom: r.bottom, vh: innerHeight, scrollY };
        })()`,
        );
        assert.equal(box.scrollY, 0);
        assert.ok(box.top >= 0, JSON.stringify(box));
        assert.ok(box.bottom <= box.vh, JSON.stringify(box));
      },
    );

    await t.step("at 390 px wide nothing scrolls sideways", async () => {
      const small = await browser.newContext({
        viewport: { width: 390, height: 844 },
      });
      const phone = await small.newPage();
      await phone.goto(`${base}/ui`);
      await logIn(phone, VIEW);
      for (const path of ["/ui", "/ui/r/" + listed.items[3].id]) {
        await phone.goto(base + path);
        await phone.waitForSelector(path === "/ui" ? "#recordings" : "#meta");
        const w = await inPage<{ sw: number; iw: number }>(
          phone,
          `({ sw: document.documentElement.scrollWidth, iw: innerWidth })`,
        );
        assert.ok(w.sw <= w.iw, `${path}: ${JSON.stringify(w)}`);
      }
      await small.close();
    });

    await t.step("placeholders fit their inputs, wide and narrow", async () => {
      // Monospace too: there every letter is as wide as the font's average,
      // the case a `size`-based width (`size=20`) cannot fit 24 letters in,
      // whatever proportional font a viewer's system has.
      const cases = [1280, 390].flatMap((width) =>
        ["default", "monospace"].map((font) => ({ width, font }))
      );
      for (const { width, font } of cases) {
        await page.setViewportSize({ width, height: 800 });
        await page.goto(`${base}/ui`);
        if (font === "monospace") {
          await page.addStyleTag({
            content: "input{font-family:monospace !important}",
          });
        }
        const fits = await inPage<
          { id: string; text: number; room: number; sw: number; cw: number }[]
        >(
          page,
          `[...document.querySelectorAll("form.filters input[placeholder]")].map((i) => {
            const s = getComputedStyle(i);
            const g = document.createElement("canvas").getContext("2d");
            g.font = s.fontStyle + " " + s.fontWeight + " " + s.fontSize + " " + s.fontFamily;
            return {
              id: i.id,
              text: g.measureText(i.placeholder).width,
              room: i.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight),
              sw: i.scrollWidth,
              cw: i.clientWidth,
            };
          })`,
        );
        assert.ok(fits.some((f) => f.id === "q"));
        for (const f of fits) {
          const where = `${width}px, ${font} font: ${JSON.stringify(f)}`;
          assert.ok(f.text <= f.room, where);
          assert.ok(f.sw <= f.cw, where);
        }
      }
      await page.setViewportSize({ width: 1280, height: 800 });
    });

    await t.step("Newer and Older are plain links (no script)", async () => {
      const c = await browser.newContext({ javaScriptEnabled: false });
      const p = await c.newPage();
      await p.goto(`${base}/ui?limit=3`);
      await logIn(p, VIEW);
      const pages: string[][] = [await rowIds(p)];
      assert.equal(await p.$("#newer"), null, "the first page has no Newer");
      while (await p.$("#next")) {
        await Promise.all([p.waitForNavigation(), p.click("#next")]);
        pages.push(await rowIds(p));
      }
      assert.deepEqual(pages, [
        ALL_IDS.slice(0, 3),
        ALL_IDS.slice(3, 6),
        ALL_IDS.slice(6),
      ]);
      await Promise.all([p.waitForNavigation(), p.click("#newer")]);
      assert.deepEqual(await rowIds(p), ALL_IDS.slice(3, 6));
      assert.ok(await p.$("#next"), "a middle page links Older");
      await Promise.all([p.waitForNavigation(), p.click("#newer")]);
      assert.deepEqual(await rowIds(p), ALL_IDS.slice(0, 3));
      assert.equal(await p.$("#newer"), null);
      assert.match(p.url(), /\/ui\?limit=3$/);
      await c.close();
    });

    await t.step("the icon is served and linked", async () => {
      await page.goto(`${base}/ui`);
      const href = await page.getAttribute('link[rel="icon"]', "href");
      assert.equal(href, "/ui/favicon.svg");
      const svg = await page.request.get(base + href);
      assert.equal(svg.status(), 200);
      assert.equal(svg.headers()["content-type"], "image/svg+xml");
      const ico = await page.request.get(`${base}/ui/favicon.ico`);
      assert.equal(ico.status(), 200);
      assert.equal(ico.headers()["content-type"], "image/x-icon");
      const bytes = await ico.body();
      assert.deepEqual([...bytes.subarray(0, 6)], [0, 0, 1, 0, 1, 0]);
      // The icon is an image Chromium can draw, at its size.
      const size = await inPage<number[]>(
        page,
        `new Promise((ok, no) => {
          const i = new Image();
          i.onload = () => ok([i.naturalWidth, i.naturalHeight]);
          i.onerror = () => no(new Error("favicon.ico did not load"));
          i.src = "/ui/favicon.ico";
        })`,
      );
      assert.deepEqual(size, [16, 16]);
    });

    await ctx.close();
  } finally {
    hold?.close();
    await live;
    await browser.close();
    await served.close();
    await Deno.remove(dir, { recursive: true });
  }
});
