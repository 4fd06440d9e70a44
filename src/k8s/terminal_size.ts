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
