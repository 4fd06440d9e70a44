/**
 * The recorder's web UI: a login form, the list of recordings with filters
 * and text search, and a page per recording with an embedded
 * `asciinema-player` and a download link. Server-rendered with `hono/html`
 * (every interpolated value is escaped); it works without script, except
 * the player. The page of a live session plays it live: the player
 * follows the recorder's live view (`GET /v1/recordings/…/live`) and the
 * page says when the session has ended, linking its finished view.
 *
 * Viewing needs a viewer token: the login form sets it in an HttpOnly,
 * SameSite=Strict cookie (`Secure` over HTTPS) and returns to the page and
 * query that asked for it (a path of this UI only, see `ui/safe_next.ts`).
 * Pages answer `401` with the login form when the cookie is missing or
 * wrong, `403` for an uploader token.
 *
 * The list's date filters are UTC days: `from` is the first day, `to` the
 * last one, included (the query reads a date-only `to` as the end of that
 * day, `query.ts`). Pages link "Newer" and "Older" (`ui/page_links.ts`).
 *
 * @module
 */

import { Hono } from "hono";
import type { Context } from "hono";
import { html, raw } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import { deleteCookie, setCookie } from "hono/cookie";
import {
  type RecorderEnv,
  requireRole,
  type TokenAuthority,
  VIEWER_COOKIE,
} from "./auth.ts";
import {
  parseRecordingQuery,
  type RecordingPage,
  type RecordingQuery,
  runQuery,
  startTime,
} from "./query.ts";
import { parseRecordingId, type RecordingId } from "./recording_id.ts";
import {
  RECORDING_STATUSES,
  type RecordingManifest,
  type RecordingStorage,
} from "./storage.ts";
import { PLAYER_CSS, PLAYER_JS } from "./player_assets.ts";
import { UI_STYLE } from "./ui/style.ts";
import { FAVICON_SVG, faviconIco } from "./ui/favicon.ts";
import { safeNextPath, UI_HOME } from "./ui/safe_next.ts";
import { pageLinks } from "./ui/page_links.ts";
import { filesSection } from "./ui/files_section.ts";
import { portForwardSection } from "./ui/portforward_section.ts";
import type { CopyFiles } from "./views/copy_files.ts";
import { eventsPageBody } from "./ui/events_page.ts";
import type { EventPage, EventQuery } from "./index/events_index.ts";
import { parseEventQuery } from "./events_query.ts";
import {
  commandOf,
  cutText,
  durationText,
  failoverText,
  refusalOf,
  sessionTypeOf,
  statusText,
} from "./ui/recording_facts.ts";

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
  /**
   * Ends a live session for a moderator (the recorder's
   * `Ingestor.terminate`); without it the UI offers no "End session".
   * @returns Whether the session was live here.
   */
  terminate?: (id: string, by: string, reason: string) => boolean;
  /**
   * What a `kubectl cp` session copied (`views/copy_files.ts`), shown on
   * the recording's page; without it the page shows no files.
   */
  files?: (id: RecordingId) => Promise<CopyFiles | undefined>;
  /** Searches API events (`/ui/events`); without it there is no such page. */
  events?: (q: EventQuery) => Promise<EventPage>;
}

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

const ICONS = raw(
  `<link rel="icon" href="/ui/favicon.svg" type="image/svg+xml">` +
    `<link rel="alternate icon" href="/ui/favicon.ico" sizes="16x16">`,
);

function page(
  title: string,
  body: Html,
  loggedIn = true,
  head: Html = html``,
): Html {
  return html`
    <!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width,initial-scale=1">
        <title>${title}</title>
        ${ICONS}
        <style>${raw(UI_STYLE)}</style>
        ${head}
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
        <input type="hidden" name="next" id="login-next" value="${next}">
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

/** The UTC day (`YYYY-MM-DD`) of a Unix second. */
function dayOf(seconds: number): string {
  return new Date(seconds * 1000).toISOString().slice(0, 10);
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/**
 * The day a date input shows for `from` or `to`: the parameter as typed
 * when it is a day; else the day of the instant (for `to`, of the last
 * second before it, since `to` is exclusive).
 */
function dayInput(
  params: URLSearchParams,
  key: "from" | "to",
  value: number | undefined,
): string {
  const typed = params.get(key) ?? "";
  if (DATE_ONLY.test(typed)) return typed;
  if (value === undefined) return "";
  return dayOf(key === "to" ? value - 1 : value);
}

function who(m: RecordingManifest): string {
  const h = m.header;
  return h.srcNodeUser ?? (h.srcNodeTags ?? []).join(",") ?? "";
}

function recordingUrl(id: string): string {
  return `/ui/r/${id}`;
}

/** The metadata filters: parameter, label, how it matches. */
const FILTERS: [keyof RecordingQuery, string, string][] = [
  ["user", "User", "exact login"],
  ["host", "Host", "exact"],
  ["tag", "Tag", "exact tag"],
  ["namespace", "Namespace", "exact"],
  ["pod", "Pod", "exact"],
  ["container", "Container", "exact"],
  ["command", "Command", "contains"],
  ["exit", "Exit code", "exact number"],
];

function statusCell(m: RecordingManifest): Html {
  const refusal = refusalOf(m);
  return html`<td class="status ${m.status}" title="${
    statusText(m)
  }">${m.status}${
    refusal
      ? html`<br><small class="upstream">${refusal.status} ${
        cutText(
          refusal.message,
        )
      }</small>`
      : ""
  }</td>`;
}

function row(m: RecordingManifest): Html {
  const k = m.header.kubernetes;
  const type = sessionTypeOf(m);
  return html`
    <tr class="rec" data-id="${m.id}">
      <td class="when"><a href="${recordingUrl(m.id)}">${when(
        startTime(m),
      )}</a></td>
      <td class="who">${who(m)}<br><small>${m.header.srcNode ??
        ""}</small></td>
      <td class="pod">${k?.namespace ?? ""}/${k?.podName ??
        ""}<br><small>${k?.container ?? ""}</small></td>
      <td class="type opt" title="${type === "attach"
        ? "kubectl attach, debug or run -it (the same API request)"
        : ""}">${type}</td>
      <td class="cmd"><code>${commandOf(m)}</code></td>
      <td class="dur">${durationText(m)}</td>
      ${statusCell(m)}
      <td class="exit opt">${m.end?.exitCode ?? ""}</td>
    </tr>
  `;
}

function filterForm(q: RecordingQuery, params: URLSearchParams): Html {
  return html`
    <form class="filters" method="get" action="/ui">
    <label class="wide">Search output (contains)<input type="search" name="q" id="q" value="${q
      .q ??
      ""}" placeholder="text the session printed"></label>
    ${FILTERS.map(([key, label, match]) =>
      html`<label>${label}<input name="${key}" id="f-${key}" value="${
        String(q[key] ?? "")
      }" placeholder="${match}" title="${label}: ${match}"></label>`
    )}
    <label>From (UTC day)<input type="date" name="from" id="f-from" value="${dayInput(
      params,
      "from",
      q.from,
    )}"></label>
    <label>Through (UTC day, included)<input type="date" name="to" id="f-to" value="${dayInput(
      params,
      "to",
      q.to,
    )}"></label>
    <label>Status<select name="status" id="f-status"><option value="">any</option>${RECORDING_STATUSES
      .map((s) =>
        html`<option value="${s}" ${
          q.status === s ? raw(" selected") : ""
        }>${s}</option>`
      )}</select></label>
    <button type="submit" id="apply">Filter</button> <a href="/ui">Reset</a></form>
    <p class="hint"
      id="filter-hint">User, host, tag, namespace, pod, container and exit code match exactly; command and output match any part, ignoring case. Days are UTC, both included.</p>
  `;
}

/**
 * On a live page: when the player's stream ends (the recording was
 * finalised), the badge says so, a link leads to the finished view, and the
 * player's opaque "stream ended" overlay is hidden so the last screen stays
 * in view.
 */
const LIVE_ENDED_SCRIPT = `
window.player.addEventListener("ended", () => {
  document.getElementById("player").classList.add("ended");
  const s = document.getElementById("live-state");
  s.className = "ended";
  s.textContent = "Ended";
  s.title = "The session has ended";
  const a = document.createElement("a");
  a.id = "finished";
  a.href = location.pathname;
  a.textContent = "Show the finished recording";
  s.after(a, " ");
});`;

/**
 * Builds the UI routes (mounted at `/ui`).
 * @param options Storage, tokens, title.
 * @returns The Hono app.
 * @example
 * ```ts ignore
 * import { Hono } from "hono";
 * import { createUi } from "./ui.ts";
 * const app = new Hono();
 * app.route("/ui", createUi({ storage, authority, title: "Recordings" }));
 * ```
 */
export function createUi(options: UiOptions): Hono<RecorderEnv> {
  const { storage, authority, title } = options;
  const search = options.search ??
    (async (q: RecordingQuery) =>
      runQuery(await storage.list(), q, (m) => {
        const id = parseRecordingId(m.id);
        return id ? storage.readText(id) : Promise.resolve(undefined);
      }));
  const ui = new Hono<RecorderEnv>();

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
  ui.get("/favicon.svg", (c) =>
    c.body(FAVICON_SVG, 200, {
      "content-type": "image/svg+xml",
      "cache-control": "public, max-age=86400",
    }));
  const ico = faviconIco();
  ui.get("/favicon.ico", (c) =>
    c.body(ico.slice(), 200, {
      "content-type": "image/x-icon",
      "cache-control": "public, max-age=86400",
    }));

  ui.post("/login", async (c) => {
    const form = await c.req.parseBody();
    const token = typeof form.token === "string" ? form.token : "";
    // Only a page of this UI: never an open redirect.
    const next = safeNextPath(form.next);
    const role = await authority.roleOf(token);
    if (role === undefined) {
      return c.html(loginPage(title, "The token is not valid.", next), 401);
    }
    if (role !== "viewer" && role !== "moderator") {
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
    return c.redirect(UI_HOME, 303);
  });

  /** The page asked for, to return to after login. */
  const asked = (c: Context) => {
    const u = new URL(c.req.url);
    return safeNextPath(u.pathname + u.search);
  };
  const guard = requireRole(authority, "viewer", {
    unauthorized: (c: Context, message: string) =>
      c.html(
        loginPage(
          title,
          c.req.header("cookie")?.includes(VIEWER_COOKIE) ? message + "." : "",
          asked(c),
        ),
        401,
      ),
    forbidden: (c: Context, message: string) =>
      c.html(loginPage(title, message + ".", asked(c)), 403),
  });

  const moderatorGuard = requireRole(authority, "moderator", {
    unauthorized: (c: Context, message: string) =>
      c.html(loginPage(title, message + ".", asked(c)), 401),
    forbidden: (c: Context) =>
      c.html(
        page(
          title,
          html`<p class="error">Only a moderator can end a session.</p>`,
        ),
        403,
      ),
  });

  // A moderator ends a live session (the form on its page). The cookie is
  // SameSite=Strict: another site cannot post this form with it.
  ui.post("/r/:y/:m/:d/:sid/terminate", moderatorGuard, async (c) => {
    const { y, m, d, sid } = c.req.param();
    const id = parseRecordingId(`${y}/${m}/${d}/${sid}`);
    const form = await c.req.parseBody();
    const reason = typeof form.reason === "string" ? form.reason.trim() : "";
    if (!id) {
      return c.html(
        page(title, html`<p class="error">No such recording.</p>`),
        404,
      );
    }
    if (reason === "") {
      return c.html(
        page(title, html`<p class="error">Say why the session is ended.</p>`),
        400,
      );
    }
    const done = options.terminate?.(
      id.id,
      c.get("moderator"),
      reason.slice(0, 1000),
    );
    if (!done) {
      return c.html(
        page(
          title,
          html`<p class="error">This session is not live on this recorder.</p>`,
        ),
        409,
      );
    }
    return c.redirect(`/ui/r/${id.id}`, 303);
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
    const links = pageLinks(params, result.nextCursor);
    return c.html(page(
      title,
      html`
        ${filterForm(q, params)}
        ${options.events
          ? html`<p><a id="events-link" href="/ui/events${
            q.user ? `?user=${encodeURIComponent(q.user)}` : ""
          }">API events${q.user ? ` of ${q.user}` : ""}</a></p>`
          : ""}
        <div class="table-wrap">
          <table id="recordings">
            <thead>
              <tr>
                <th>Started (UTC)</th>
                <th>Who</th>
                <th>Pod</th>
                <th class="opt">Type</th>
                <th>Command</th>
                <th>Duration</th>
                <th>Status</th>
                <th class="opt">Exit</th>
              </tr>
            </thead>
            <tbody>${result.items.map(row)}</tbody>
          </table>
        </div>
        ${result.items.length === 0
          ? html`<p id="empty">No recordings match.</p>`
          : ""}
        <nav class="pages">${links.newest
          ? html`<a id="newest" href="/ui?${links.newest}">« Newest</a>`
          : ""}${links.newer
          ? html`<a id="newer" rel="prev" href="/ui?${links.newer}">‹ Newer</a>`
          : ""}${links.older
          ? html`<a id="next" rel="next" href="/ui?${links.older}">Older ›</a>`
          : ""}</nav>
      `,
    ));
  });

  ui.get("/events", guard, async (c) => {
    if (!options.events) {
      return c.html(
        page(
          title,
          html`<p class="error">This recorder stores no API events.</p>`,
        ),
        404,
      );
    }
    const params = new URL(c.req.url).searchParams;
    let q: EventQuery;
    try {
      q = parseEventQuery(params);
    } catch (e) {
      return c.html(
        page(title, html`<p class="error">${(e as Error).message}</p>`),
        400,
      );
    }
    return c.html(
      page(title, eventsPageBody(q, await options.events(q), params)),
    );
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
    // A later part on its own: the whole session, when this recorder can
    // join it (shared storage, or `peers` holding the earlier parts).
    const firstId = id.part !== undefined && h.continues
      ? parseRecordingId(h.continues.recording)
      : undefined;
    const whole = firstId && firstId.part === undefined &&
        (await storage.get(firstId))?.parts?.some((p) => p.id === id.id)
      ? firstId
      : undefined;
    const command = commandOf(man);
    const rows: [string, unknown][] = [
      ["Recording", man.id],
      ["Status", statusText(man)],
      ["Type", sessionTypeOf(man)],
      ["Started (UTC)", when(startTime(man))],
      ["Ended (UTC)", man.end ? when(man.end.endTime) : ""],
      ["Duration", durationText(man)],
      ["User", h.srcNodeUser ?? ""],
      ["Tags", (h.srcNodeTags ?? []).join(", ")],
      ["Host", h.srcNode ?? ""],
      ["Namespace", k?.namespace ?? ""],
      ["Pod", k?.podName ?? ""],
      ["Container", k?.container ?? ""],
      ["Command", command],
      ["TTY", h.tty === undefined ? "" : String(h.tty)],
      ["End reason", man.end?.reason ?? ""],
      ["Exit code", man.end?.exitCode ?? ""],
      ["Proxy", h.proxy ?? ""],
      ["Size", `${man.castBytes} bytes`],
      [
        "Ended by",
        man.terminated ? `${man.terminated.by}: ${man.terminated.reason}` : "",
      ],
      ["Failed over", failoverText(man)],
      ["Not checked", man.unverified ?? ""],
    ];
    const copied = await options.files?.(id).catch(() => undefined);
    const canEnd = c.get("role") === "moderator" &&
      man.status === "recording" && options.terminate !== undefined;
    // "both": the terminal fits the box's width and height, so the control
    // bar stays on screen whatever the terminal size (the box is sized in
    // the style sheet).
    const live = man.status === "recording" && man.format === "records";
    const config = JSON.stringify(
      live
        ? { fit: "both", autoPlay: true }
        : { fit: "both", autoPlay: true, preload: true, idleTimeLimit: 2 },
    );
    // A live session plays through the player's eventsource driver, which
    // follows the recorder's live view (`views/live_view.ts`) without
    // buffering: what arrives is shown at once.
    const src = live
      ? {
        driver: "eventsource",
        url: `/v1/recordings/${id.id}/live`,
        bufferTime: 0,
      }
      : castUrl;
    return c.html(page(
      title,
      html`<h2 class="title" title="${command}">${
        live
          ? html`
            <span id="live-state" class="recording"
              title="The player follows the session as it is recorded">Live</span>
          `
          : ""
      }${command || man.sessionId}</h2>
${
        whole
          ? html`
            <p
              id="whole">Part ${id
                .part} of a session that failed over: <a href="/ui/r/${whole
                .id}">play the whole session</a></p>
          `
          : ""
      }<div id="player"></div>
<p><a id="download" href="${castUrl}" download>Download .cast</a> (<a
  id="download-v3" href="${castUrl}?format=v3" download>asciicast v3</a>)${
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
${
        canEnd
          ? html`<form id="terminate" method="post" action="/ui/r/${id.id}/terminate">
<label>Reason <input name="reason" required maxlength="1000" placeholder="why this session ends"></label>
<button type="submit">End session</button></form>`
          : ""
      }
<dl id="meta">${
        rows.map(([k, v]) =>
          html`
            <dt>${k}</dt>
            <dd>${String(v)}</dd>
          `
        )
      }</dl>
${filesSection(copied)}
${portForwardSection(man.end?.portforward)}
<script src="/ui/assets/asciinema-player.min.js"></script>
<script>window.player = AsciinemaPlayer.create(${
        raw(JSON.stringify(src).replaceAll("<", "\\u003c"))
      }, document.getElementById("player"), ${raw(config)});${
        live ? raw(LIVE_ENDED_SCRIPT) : ""
      }</script>`,
      true,
      html`<link rel="stylesheet" href="/ui/assets/asciinema-player.css">`,
    ));
  });

  return ui;
}
