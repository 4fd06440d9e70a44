import assert from "node:assert/strict";
import { BEGIN, END, renderMarkdown } from "./markdown.ts";
import type { BenchResults } from "./report.ts";

const results: BenchResults = {
  paths: ["direct"],
  params: {
    throughputBytes: 1,
    throughputReps: 1,
    roundTrips: 1,
    setupSessions: 1,
    concurrentSessions: 1,
    concurrentBytes: 1,
    kubectlRuns: 1,
    kubectlBytes: 1,
  },
  tuning: {},
  throughput: [],
  latency: { direct: [0.5, 0.7] },
  setup: {},
  concurrency: [],
  kubectl: {},
};

Deno.test("renderMarkdown replaces only the generated section", () => {
  const input = { facts: "FACTS", table: "TABLE", targets: "GOALS", results };
  const first = renderMarkdown(input);
  assert.ok(first.startsWith("# execgate benchmarks"));
  const edited = first.replace(BEGIN, `Intro by hand.\n\n${BEGIN}`) +
    "\n## Analysis by hand\n";
  const again = renderMarkdown({ ...input, table: "NEW TABLE" }, edited);
  assert.ok(again.includes("Intro by hand."));
  assert.ok(again.includes("## Analysis by hand"));
  assert.ok(again.includes("NEW TABLE"));
  assert.ok(!again.includes("\nTABLE\n"));
  assert.equal(again.split(BEGIN).length, 2);
  assert.equal(again.split(END).length, 2);
});
