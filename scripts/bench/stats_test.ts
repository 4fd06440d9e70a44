import assert from "node:assert/strict";
import { fmtMiB, fmtMs, fmtRatio, median, percentile } from "./stats.ts";
import { rotate } from "./rotate.ts";

Deno.test("percentile uses the nearest rank", () => {
  const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1
  assert.equal(percentile(xs, 99), 99);
  assert.equal(percentile(xs, 100), 100);
  assert.equal(percentile(xs, 0), 1);
  assert.equal(median([5, 1, 3]), 3);
  assert.ok(Number.isNaN(median([])));
});

Deno.test("fmtMs, fmtMiB and fmtRatio pick readable units", () => {
  assert.equal(fmtMs(0.4123), "412 µs");
  assert.equal(fmtMs(3.214), "3.21 ms");
  assert.equal(fmtMs(1234.4), "1234 ms");
  assert.equal(fmtMs(NaN), "–");
  assert.equal(fmtMiB(3 * 1048576), "3.0 MiB");
  assert.equal(fmtRatio(84, 100), "0.84×");
  assert.equal(fmtRatio(1, 0), "–");
});

Deno.test("rotate starts each repetition at the next item", () => {
  assert.deepEqual(rotate([1, 2, 3], 0), [1, 2, 3]);
  assert.deepEqual(rotate([1, 2, 3], 4), [2, 3, 1]);
  assert.deepEqual(rotate([], 2), []);
});
