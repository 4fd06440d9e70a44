/**
 * Round-robin order: repetition `rep` starts at a different path, so that
 * machine noise (and warm-up) hits every path alike.
 *
 * @module
 */

/**
 * The items rotated left by `rep`.
 * @param items Items in table order.
 * @param rep Repetition number.
 * @returns A new array.
 * @example
 * ```ts
 * import { rotate } from "./rotate.ts";
 * if (rotate(["a", "b", "c"], 1).join() !== "b,c,a") throw new Error();
 * ```
 */
export function rotate<T>(items: readonly T[], rep: number): T[] {
  const n = items.length;
  if (n === 0) return [];
  const k = ((rep % n) + n) % n;
  return [...items.slice(k), ...items.slice(0, k)];
}
