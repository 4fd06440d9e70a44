/**
 * The canonical JSON a manifest signature covers: object keys sorted by
 * UTF-16 code units (`Array.prototype.sort`), no whitespace, members whose
 * value is `undefined` left out (as `JSON.stringify` does), strings and
 * numbers as `JSON.stringify` writes them (ECMAScript's shortest round-trip
 * number form, so a manifest read back with `JSON.parse` serialises to the
 * same bytes).
 *
 * @module
 */

/**
 * Serialises a JSON value canonically.
 * @param value A JSON value (objects, arrays, strings, finite numbers,
 * booleans, `null`).
 * @returns The canonical text.
 * @throws {TypeError} On a value JSON cannot carry (a non-finite number, a
 * function, a bigint), naming where it is.
 * @example
 * ```ts
 * import { canonicalJson } from "./canonical_json.ts";
 * if (canonicalJson({ b: 1, a: [true, "x"] }) !== '{"a":[true,"x"],"b":1}') {
 *   throw new Error("not canonical");
 * }
 * ```
 */
export function canonicalJson(value: unknown): string {
  return write(value, "$", 0);
}

const MAX_DEPTH = 64;

function write(v: unknown, where: string, depth: number): string {
  if (depth > MAX_DEPTH) {
    throw new TypeError(
      `Cannot serialise ${where}: nested deeper than ${MAX_DEPTH}`,
    );
  }
  if (v === null || typeof v === "boolean" || typeof v === "string") {
    return JSON.stringify(v);
  }
  if (typeof v === "number") {
    if (!Number.isFinite(v)) {
      throw new TypeError(`Cannot serialise ${where}: ${v} is not finite`);
    }
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) {
    return `[${
      v.map((x, i) => write(x ?? null, `${where}[${i}]`, depth + 1)).join(",")
    }]`;
  }
  if (typeof v === "object") {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
    return `{${
      keys.map((k) =>
        `${JSON.stringify(k)}:${write(o[k], `${where}.${k}`, depth + 1)}`
      ).join(",")
    }}`;
  }
  throw new TypeError(`Cannot serialise ${where}: a ${typeof v} is not JSON`);
}
