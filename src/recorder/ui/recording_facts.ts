/**
 * What the UI shows of a recording, derived from its manifest: the session
 * type, what was run, how long it lasted and where it stands.
 *
 * The header's `kubernetes.sessionType` is `exec`, `attach` or
 * `portforward`, the API request the proxy saw. `kubectl attach`,
 * `kubectl debug` and `kubectl run -it` all send the same `attach` request,
 * so the recording cannot tell them apart. Any other value a header holds is
 * shown as it is.
 *
 * @module
 */

import type { RecordingManifest } from "../storage.ts";
import type { UpstreamRefusal } from "../../recording/wire.ts";

/** Longest refusal message shown in a table cell (the full one is a title). */
export const MAX_CELL_MESSAGE_CHARS = 120;

/**
 * The session type as recorded.
 * @param m The manifest.
 * @returns `exec`, `attach`, another recorded value, or `""` when the
 * header has none.
 * @example
 * ```ts
 * import { sessionTypeOf } from "./recording_facts.ts";
 * import type { RecordingManifest } from "../storage.ts";
 * const m = { header: { kubernetes: { sessionType: "attach" } } };
 * if (sessionTypeOf(m as RecordingManifest) !== "attach") throw new Error();
 * ```
 */
export function sessionTypeOf(m: RecordingManifest): string {
  const t = m.header?.kubernetes?.sessionType;
  return typeof t === "string" ? t : "";
}

/**
 * What the session ran: the header's shell-quoted `command`, else its
 * `argv` joined by spaces, else for an attach (which has no argv)
 * `attach to <container>`.
 * @param m The manifest.
 * @returns The text, `""` when the header says nothing.
 * @example
 * ```ts
 * import { commandOf } from "./recording_facts.ts";
 * import type { RecordingManifest } from "../storage.ts";
 * const m = {
 *   header: { command: "", argv: [], kubernetes: { sessionType: "attach", container: "debugger-x" } },
 * };
 * if (commandOf(m as unknown as RecordingManifest) !== "attach to debugger-x") {
 *   throw new Error();
 * }
 * ```
 */
export function commandOf(m: RecordingManifest): string {
  const h = m.header ?? {};
  if (typeof h.command === "string" && h.command !== "") return h.command;
  if (Array.isArray(h.argv) && h.argv.length > 0) return h.argv.join(" ");
  if (sessionTypeOf(m) === "attach") {
    const c = h.kubernetes?.container;
    return c ? `attach to ${c}` : "attach";
  }
  return "";
}

/**
 * How long the session lasted, in seconds: the end record's `endTime` minus
 * the header's `timestamp` (both the proxy's clock), else the recorder's
 * `finishedAt` (or last `updatedAt`) minus `startedAt`.
 * @param m The manifest.
 * @returns Seconds, or `undefined` while the recording is live.
 * @example
 * ```ts
 * import { durationOf } from "./recording_facts.ts";
 * import type { RecordingManifest } from "../storage.ts";
 * const m = { status: "complete", header: { timestamp: 100 }, end: { endTime: 165 } };
 * if (durationOf(m as unknown as RecordingManifest) !== 65) throw new Error();
 * ```
 */
export function durationOf(m: RecordingManifest): number | undefined {
  if (m.status === "recording") return undefined;
  const t0 = m.header?.timestamp;
  const t1 = m.end?.endTime;
  if (
    typeof t0 === "number" && typeof t1 === "number" && Number.isFinite(t0) &&
    Number.isFinite(t1) && t1 >= t0
  ) {
    return t1 - t0;
  }
  return Math.max(0, ((m.finishedAt ?? m.updatedAt) - m.startedAt) / 1000);
}

/**
 * Formats a duration for a table cell: `4.2 s`, `42 s`, `3 min 5 s`,
 * `2 h 7 min`.
 * @param seconds The duration.
 * @returns The text.
 * @example
 * ```ts
 * import { formatDuration } from "./recording_facts.ts";
 * if (formatDuration(65) !== "1 min 5 s") throw new Error(formatDuration(65));
 * if (formatDuration(0.25) !== "0.3 s") throw new Error(formatDuration(0.25));
 * ```
 */
export function formatDuration(seconds: number): string {
  if (seconds < 9.95) return `${(Math.round(seconds * 10) / 10).toFixed(1)} s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/**
 * The duration as shown: {@linkcode formatDuration}, or `live` while the
 * upload runs.
 * @param m The manifest.
 * @returns The text.
 * @example
 * ```ts
 * import { durationText } from "./recording_facts.ts";
 * import type { RecordingManifest } from "../storage.ts";
 * if (durationText({ status: "recording" } as RecordingManifest) !== "live") {
 *   throw new Error();
 * }
 * ```
 */
export function durationText(m: RecordingManifest): string {
  const d = durationOf(m);
  return d === undefined ? "live" : formatDuration(d);
}

/**
 * What the API server answered a session it did not upgrade.
 * @param m The manifest.
 * @returns The status code and message, for a `refused` recording whose end
 * record says so; otherwise `undefined`.
 * @example
 * ```ts
 * import { refusalOf } from "./recording_facts.ts";
 * import type { RecordingManifest } from "../storage.ts";
 * const m = { status: "refused", end: { upstream: { status: 403, message: "no" } } };
 * if (refusalOf(m as unknown as RecordingManifest)?.status !== 403) throw new Error();
 * ```
 */
export function refusalOf(m: RecordingManifest): UpstreamRefusal | undefined {
  const u = m.end?.upstream;
  return m.status === "refused" && u && typeof u.status === "number"
    ? { status: u.status, message: String(u.message ?? "") }
    : undefined;
}

/**
 * The status as a sentence: `refused by the API server: 403 …` for a
 * session the API server did not upgrade, `partial (reason)`, or the bare
 * status.
 * @param m The manifest.
 * @returns The text.
 * @example
 * ```ts
 * import { statusText } from "./recording_facts.ts";
 * import type { RecordingManifest } from "../storage.ts";
 * const m = { status: "partial", partialReason: "the upload ended" };
 * if (statusText(m as RecordingManifest) !== "partial (the upload ended)") {
 *   throw new Error();
 * }
 * ```
 */
export function statusText(m: RecordingManifest): string {
  if (m.status === "refused") {
    const u = refusalOf(m);
    return `refused by the API server${u ? `: ${u.status} ${u.message}` : ""}`;
  }
  return m.status + (m.partialReason ? ` (${m.partialReason})` : "");
}

/**
 * Cuts a text for a table cell, marking the cut with `…`.
 * @param text The text.
 * @param max Longest result, in UTF-16 units. @default {MAX_CELL_MESSAGE_CHARS}
 * @returns The text, at most `max` long.
 * @example
 * ```ts
 * import { cutText } from "./recording_facts.ts";
 * if (cutText("abcdef", 4) !== "abc…") throw new Error();
 * ```
 */
export function cutText(text: string, max = MAX_CELL_MESSAGE_CHARS): string {
  return text.length <= max ? text : text.slice(0, max - 1) + "…";
}

/**
 * Where a session failed over between recorders (`parts.ts`): for the
 * joined recording, each later part with its offset and the recorder it
 * left; for a later part on its own, the part it continues.
 * @param m The manifest.
 * @returns The text, `""` when the session never failed over.
 * @example
 * ```ts
 * import { failoverText } from "./recording_facts.ts";
 * import type { RecordingManifest } from "../storage.ts";
 * const m = { header: { continues: { part: 2, recording: "2026/12/02/s", offset: 10, recorder: "https://a", reason: "stalled", at: 0 } } };
 * if (!failoverText(m as unknown as RecordingManifest).startsWith("part 2 of 2026/12/02/s")) {
 *   throw new Error();
 * }
 * ```
 */
export function failoverText(m: RecordingManifest): string {
  const c = m.header?.continues;
  if (c) {
    return `part ${c.part} of ${c.recording}, from byte ${c.offset}: ${c.recorder} stopped (${c.reason})`;
  }
  return (m.parts ?? []).filter((p) => p.failover).map((p) =>
    `at byte ${p.offset} to part ${p.part} (${p.id}): ${
      p.failover!.from
    } stopped (${p.failover!.reason})${
      p.recorder ? `; held by ${p.recorder}` : ""
    }${p.missing ? `; bytes ${p.missing.from} to ${p.missing.to} missing` : ""}`
  ).join("; ");
}
