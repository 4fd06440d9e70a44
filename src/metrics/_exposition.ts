/**
 * Text exposition format 0.0.4 helpers: name checks, escaping, numbers.
 * See https://prometheus.io/docs/instrumenting/exposition_formats/.
 *
 * @module
 */

/** `Content-Type` of the text exposition format 0.0.4. */
export const EXPOSITION_CONTENT_TYPE =
  "text/plain; version=0.0.4; charset=utf-8";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Throws unless `name` is a valid metric name.
 * @param name The name.
 * @throws {TypeError} It is not `[a-zA-Z_:][a-zA-Z0-9_:]*`.
 */
export function checkMetricName(name: string): void {
  if (!METRIC_NAME.test(name)) {
    throw new TypeError(
      `Cannot register metric ${
        JSON.stringify(name)
      }: a metric name must match [a-zA-Z_:][a-zA-Z0-9_:]*`,
    );
  }
}

/**
 * Throws unless `label` is a valid, unreserved label name of `metric`.
 * @param metric The metric, for the message.
 * @param label The label name.
 * @param reserved Names the metric type reserves (`le` for histograms).
 * @throws {TypeError} Invalid, reserved (`__…`) or repeated.
 */
export function checkLabelName(
  metric: string,
  label: string,
  reserved: readonly string[] = [],
): void {
  if (
    !LABEL_NAME.test(label) || label.startsWith("__") ||
    reserved.includes(label)
  ) {
    throw new TypeError(
      `Cannot register metric ${JSON.stringify(metric)}: label name ${
        JSON.stringify(label)
      } is invalid or reserved`,
    );
  }
}

/**
 * Escapes a label value: backslash, double quote and line feed.
 * @param v The value.
 * @returns The escaped value (without quotes).
 */
export function escapeLabelValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : "\\" + c);
}

/**
 * Escapes `HELP` text: backslash and line feed.
 * @param v The text.
 * @returns The escaped text.
 */
export function escapeHelp(v: string): string {
  return v.replace(/[\\\n]/g, (c) => c === "\n" ? "\\n" : "\\\\");
}

/**
 * Formats a sample value: `+Inf`, `-Inf`, `NaN`, or the shortest decimal.
 * @param v The value.
 * @returns Its text.
 */
export function formatValue(v: number): string {
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (Number.isNaN(v)) return "NaN";
  return String(v);
}

/**
 * Renders `{a="x",b="y"}` (or "" with no labels).
 * @param names Label names.
 * @param values Label values, in the same order.
 * @param extra One more pair appended (`le` of a bucket).
 * @returns The label set's text.
 */
export function formatLabels(
  names: readonly string[],
  values: readonly string[],
  extra?: [string, string],
): string {
  const parts = names.map((n, i) => `${n}="${escapeLabelValue(values[i]!)}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}
