/**
 * A gauge: a value that goes up and down (active sessions, queued events),
 * set directly or read at scrape time from a callback.
 *
 * @module
 */

import { formatLabels, formatValue } from "./_exposition.ts";
import { Family, type MetricOptions } from "./_family.ts";

/** One gauge series (one set of label values). */
export class GaugeChild {
  #value = 0;
  #read: (() => number) | undefined;

  /**
   * Sets the value.
   * @param v The value.
   */
  set(v: number): void {
    this.#value = v;
  }

  /**
   * Adds to the value.
   * @param n How much (negative to subtract). @default {1}
   */
  inc(n = 1): void {
    this.#value += n;
  }

  /**
   * Subtracts from the value.
   * @param n How much. @default {1}
   */
  dec(n = 1): void {
    this.#value -= n;
  }

  /**
   * Reads the value from `fn` at each scrape instead (e.g. a live count the
   * owner already keeps). A throwing `fn` reads as `NaN`.
   * @param fn The reader.
   */
  collect(fn: () => number): void {
    this.#read = fn;
  }

  /** The current value. */
  get value(): number {
    if (!this.#read) return this.#value;
    try {
      return this.#read();
    } catch {
      return NaN;
    }
  }
}

/**
 * A gauge metric, with or without labels.
 * @typeParam L Label names.
 * @example
 * ```ts
 * import { Gauge } from "./gauge.ts";
 * const g = new Gauge({ name: "x_active", help: "Xs now." });
 * g.inc();
 * g.inc();
 * g.dec();
 * if (g.samples() !== "x_active 1\n") throw new Error(g.samples());
 * ```
 */
export class Gauge<L extends string = never> extends Family<L, GaugeChild> {
  /** The metric type written on the `TYPE` line: `gauge`. */
  readonly type = "gauge" as const;

  /**
   * Creates a gauge with no series (`Registry.gauge` creates one and
   * registers it).
   * @param options Name, help, labels.
   * @throws {TypeError} The name or a label name is invalid.
   */
  constructor(options: MetricOptions<L>) {
    super(options);
  }

  /**
   * Makes a new series, at 0.
   * @returns The series.
   */
  protected make(): GaugeChild {
    return new GaugeChild();
  }

  /**
   * Sets a gauge without labels.
   * @param v The value of a gauge without labels.
   */
  set(v: number): void {
    this.unlabelled().set(v);
  }

  /**
   * Raises a gauge without labels.
   * @param n Added to a gauge without labels. @default {1}
   */
  inc(n = 1): void {
    this.unlabelled().inc(n);
  }

  /**
   * Lowers a gauge without labels.
   * @param n Subtracted from a gauge without labels. @default {1}
   */
  dec(n = 1): void {
    this.unlabelled().dec(n);
  }

  /**
   * Reads a gauge without labels from `fn` at each scrape (see
   * {@linkcode GaugeChild.collect}).
   * @param fn Read at each scrape (a gauge without labels).
   */
  collect(fn: () => number): void {
    this.unlabelled().collect(fn);
  }

  /** The value of a gauge without labels. */
  get value(): number {
    return this.unlabelled().value;
  }

  /**
   * Renders the sample lines, one per series (no `HELP`/`TYPE`).
   * @returns Lines, each ending in a line feed.
   */
  samples(): string {
    let out = "";
    for (const { values, child } of this.children()) {
      out += `${this.name}${formatLabels(this.labelNames, values)} ${
        formatValue(child.value)
      }\n`;
    }
    return out;
  }
}
