/**
 * A histogram: observations counted in cumulative buckets, with their sum
 * and count (latencies).
 *
 * @module
 */

import { formatLabels, formatValue } from "./_exposition.ts";
import { Family, type MetricOptions } from "./_family.ts";

/** Default buckets, in seconds: 1 ms to 10 s. */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** Options of {@linkcode Histogram}. */
export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  /** Upper bounds, increasing and finite (`+Inf` is added). @default {DEFAULT_BUCKETS} */
  buckets?: readonly number[];
}

/** One histogram series (one set of label values). */
export class HistogramChild {
  readonly #bounds: readonly number[];
  /** Per bucket (not cumulative); the last one is `+Inf`. */
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  /**
   * Creates a series with no observation.
   * @param bounds Finite upper bounds, increasing.
   */
  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.#counts = new Array(bounds.length + 1).fill(0);
  }

  /**
   * Counts one observation. `NaN` is ignored.
   * @param v The value (e.g. seconds).
   */
  observe(v: number): void {
    if (Number.isNaN(v)) return;
    const b = this.#bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.#counts[i]!++;
    this.#sum += v;
    this.#count++;
  }

  /** How many observations. */
  get count(): number {
    return this.#count;
  }

  /** Their sum. */
  get sum(): number {
    return this.#sum;
  }

  /** Cumulative counts per bound, `+Inf` last. */
  cumulative(): { le: number; count: number }[] {
    let acc = 0;
    return this.#counts.map((n, i) => {
      acc += n;
      return { le: this.#bounds[i] ?? Infinity, count: acc };
    });
  }
}

/**
 * A histogram metric, with or without labels.
 * @typeParam L Label names (`le` is reserved).
 * @example
 * ```ts
 * import { Histogram } from "./histogram.ts";
 * const h = new Histogram({ name: "x_seconds", help: "X time.", buckets: [0.1, 1] });
 * h.observe(0.05);
 * h.observe(3);
 * const want = 'x_seconds_bucket{le="0.1"} 1\nx_seconds_bucket{le="1"} 1\n' +
 *   'x_seconds_bucket{le="+Inf"} 2\nx_seconds_sum 3.05\nx_seconds_count 2\n';
 * if (h.samples() !== want) throw new Error(h.samples());
 * ```
 */
export class Histogram<L extends string = never>
  extends Family<L, HistogramChild> {
  /** The metric type written on the `TYPE` line: `histogram`. */
  readonly type = "histogram" as const;
  readonly #bounds: readonly number[];

  /**
   * Creates a histogram with no series (`Registry.histogram` creates one and
   * registers it).
   * @param options Name, help, labels, buckets.
   * @throws {TypeError} Buckets not finite and strictly increasing, or none.
   */
  constructor(options: HistogramOptions<L>) {
    super(options, ["le"]);
    const b = [...(options.buckets ?? DEFAULT_BUCKETS)];
    if (
      b.length === 0 ||
      b.some((x, i) => !Number.isFinite(x) || (i > 0 && x <= b[i - 1]!))
    ) {
      throw new TypeError(
        `Cannot register metric ${
          JSON.stringify(options.name)
        }: buckets must be finite and strictly increasing, got [${
          b.join(", ")
        }]`,
      );
    }
    this.#bounds = b;
  }

  /**
   * Makes a new series with the histogram's buckets, all empty.
   * @returns The series.
   */
  protected make(): HistogramChild {
    return new HistogramChild(this.#bounds);
  }

  /**
   * Counts one observation in a histogram without labels (`NaN` is ignored).
   * @param v Observed by a histogram without labels.
   */
  observe(v: number): void {
    this.unlabelled().observe(v);
  }

  /**
   * Renders the sample lines: per series, the cumulative `_bucket` lines
   * (`le` last among the labels), `_sum` and `_count` (no `HELP`/`TYPE`).
   * @returns Lines, each ending in a line feed.
   */
  samples(): string {
    let out = "";
    for (const { values, child } of this.children()) {
      for (const { le, count } of child.cumulative()) {
        out += `${this.name}_bucket${
          formatLabels(this.labelNames, values, ["le", formatValue(le)])
        } ${count}\n`;
      }
      const l = formatLabels(this.labelNames, values);
      out += `${this.name}_sum${l} ${formatValue(child.sum)}\n`;
      out += `${this.name}_count${l} ${child.count}\n`;
    }
    return out;
  }
}
