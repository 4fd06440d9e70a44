/**
 * The readable line of a port-forward event record (`PORTFORWARD`, JSON
 * `PortForwardEventRecord`): what the cast view shows as output, so the
 * player and the text index show a port-forward's streams.
 *
 * ```
 * {"event":"open","stream":3,"streamType":"data","port":8080,"requestId":"0","by":"client"}
 *   → port-forward: stream 3 opened by the client: data, port 8080, request 0
 * {"event":"close","stream":3,"bytesFromClient":78,"bytesFromPod":190}
 *   → port-forward: stream 3 closed: 78 bytes from the client, 190 from the pod
 * ```
 *
 * A payload that is not such an event (the ingest stores any bytes after the
 * header) reads `port-forward: unreadable event (N bytes)`.
 *
 * @module
 */

/** Longest line made (an error message is cut to fit). */
export const MAX_PORTFORWARD_LINE_CHARS = 1024;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

const num = (v: unknown) =>
  typeof v === "number" && Number.isSafeInteger(v) ? String(v) : "?";
const str = (v: unknown) =>
  typeof v === "string" ? JSON.stringify(v).slice(1, -1) : "?";

/**
 * The line of one port-forward event.
 * @param payload The record's payload.
 * @returns The line, without a newline.
 * @example
 * ```ts
 * import { portForwardLine } from "./portforward_lines.ts";
 * const p = new TextEncoder().encode('{"event":"fin","stream":3,"by":"pod"}');
 * if (portForwardLine(p) !== "port-forward: stream 3 finished by the pod") throw new Error();
 * ```
 */
export function portForwardLine(payload: Uint8Array): string {
  let e: unknown;
  try {
    e = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
  } catch {
    e = undefined;
  }
  if (!isObject(e)) {
    return `port-forward: unreadable event (${payload.length} bytes)`;
  }
  const s = `port-forward: stream ${num(e.stream)}`;
  const by = e.by === "client" || e.by === "pod" ? e.by : "?";
  let line: string;
  switch (e.event) {
    case "open":
      line = `${s} opened by the ${by}: ${str(e.streamType)}${
        e.port !== undefined ? `, port ${num(e.port)}` : ""
      }${e.requestId !== undefined ? `, request ${str(e.requestId)}` : ""}`;
      break;
    case "fin":
      line = `${s} finished by the ${by}`;
      break;
    case "reset":
      line = `${s} reset by the ${by} (status ${num(e.status)})`;
      break;
    case "error":
      line = `${s} error: ${str(e.message)}`;
      break;
    case "close":
      line = `${s} closed${e.atEnd === true ? " at the end" : ""}: ${
        num(e.bytesFromClient)
      } bytes from the client, ${num(e.bytesFromPod)} from the pod`;
      break;
    default:
      line = `${s}: unknown event ${str(e.event)}`;
  }
  return line.length <= MAX_PORTFORWARD_LINE_CHARS
    ? line
    : `${line.slice(0, MAX_PORTFORWARD_LINE_CHARS)}…`;
}
