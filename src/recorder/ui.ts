/**
 * The recorder's web UI: a login form, the list of recordings with filters
 * and text search, and a page per recording with an embedded
 * `asciinema-player` and a download link. Server-rendered with `hono/html`
 * (every interpolated value is escaped).
 *
 * Viewing needs a viewer token: the login form sets it in an HttpOnly,
 * SameSite=Strict cookie (`Secure` over HTTPS). Pages answer `401` with the
 * login form when the cookie is missing or wrong, `403` for an uploader token.
 *
 * @module
 */

import { Hono } from "hono";
import type { Context } from "hono";
import { html, raw } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import { deleteCookie, setCookie } from "hono/cookie";
import { requireRole, type TokenAuthority, VIEWER_COOKIE } from "./auth.ts";
import {
  parseRecordingQuery,
  type RecordingPage,
  type RecordingQuery,
  runQuery,
  startTime,
} from "./query.ts";
import { parseRecordingId } from "./recording_id.ts";
import {
  RECORDING_STATUSES,
  type RecordingManifest,
  type RecordingStorage,
} from "./storage.ts";
import { PLAYER_CSS, PLAYER_JS } from "./player_assets.ts";

/** Options of {@linkcode createUi}. */
export interface UiOptions {
  /** The storage to show. */
  storage: RecordingStorage;
  /** The tokens. */
  authority: TokenAuthority;
  /** Page title. */
  title: string;
  /**
   * Runs a query (the recorder's index).
   * @default {a scan of `storage.list()` and `storage.readText`}
   */
  search?: (q: RecordingQuery) => Promise<RecordingPage>;
}

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f2937;color:#fff;padding:.6em 1em;display:flex;justify-content:space-between;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:600}
main{padding:1em;max-width:1200px;margin:auto}
form.filters{display:flex;flex-wrap:wrap;gap:.5em;margin-bottom:1em;align-items:end}
form.filters label{display:flex;flex-direction:column;font-size:12px;color:#555}
input,select,button{font:inherit;padding:.3em .4em}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #ddd;padding:.4em;text-align:left;vertical-align:top}
td code{font-size:12px}
.partial{color:#b45309}.complete{color:#047857}.recording{color:#1d4ed8}.refused{color:#b91c1c}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em;background:#fff;padding:1em}
dt{color:#555}dd{margin:0}
.error{color:#b91c1c}
.login{max-width:360px;margin:4em auto;background:#fff;padding:1.5em;border:1px solid #ddd}
`;

function page(title: string, body: Html, loggedIn = true): Html {
  return html`
    <!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width,initial-scale=1">
        <title>${title}</title>
        <style>${raw(STYLE)}</style>
      </head>
      <body>
        <header><a href="/ui">${title}</a>${loggedIn
          ? html`
            <form method="post"
              action="/ui/logout"><button type="submit">Log out</button></form>
          `
          : ""}</header>
        <main>${body}</main>
      </body>
    </html>
  `;
}

function loginPage(title: string, message: string, next: string): Html {
  return page(
    title,
    html`
      <form class="login" method="post" action="/ui/login">
        <h2>Viewer login</h2>
        <p class="error" id="login-error">${message}</p>
        <input type="hidden" name="next" value="${next}">
        <label>Viewer token<br><input type="password" name="token" id="token" autocomplete="current-password" required autofocus></label>
        <p><button type="submit" id="login">Log in</button></p>
      </form>
    `,
    false,
  );
}

function when(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace("T", " ").replace(
    /\.\d+Z$/,
    "Z",
  );
}

/**
 * The status as shown: `refused by the API server: 403 …` for a session the
 * API server did not upgrade, `partial (reason)`, or the bare status.
 */
function statusText(m: RecordingManifest): string {
  if (m.status === "refused") {
    const u = m.end?.upstream;
    return `refused by the API server${u ? `: ${u.status} ${u.message}` : ""}`;
  }
  return m.status + (m.partialReason ? ` (${m.partialReason})` : "");
}

function who(m: RecordingManifest): string {
  const h = m.header;
  return h.srcNodeUser ?? (h.srcNodeTags ?? []).join(",") ?? "";
}

function recordingUrl(id: string): string {
  return `/ui/r/${id}`;
}

const FILTERS: [keyof RecordingQuery, string][] = [
  ["user", "User"],
  ["host", "Host"],
  ["tag", "Tag"],
  ["namespace", "Namespace"],
  ["pod", "Pod"],
  ["container", "Container"],
  ["command", "Command"],
  ["exit", "Exit code"],
];

/**
 * Builds the UI routes (mounted at `/ui`).
 * @param options Storage, tokens, title.
 * @returns The Hono app.
 */
export function createUi(options: UiOptions): Hono {
  const { storage, authority, title } = options;
  const search = options.search ??
    (async (q: RecordingQuery) =>
      runQuery(await storage.list(), q, (m) => {
        const id = parseRecordingId(m.id);
        return id ? storage.readText(id) : Promise.resolve(undefined);
      }));
  const ui = new Hono();

  ui.get("/assets/asciinema-player.min.js", (c) =>
    c.body(PLAYER_JS, 200, {
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": "public, max-age=86400",
    }));
  ui.get("/assets/asciinema-player.css", (c) =>
    c.body(PLAYER_CSS, 200, {
      "content-type": "text/css; charset=utf-8",
      "cache-control": "public, max-age=86400",
    }));

  ui.post("/login", async (c) => {
    const form = await c.req.parseBody();
    const token = typeof form.token === "string" ? form.token : "";
    const nextRaw = typeof form.next === "string" ? form.next : "/ui";
    // Only local paths: never redirect elsewhere.
    const next = /^\/ui(\/[A-Za-z0-9_\-/]*)?(\?[^\\]*)?$/.test(nextRaw)
      ? nextRaw
      : "/ui";
    const role = await authority.roleOf(token);
    if (role === undefined) {
      return c.html(loginPage(title, "The token is not valid.", next), 401);
    }
    if (role !== "viewer") {
      return c.html(
        loginPage(title, "An uploader token cannot view recordings.", next),
        403,
      );
    }
    setCookie(c, VIEWER_COOKIE, token, {
      httpOnly: true,
      sameSite: "Strict",
      secure: new URL(c.req.url).protocol === "https:",
      path: "/",
    });
    return c.redirect(next, 303);
  });

  ui.post("/logout", (c) => {
    deleteCookie(c, VIEWER_COOKIE, { path: "/" });
    return c.redirect("/ui", 303);
  });

  const guard = requireRole(authority, "viewer", {
    unauthorized: (c: Context, message: string) =>
      c.html(
        loginPage(
          title,
          c.req.header("cookie")?.includes(VIEWER_COOKIE) ? message + "." : "",
          new URL(c.req.url).pathname,
        ),
        401,
      ),
    forbidden: (c: Context, message: string) =>
      c.html(loginPage(title, message + ".", "/ui"), 403),
  });

  ui.get("/", guard, async (c) => {
    const params = new URL(c.req.url).searchParams;
    let q: RecordingQuery;
    try {
      q = parseRecordingQuery(params);
    } catch (e) {
      return c.html(
        page(title, html`<p class="error">${(e as Error).message}</p>`),
        400,
      );
    }
    const result = await search(q);
    const nextParams = new URLSearchParams(params);
    if (result.nextCursor) nextParams.set("cursor", result.nextCursor);
    const rows = result.items.map((m) => {
      const k = m.header.kubernetes;
      return html`
        <tr class="rec" data-id="${m.id}">
          <td><a href="${recordingUrl(m.id)}">${when(startTime(m))}</a></td>
          <td>${who(m)}<br><small>${m.header.srcNode ?? ""}</small></td>
          <td>${k?.namespace ?? ""}/${k?.podName ??
            ""}<br><small>${k?.container ?? ""}</small></td>
          <td><code>${m.header.command ?? ""}</code></td>
          <td class="${m.status}" title="${statusText(m)}">${m.status}</td>
          <td>${m.end?.exitCode ?? ""}</td>
        </tr>
      `;
    });
    return c.html(page(
      title,
      html`
        <form class="filters" method="get" action="/ui">
        <label>Search output<input type="search" name="q" id="q" value="${q.q ??
          ""}" placeholder="text the session printed"></label>
        ${FILTERS.map(([key, label]) =>
          html`<label>${label}<input name="${key}" id="f-${key}" value="${
            String(q[key] ?? "")
          }" size="12"></label>`
        )}
        <label>From<input type="date" name="from" value="${q.from === undefined
          ? ""
          : when(q.from).slice(0, 10)}"></label>
        <label>To<input type="date" name="to" value="${q.to === undefined
          ? ""
          : when(q.to).slice(0, 10)}"></label>
        <label>Status<select name="status"><option value="">any</option>${RECORDING_STATUSES
          .map((
            s,
          ) =>
            html`
              <option value="${s}" ${q.status === s
                ? raw(" selected")
                : ""}>${s}</option>
            `
          )}</select></label>
        <button type="submit" id="apply">Filter</button> <a href="/ui">Reset</a></form>
        <table id="recordings">
          <thead>
            <tr>
              <th>Started (UTC)</th>
              <th>Who</th>
              <th>Pod</th>
              <th>Command</th>
              <th>Status</th>
              <th>Exit</th>
            </tr>
          </thead>
          <tbody>${rows}</tbody>
        </table>
        ${result.items.length === 0
          ? html`<p id="empty">No recordings match.</p>`
          : ""}
        ${result.nextCursor
          ? html`<p><a id="next" href="/ui?${nextParams.toString()}">Next page</a></p>`
          : ""}
      `,
    ));
  });

  ui.get("/r/:y/:m/:d/:sid", guard, async (c) => {
    const { y, m, d, sid } = c.req.param();
    const id = parseRecordingId(`${y}/${m}/${d}/${sid}`);
    const man = id && await storage.get(id);
    if (!id || !man) {
      return c.html(
        page(title, html`<p class="error">No such recording.</p>`),
        404,
      );
    }
    const h = man.header;
    const k = h.kubernetes;
    const castUrl = `/v1/recordings/${id.id}/cast`;
    const rows: [string, unknown][] = [
      ["Recording", man.id],
      ["Status", statusText(man)],
      ["Started (UTC)", when(startTime(man))],
      ["Ended (UTC)", man.end ? when(man.end.endTime) : ""],
      ["User", h.srcNodeUser ?? ""],
      ["Tags", (h.srcNodeTags ?? []).join(", ")],
      ["Host", h.srcNode ?? ""],
      ["Namespace", k?.namespace ?? ""],
      ["Pod", k?.podName ?? ""],
      ["Container", k?.container ?? ""],
      ["Command", h.command ?? ""],
      ["TTY", h.tty === undefined ? "" : String(h.tty)],
      ["End reason", man.end?.reason ?? ""],
      ["Exit code", man.end?.exitCode ?? ""],
      ["Proxy", h.proxy ?? ""],
      ["Size", `${man.castBytes} bytes`],
    ];
    const config = JSON.stringify({
      fit: "width",
      autoPlay: true,
      preload: true,
      idleTimeLimit: 2,
    });
    return c.html(page(
      title,
      html`<h2>${h.command ?? man.sessionId}</h2>
<link rel="stylesheet" href="/ui/assets/asciinema-player.css">
<div id="player"></div>
<p><a id="download" href="${castUrl}" download>Download .cast</a>${
        man.format === "records"
          ? html`
            · <a id="evidence" href="/v1/recordings/${id
              .id}/evidence"
              download>evidence (records)</a> · <a id="stdout"
              href="/v1/recordings/${id
                .id}/stdout" download>raw stdout</a>
          `
          : ""
      }</p>
<dl id="meta">${
        rows.map(([k, v]) =>
          html`
            <dt>${k}</dt>
            <dd>${String(v)}</dd>
          `
        )
      }</dl>
<script src="/ui/assets/asciinema-player.min.js"></script>
<script>window.player = AsciinemaPlayer.create(${
        raw(JSON.stringify(castUrl).replaceAll("<", "\\u003c"))
      }, document.getElementById("player"), ${raw(config)});</script>`,
    ));
  });

  return ui;
}
