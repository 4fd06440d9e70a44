/**
 * A registry: the metrics one process exposes, rendered in the Prometheus
 * text exposition format 0.0.4 (`HELP`, `TYPE`, samples). Runtime-neutral;
 * nothing global: each proxy or recorder is handed its own.
 *
 * @module
 */

import { escapeHelp } from "./_exposition.ts";
import { Counter } from "./counter.ts";
import { Gauge } from "./gauge.ts";
import { Histogram, type HistogramOptions } from "./histogram.ts";
import type { MetricOptions } from "./_family.ts";

type AnyMetric = Counter<string> | Gauge<string> | Histogram<string>;

/**
 * Holds metrics and renders them.
 * @example
 * ```ts
 * import { Registry } from "./registry.ts";
 * const r = new Registry();
 * const c = r.counter({ name: "jobs_total", help: "Jobs done.", labels: ["result"] });
 * c.labels({ result: "ok" }).inc();
 * const want = '# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\njobs_total{result="ok"} 1\n';
 * if (r.render() !== want) throw new Error(r.render());
 * ```
 */
export class Registry {
  #metrics = new Map<string, AnyMetric>();

  /**
   * Registers a counter.
   * @param options Name, help, labels.
   * @returns The counter.
   * @throws {TypeError} The name is invalid or taken.
   */
  counter<L extends string = never>(options: MetricOptions<L>): Counter<L> {
    return this.#add(new Counter(options));
  }

  /**
   * Registers a gauge.
   * @param options Name, help, labels.
   * @returns The gauge.
   * @throws {TypeError} The name is invalid or taken.
   */
  gauge<L extends string = never>(options: MetricOptions<L>): Gauge<L> {
    return this.#add(new Gauge(options));
  }

  /**
   * Registers a histogram.
   * @param options Name, help, labels, buckets.
   * @returns The histogram.
   * @throws {TypeError} The name is invalid or taken, or bad buckets.
   */
  histogram<L extends string = never>(
    options: HistogramOptions<L>,
  ): Histogram<L> {
    return this.#add(new Histogram(options));
  }

  #add<M extends AnyMetric>(m: M): M {
    if (this.#metrics.has(m.name)) {
      throw new TypeError(
        `Cannot register metric ${
          JSON.stringify(m.name)
        }: it is registered already`,
      );
    }
    this.#metrics.set(m.name, m);
    return m;
  }

  /**
   * Renders every metric, in registration order: text format 0.0.4 (serve
   * it with `EXPOSITION_CONTENT_TYPE`).
   * @returns The exposition text.
   */
  render(): string {
    let out = "";
    for (const m of this.#metrics.values()) {
      out += `# HELP ${m.name} ${
        escapeHelp(m.help)
      }\n# TYPE ${m.name} ${m.type}\n`;
      out += m.samples();
    }
    return out;
  }
}
