/**
 * Small statistics for benchmark samples: median and percentiles (nearest
 * rank), and formatting helpers.
 *
 * @module
 */

/**
 * The p-th percentile by nearest rank.
 * @param samples Values (any order; not modified).
 * @param p Percentile, 0–100.
 * @returns The value, or NaN for no samples.
 * @example
 * ```ts
 * import { percentile } from "./stats.ts";
 * if (percentile([1, 2, 3, 4], 50) !== 2) throw new Error();
 * ```
 */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/**
 * The median (nearest rank, lower middle for an even count).
 * @param samples Values.
 * @returns The median, or NaN for no samples.
 */
export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

/**
 * Formats a duration given in milliseconds: µs below 1 ms, else ms.
 * @param ms Milliseconds.
 * @returns E.g. `"412 µs"`, `"3.21 ms"`, `"–"` for NaN.
 */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return "–";
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 100) return `${ms.toFixed(2)} ms`;
  return `${Math.round(ms)} ms`;
}

/**
 * Formats bytes as MiB.
 * @param bytes Bytes.
 * @returns E.g. `"12.3 MiB"`.
 */
export function fmtMiB(bytes: number): string {
  if (!Number.isFinite(bytes)) return "–";
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/**
 * Formats a ratio to a baseline.
 * @param value The measured value.
 * @param base The baseline value.
 * @returns E.g. `"0.84×"`, `"–"` when either is not a number.
 */
export function fmtRatio(value: number, base: number): string {
  if (!Number.isFinite(value) || !Number.isFinite(base) || base === 0) {
    return "–";
  }
  return `${(value / base).toFixed(2)}×`;
}
