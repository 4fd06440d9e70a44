/**
 * The recording page's section on a port-forward session: one row per
 * stream (port, type, request, when it opened and closed, bytes each way)
 * and the totals, from the end manifest's `portforward` summary (which the
 * proxy wrote from the same events the evidence holds).
 *
 * @module
 */

import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import type { PortForwardSummary } from "../../recording/wire.ts";

const seconds = (us: number | undefined) =>
  us === undefined ? "open" : (us / 1e6).toFixed(3);

/**
 * The section, or `""` when the recording is not a finished port-forward.
 * @param summary The end manifest's `portforward`, if any.
 * @returns The HTML.
 * @example
 * ```ts
 * import { portForwardSection } from "./portforward_section.ts";
 * const s = String(portForwardSection({
 *   ports: [8080], streamCount: 1, bytesFromClient: 78, bytesFromPod: 190, durationMs: 5,
 *   streams: [{ stream: 3, streamType: "data", port: 8080, openedUs: 1000,
 *     closedUs: 2000, bytesFromClient: 78, bytesFromPod: 190 }],
 * }));
 * if (!s.includes("<td>8080</td>")) throw new Error(s);
 * ```
 */
export function portForwardSection(
  summary: PortForwardSummary | undefined,
): HtmlEscapedString | Promise<HtmlEscapedString> | "" {
  if (!summary || !Array.isArray(summary.streams)) return "";
  const listed = summary.streams.length;
  return html`
    <section id="portforward">
      <h3>Port-forward streams</h3>
      <p>Ports ${(summary.ports ?? []).join(", ")}: ${summary
        .streamCount} streams, ${summary
        .bytesFromClient} bytes from the client, ${summary
        .bytesFromPod} bytes from the pod${listed < summary.streamCount
        ? ` (the first ${listed} streams listed; the evidence has every event)`
        : ""}.</p>
      <table>
        <thead>
          <tr>
            <th>Stream</th>
            <th>Type</th>
            <th>Port</th>
            <th>Request</th>
            <th>Opened (s)</th>
            <th>Closed (s)</th>
            <th>From client</th>
            <th>From pod</th>
          </tr>
        </thead>
        <tbody>${summary.streams.map((s) =>
          html`
            <tr>
              <td>${String(s.stream)}</td>
              <td>${s.streamType}</td>
              <td>${s.port === undefined ? "" : String(s.port)}</td>
              <td>${s.requestId ?? ""}</td>
              <td>${seconds(s.openedUs)}</td>
              <td>${seconds(s.closedUs)}</td>
              <td>${String(s.bytesFromClient)}</td>
              <td>${String(s.bytesFromPod)}</td>
            </tr>
          `
        )}</tbody>
      </table>
    </section>
  `;
}
