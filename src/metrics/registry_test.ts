import assert from "node:assert/strict";
import { Registry } from "./registry.ts";
import { createProxyMetrics } from "./proxy_metrics.ts";
import { createRecorderMetrics } from "./recorder_metrics.ts";
import { parseExposition, sampleValue } from "../testing/prometheus_text.ts";

Deno.test("Registry renders HELP, TYPE and samples that parse back", () => {
  const r = new Registry();
  const c = r.counter({
    name: "t_total",
    help: "Counts\\things\non two lines.",
    labels: ["a", "b"],
  });
  const g = r.gauge({ name: "t_now", help: "Now." });
  const h = r.histogram({
    name: "t_seconds",
    help: "Time.",
    labels: ["k"],
    buckets: [0.5, 2],
  });
  c.labels({ a: "x", b: "y" }).inc(3);
  c.labels({ b: "y", a: "x" }).inc(); // same child, whatever the key order
  g.set(-2.5);
  const hk = h.labels({ k: "q" });
  for (const v of [0.1, 0.5, 1, 3, NaN]) hk.observe(v);
  const e = parseExposition(r.render());
  assert.equal(e.help.get("t_total"), "Counts\\things\non two lines.");
  assert.deepEqual(
    [...e.types],
    [["t_total", "counter"], ["t_now", "gauge"], ["t_seconds", "histogram"]],
  );
  assert.equal(sampleValue(e, "t_total", { a: "x", b: "y" }), 4);
  assert.equal(sampleValue(e, "t_now"), -2.5);
  assert.equal(sampleValue(e, "t_seconds_bucket", { k: "q", le: "0.5" }), 2);
  assert.equal(sampleValue(e, "t_seconds_bucket", { k: "q", le: "2" }), 3);
  assert.equal(sampleValue(e, "t_seconds_bucket", { k: "q", le: "+Inf" }), 4);
  assert.equal(sampleValue(e, "t_seconds_count", { k: "q" }), 4);
  assert.equal(sampleValue(e, "t_seconds_sum", { k: "q" }), 4.6);
});

Deno.test("Registry escapes hostile label values so each stays one sample", () => {
  const r = new Registry();
  const c = r.counter({ name: "e_total", help: "E.", labels: ["v"] });
  const hostile = [
    'a"b',
    "back\\slash",
    "line\nbreak",
    '"} 99\ne_total{v="x',
    "\\n",
    "",
    "ünïcødé ✓",
  ];
  hostile.forEach((v, i) => c.labels({ v }).inc(i + 1));
  const text = r.render();
  const e = parseExposition(text);
  assert.equal(e.samples.length, hostile.length);
  hostile.forEach((v, i) =>
    assert.equal(sampleValue(e, "e_total", { v }), i + 1)
  );
  assert.equal(text.split("\n").length, 2 + hostile.length + 1);
});

Deno.test("Registry refuses bad names, labels, buckets and duplicates", () => {
  const r = new Registry();
  assert.throws(() => r.counter({ name: "1x", help: "" }), /metric name/);
  assert.throws(() => r.counter({ name: "a-b", help: "" }), /metric name/);
  assert.throws(
    () => r.counter({ name: "x", help: "", labels: ["__x"] }),
    /reserved/,
  );
  assert.throws(
    () => r.counter({ name: "x", help: "", labels: ["a-b"] }),
    /invalid/,
  );
  assert.throws(
    () => r.counter({ name: "x", help: "", labels: ["a", "a"] }),
    /repeated/,
  );
  assert.throws(
    () => r.histogram({ name: "h", help: "", labels: ["le"] }),
    /reserved/,
  );
  for (const buckets of [[], [1, 1], [2, 1], [1, Infinity], [NaN]]) {
    assert.throws(
      () => r.histogram({ name: "h", help: "", buckets }),
      /strictly increasing/,
    );
  }
  r.gauge({ name: "taken", help: "" });
  assert.throws(() => r.counter({ name: "taken", help: "" }), /already/);
});

Deno.test("Counter.labels checks the label set; inc only goes up", () => {
  const r = new Registry();
  const c = r.counter({ name: "c_total", help: "", labels: ["a"] });
  assert.throws(() => c.labels({} as { a: string }), /needs a string/);
  assert.throws(
    () => c.labels({ a: "x", b: "y" } as { a: string }),
    /takes labels \[a\], got \[a, b\]/,
  );
  assert.throws(() => c.labels({ a: 1 as unknown as string }), /string/);
  assert.throws(() => c.inc(), /without labels/);
  const x = c.labels({ a: "x" });
  for (const bad of [-1, NaN, Infinity]) {
    assert.throws(() => x.inc(bad), RangeError);
  }
  assert.equal(x.value, 0);
  x.inc(0.5);
  assert.equal(x.value, 0.5);
});

Deno.test("A metric holds at most maxSeries label value sets", () => {
  const r = new Registry();
  const c = r.counter({
    name: "m_total",
    help: "",
    labels: ["v"],
    maxSeries: 3,
  });
  for (const v of ["a", "b", "c"]) c.labels({ v }).inc();
  assert.throws(() => c.labels({ v: "d" }), /already holds 3/);
  c.labels({ v: "a" }).inc(); // a bound one still works
  assert.equal(parseExposition(r.render()).samples.length, 3);
});

Deno.test("Gauge.collect reads at scrape time; a throwing reader is NaN", () => {
  const r = new Registry();
  let n = 1;
  r.gauge({ name: "live", help: "" }).collect(() => n);
  const bad = r.gauge({ name: "bad", help: "" });
  bad.collect(() => {
    throw new Error("boom");
  });
  n = 7;
  const e = parseExposition(r.render());
  assert.equal(sampleValue(e, "live"), 7);
  assert.ok(Number.isNaN(sampleValue(e, "bad")));
});

Deno.test("Histogram counts a value equal to a bound in that bucket, cumulatively", () => {
  const r = new Registry();
  const h = r.histogram({ name: "b", help: "", buckets: [1, 2, 3] });
  for (const v of [1, 2, 2, 3, 4, -5]) h.observe(v);
  const e = parseExposition(r.render());
  const got = ["1", "2", "3", "+Inf"].map((le) =>
    sampleValue(e, "b_bucket", { le })
  );
  assert.deepEqual(got, [2, 4, 5, 6]);
  assert.equal(sampleValue(e, "b_sum"), 7);
});

Deno.test("createProxyMetrics and createRecorderMetrics expose every series at 0", () => {
  const p = parseExposition(createProxyMetrics().registry.render());
  assert.equal(
    sampleValue(p, "execgate_sessions_total", {
      type: "exec",
      outcome: "normal",
    }),
    0,
  );
  for (const t of ["counter", "gauge", "histogram"]) {
    assert.ok([...p.types.values()].includes(t));
  }
  for (const name of p.types.keys()) assert.match(name, /^execgate_/);
  assert.equal(
    sampleValue(p, "execgate_recording_failures_total", { reason: "protocol" }),
    0,
  );
  assert.equal(
    sampleValue(p, "execgate_policy_reloads_total", { result: "failed" }),
    0,
  );
  const r = parseExposition(createRecorderMetrics().registry.render());
  assert.equal(sampleValue(r, "execgate_uploads_active"), 0);
  assert.equal(
    sampleValue(r, "execgate_index_query_seconds_count", { kind: "text" }),
    0,
  );
});

Deno.test("parseExposition refuses what is not the format", () => {
  for (
    const bad of [
      "x 1\n", // no TYPE
      '# TYPE x counter\nx{a="b} 1\n',
      '# TYPE x counter\nx{a="b"}1\n',
      "# TYPE x counter\nx one\n",
      "# TYPE x counter\nx 1",
      "# TYPE x counter\n# TYPE x gauge\n",
    ]
  ) assert.throws(() => parseExposition(bad), SyntaxError, bad);
});

Deno.test("CounterChild.collect adds its owner's count at scrape time", () => {
  const r = new Registry();
  const c = r.counter({ name: "lost_total", help: "" });
  let owned = 2;
  c.collect(() => owned);
  c.inc();
  owned = 5;
  assert.equal(sampleValue(parseExposition(r.render()), "lost_total"), 6);
  const bad = r.counter({ name: "bad_total", help: "" });
  bad.collect(() => {
    throw new Error("boom");
  });
  assert.ok(Number.isNaN(bad.value));
});
