/**
 * The UI's Events page (`/ui/events`): API request events, newest first,
 * searched by user, verb, resource, namespace and text, each caller linked
 * to their sessions (`/ui?user=…`). Server-rendered with `hono/html`: every
 * value is escaped; a captured body is shown as its stored JSON (Secret
 * values already replaced by their SHA-256 by the proxy).
 *
 * @module
 */

import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import {
  type EventPage,
  type EventQuery,
  eventResource,
  eventUser,
  type StoredEvent,
} from "../index/events_index.ts";

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

function iso(ms: unknown): string {
  return typeof ms === "number" && Number.isFinite(ms)
    ? new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z")
    : "";
}

function str(v: unknown): string {
  return typeof v === "string" || typeof v === "number" ? String(v) : "";
}

function row(e: StoredEvent): Html {
  const r = e.request;
  const user = eventUser(r) ?? "";
  const res = e.response ?? {};
  const body = r.body as
    | { json?: unknown; bytes?: number; sha256?: string }
    | undefined;
  return html`
    <tr class="event">
      <td>${iso(r.timeMs)}</td>
      <td>${user
        ? html`<a class="user" href="/ui?user=${
          encodeURIComponent(user)
        }">${user}</a>`
        : ""}</td>
      <td class="verb">${str(r.verb)}</td>
      <td class="resource">${eventResource(r) ?? ""}</td>
      <td>${str(r.namespace)}</td>
      <td>${str(r.name)}</td>
      <td class="status">${str(res.status)}</td>
      <td class="opt">${typeof res.latencyMs === "number"
        ? `${res.latencyMs} ms`
        : ""}</td>
      <td class="target"><code>${str(r.target).slice(0, 300)}</code>${body
        ? html`
          <details>
            <summary>body, ${str(body.bytes)} bytes</summary>
            <pre>${body.json !== undefined
              ? JSON.stringify(body.json, null, 2).slice(0, 65536)
              : `not JSON; sha256 ${str(body.sha256)}`}</pre>
          </details>
        `
        : ""}</td>
    </tr>
  `;
}

/**
 * The body of the Events page.
 * @param q The query shown.
 * @param result Its page of events.
 * @param params The URL's parameters (for the next page's link).
 * @returns The HTML.
 */
export function eventsPageBody(
  q: EventQuery,
  result: EventPage,
  params: URLSearchParams,
): Html {
  const next = new URLSearchParams(params);
  if (result.next) next.set("cursor", result.next);
  const field = (name: keyof EventQuery, label: string) =>
    html`<label>${label} <input name="${name}" value="${
      str(q[name])
    }"></label>`;
  return html`
    <h2>API events</h2>
    <form class="filters" id="event-filters" method="get" action="/ui/events">
      ${field("user", "User")} ${field("verb", "Verb")}
      ${field("resource", "Resource")} ${field("namespace", "Namespace")}
      ${field("q", "Text")}
      <button type="submit">Search</button>
      <a href="/ui">Recordings</a>
    </form>
    <div class="table-wrap">
      <table id="events">
        <thead>
          <tr>
            <th>Time (UTC)</th>
            <th>Who</th>
            <th>Verb</th>
            <th>Resource</th>
            <th>Namespace</th>
            <th>Name</th>
            <th>Status</th>
            <th class="opt">Latency</th>
            <th>Target</th>
          </tr>
        </thead>
        <tbody>${result.items.map(row)}</tbody>
      </table>
    </div>
    ${result.items.length === 0 ? html`<p id="empty">No events match.</p>` : ""}
    <nav class="pages">${q.cursor
      ? html`<a id="newest" href="/ui/events?${
        withoutCursor(params)
      }">« Newest</a>`
      : ""}${result.next
      ? html`<a id="next" rel="next" href="/ui/events?${next.toString()}">Older ›</a>`
      : ""}</nav>
  `;
}

function withoutCursor(p: URLSearchParams): string {
  const n = new URLSearchParams(p);
  n.delete("cursor");
  return n.toString();
}
