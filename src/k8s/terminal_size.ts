/**
 * The resize channel's payload: `{"Width":W,"Height":H}` (capitalised keys),
 * as kubectl sends it at start and on each terminal resize.
 *
 * Source: kubernetes `staging/src/k8s.io/client-go/tools/remotecommand/resize.go`
 * (`TerminalSize`).
 *
 * @module
 */

/** A terminal size in character cells. */
export interface TerminalSize {
  /** Columns. */
  width: number;
  /** Rows. */
  height: number;
}

/**
 * Parses a resize message.
 * @param data The message payload (channel byte excluded).
 * @returns The size, or undefined when the payload is not a valid size.
 * @example
 * ```ts
 * import { parseTerminalSize } from "./terminal_size.ts";
 * const s = parseTerminalSize(new TextEncoder().encode('{"Width":100,"Height":30}\n'));
 * if (s?.width !== 100 || s.height !== 30) throw new Error();
 * ```
 */
export function parseTerminalSize(data: Uint8Array): TerminalSize | undefined {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { Width: width, Height: height } = value as Record<string, unknown>;
  const ok = (n: unknown): n is number =>
    typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= 65535;
  return ok(width) && ok(height) ? { width, height } : undefined;
}

/** What one resize message records: a size, or a marker saying what came. */
export type ResizeRecord =
  | { size: TerminalSize; marker?: undefined }
  | { marker: string; size?: undefined };

/**
 * Reads a resize message the way the kubelet's Go JSON decoder would (field
 * names match case-insensitively, the last one wins), accepting any
 * non-negative integer size, since it is recorded as sent.
 * @param data The message payload (at most 4096 bytes of it).
 * @param totalBytes The whole message's size.
 * @returns The size, or a marker text naming what came instead.
 * @example
 * ```ts
 * import { readResize } from "./terminal_size.ts";
 * const r = readResize(new TextEncoder().encode('{"Width":0,"Height":0}'), 22);
 * if (r.size?.width !== 0) throw new Error();
 * ```
 */
export function readResize(
  data: Uint8Array,
  totalBytes: number,
): ResizeRecord {
  const text = new TextDecoder().decode(data);
  const bad = (why: string): ResizeRecord => ({
    marker: `resize message is not a terminal size (${why}): ${
      JSON.stringify(text)
    }`,
  });
  if (totalBytes > data.length) {
    return bad(`${totalBytes} bytes, the first ${data.length} shown`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return bad("not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return bad("not a JSON object");
  }
  let width: unknown;
  let height: unknown;
  for (const [k, v] of Object.entries(value)) {
    const key = k.toLowerCase();
    if (key === "width") width = v;
    else if (key === "height") height = v;
  }
  const ok = (n: unknown): n is number =>
    typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
  if (!ok(width) || !ok(height)) {
    return bad("Width and Height are not both non-negative integers");
  }
  return { size: { width, height } };
}
