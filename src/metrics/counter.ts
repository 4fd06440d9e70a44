/**
 * A counter: a value that only goes up (sessions, bytes, failures).
 *
 * @module
 */

import { formatLabels, formatValue } from "./_exposition.ts";
import { Family, type MetricOptions } from "./_family.ts";

/** One counter series (one set of label values). */
export class CounterChild {
  #value = 0;
  #read: (() => number) | undefined;

  /**
   * Adds to the counter.
   * @param n How much. @default {1}
   * @throws {RangeError} `n` is negative or not finite.
   */
  inc(n = 1): void {
    if (!(n >= 0) || n === Infinity) {
      throw new RangeError(
        `Cannot increase a counter by ${n}: it only goes up by finite amounts`,
      );
    }
    this.#value += n;
  }

  /**
   * Adds what `fn` returns at each scrape to the value: for a count its
   * owner already keeps, which must only go up. A throwing `fn` reads as
   * `NaN`.
   * @param fn The reader.
   */
  collect(fn: () => number): void {
    this.#read = fn;
  }

  /** The current value. */
  get value(): number {
    if (!this.#read) return this.#value;
    try {
      return this.#value + this.#read();
    } catch {
      return NaN;
    }
  }
}

/**
 * A counter metric, with or without labels.
 * @typeParam L Label names.
 * @example
 * ```ts
 * import { Counter } from "./counter.ts";
 * const c = new Counter({ name: "x_total", help: "Xs.", labels: ["kind"] });
 * const a = c.labels({ kind: "a" }); // bind once
 * a.inc();
 * a.inc(2);
 * if (c.samples() !== 'x_total{kind="a"} 3\n') throw new Error(c.samples());
 * ```
 */
export class Counter<L extends string = never> extends Family<L, CounterChild> {
  /** The metric type written on the `TYPE` line: `counter`. */
  readonly type = "counter" as const;

  /**
   * Creates a counter with no series (`Registry.counter` creates one and
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
  protected make(): CounterChild {
    return new CounterChild();
  }

  /**
   * Adds to a counter without labels.
   * @param n How much. @default {1}
   */
  inc(n = 1): void {
    this.unlabelled().inc(n);
  }

  /**
   * Adds what `fn` returns at each scrape to a counter without labels (see
   * {@linkcode CounterChild.collect}).
   * @param fn Read at each scrape and added (a counter without labels).
   */
  collect(fn: () => number): void {
    this.unlabelled().collect(fn);
  }

  /** The value of a counter without labels. */
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
