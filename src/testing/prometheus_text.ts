/**
 * A strict reader of the Prometheus text exposition format 0.0.4, for tests:
 * every line must be a `# HELP`, a `# TYPE` or a sample of a metric whose
 * `TYPE` came first, label values unescaped; anything else throws naming the
 * line.
 *
 * @module
 */

/** One sample line. */
export interface Sample {
  /** The sample's name (`x_bucket` for a histogram's bucket). */
  name: string;
  /** Label values by name, unescaped. */
  labels: Record<string, string>;
  /** The value. */
  value: number;
}

/** What {@linkcode parseExposition} found. */
export interface Exposition {
  /** Metric name → help text (unescaped). */
  help: Map<string, string>;
  /** Metric name → type. */
  types: Map<string, string>;
  /** Every sample, in order. */
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

function parseValue(s: string, line: number): number {
  if (s === "+Inf") return Infinity;
  if (s === "-Inf") return -Infinity;
  if (s === "NaN") return NaN;
  const v = Number(s);
  if (s === "" || Number.isNaN(v)) {
    throw new SyntaxError(
      `Cannot read line ${line}: value "${s}" is not a number`,
    );
  }
  return v;
}

function familyOf(
  name: string,
  types: Map<string, string>,
): string | undefined {
  if (types.has(name)) return name;
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      if (types.get(base) === "histogram") return base;
    }
  }
  return undefined;
}

/**
 * Parses an exposition.
 * @param text The `/metrics` body.
 * @returns Help, types and samples.
 * @throws {SyntaxError} A line that is not in the format, naming it.
 * @example
 * ```ts
 * import { parseExposition } from "./prometheus_text.ts";
 * const e = parseExposition('# HELP a_total A.\n# TYPE a_total counter\na_total{k="x\\"y"} 2\n');
 * if (e.samples[0]!.labels.k !== 'x"y' || e.samples[0]!.value !== 2) throw new Error();
 * ```
 */
export function parseExposition(text: string): Exposition {
  const help = new Map<string, string>();
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  if (text !== "" && !text.endsWith("\n")) {
    throw new SyntaxError(
      "Cannot read the exposition: it does not end with a line feed",
    );
  }
  const lines = text.split("\n").slice(0, -1);
  lines.forEach((l, i) => {
    const n = i + 1;
    let m;
    if ((m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(l))) {
      help.set(m[1]!, m[2]!.replace(/\\(.)/g, (_, c) => c === "n" ? "\n" : c));
      return;
    }
    if (
      (m =
        /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/
          .exec(l))
    ) {
      if (types.has(m[1]!)) {
        throw new SyntaxError(
          `Cannot read line ${n}: a second TYPE for ${m[1]}`,
        );
      }
      types.set(m[1]!, m[2]!);
      return;
    }
    const name = NAME.exec(l)?.[0];
    if (!name) {
      throw new SyntaxError(`Cannot read line ${n}: ${JSON.stringify(l)}`);
    }
    if (!familyOf(name, types)) {
      throw new SyntaxError(
        `Cannot read line ${n}: sample ${name} has no TYPE before it`,
      );
    }
    let at = name.length;
    const labels: Record<string, string> = {};
    if (l[at] === "{") {
      at++;
      while (l[at] !== "}") {
        const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,?)/
          .exec(l.slice(at));
        if (!lm) {
          throw new SyntaxError(
            `Cannot read line ${n}: bad label at column ${at + 1}`,
          );
        }
        if (lm[1]! in labels) {
          throw new SyntaxError(
            `Cannot read line ${n}: label ${lm[1]} repeated`,
          );
        }
        labels[lm[1]!] = lm[2]!.replace(
          /\\(.)/g,
          (_, c) => c === "n" ? "\n" : c,
        );
        at += lm[0].length;
        if (!lm[3] && l[at] !== "}") {
          throw new SyntaxError(
            `Cannot read line ${n}: expected , or } at column ${at + 1}`,
          );
        }
      }
      at++;
    }
    if (l[at] !== " ") {
      throw new SyntaxError(`Cannot read line ${n}: no space before the value`);
    }
    samples.push({ name, labels, value: parseValue(l.slice(at + 1), n) });
  });
  return { help, types, samples };
}

/**
 * The value of the one sample with this name and exactly these labels.
 * @param e A parsed exposition.
 * @param name The sample name.
 * @param labels Its labels. @default {{}}
 * @returns The value.
 * @throws {Error} None or several match.
 */
export function sampleValue(
  e: Exposition,
  name: string,
  labels: Record<string, string> = {},
): number {
  const want = Object.entries(labels).sort().join("\u0000");
  const hits = e.samples.filter((s) =>
    s.name === name && Object.entries(s.labels).sort().join("\u0000") === want
  );
  if (hits.length !== 1) {
    throw new Error(
      `Expected one sample ${name}${
        JSON.stringify(labels)
      }, found ${hits.length}`,
    );
  }
  return hits[0]!.value;
}
