/**
 * The part every metric type shares: a name, help, label names, and its
 * children (one per label value set), bound once and kept.
 *
 * @module
 */

import { checkLabelName, checkMetricName } from "./_exposition.ts";

/** Options every metric type takes. */
export interface MetricOptions<L extends string> {
  /** The metric name (`execgate_…`). */
  name: string;
  /** One line saying what it counts (the `HELP` line). */
  help: string;
  /** Label names. @default {[]} */
  labels?: readonly L[];
  /**
   * Most label value sets (children) this metric may hold: binding one more
   * throws, so a label fed from input can never grow memory without bound.
   * @default {1000}
   */
  maxSeries?: number;
}

/** Label values by name. */
export type LabelValues<L extends string> = { readonly [K in L]: string };

/**
 * A metric family: children keyed by their label values.
 * @typeParam L Label names.
 * @typeParam C The child type.
 */
export abstract class Family<L extends string, C> {
  /** The metric name. */
  readonly name: string;
  /** The help text. */
  readonly help: string;
  /** The label names, in order. */
  readonly labelNames: readonly L[];
  #children = new Map<string, { values: string[]; child: C }>();
  #max: number;

  /**
   * Checks the name and label names and creates a family with no child.
   * @param options Name, help, labels.
   * @param reserved Label names this type reserves.
   * @throws {TypeError} The name or a label name is invalid, reserved or
   * repeated.
   */
  constructor(options: MetricOptions<L>, reserved: readonly string[] = []) {
    checkMetricName(options.name);
    const labels = options.labels ?? [];
    for (const l of labels) checkLabelName(options.name, l, reserved);
    if (new Set(labels).size !== labels.length) {
      throw new TypeError(
        `Cannot register metric ${
          JSON.stringify(options.name)
        }: a label name is repeated`,
      );
    }
    this.name = options.name;
    this.help = options.help;
    this.labelNames = labels;
    this.#max = options.maxSeries ?? 1000;
  }

  /** The metric type written on the `TYPE` line. */
  abstract readonly type: "counter" | "gauge" | "histogram";

  /** Makes a new child. */
  protected abstract make(): C;

  /**
   * The child for these label values, made on first use. Bind once and keep
   * it: this is the lookup the hot path must not repeat.
   * @param values One value per label name.
   * @returns The child.
   * @throws {TypeError} A label is missing, unknown or not a string.
   * @throws {RangeError} The metric already holds `maxSeries` children.
   */
  labels(values: LabelValues<L>): C {
    const given = Object.keys(values);
    const ordered: string[] = [];
    for (const n of this.labelNames) {
      const v = (values as Record<string, unknown>)[n];
      if (typeof v !== "string") {
        throw new TypeError(
          `Cannot bind metric ${this.name}: label ${
            JSON.stringify(n)
          } needs a string value`,
        );
      }
      ordered.push(v);
    }
    if (given.length !== this.labelNames.length) {
      throw new TypeError(
        `Cannot bind metric ${this.name}: it takes labels [${
          this.labelNames.join(", ")
        }], got [${given.join(", ")}]`,
      );
    }
    return this.#child(ordered);
  }

  /** The child of a metric without labels. */
  protected unlabelled(): C {
    if (this.labelNames.length > 0) {
      throw new TypeError(
        `Cannot use metric ${this.name} without labels: it takes [${
          this.labelNames.join(", ")
        }]`,
      );
    }
    return this.#child([]);
  }

  #child(values: string[]): C {
    const key = values.join("\u0000");
    const had = this.#children.get(key);
    if (had) return had.child;
    if (this.#children.size >= this.#max) {
      throw new RangeError(
        `Cannot bind metric ${this.name}: it already holds ${this.#max} label value sets`,
      );
    }
    const child = this.make();
    this.#children.set(key, { values, child });
    return child;
  }

  /** Children with their label values, in the order they were bound. */
  protected children(): Iterable<{ values: string[]; child: C }> {
    return this.#children.values();
  }

  /**
   * Renders the sample lines (no `HELP`/`TYPE`).
   * @returns Lines, each ending in a line feed.
   */
  abstract samples(): string;
}
