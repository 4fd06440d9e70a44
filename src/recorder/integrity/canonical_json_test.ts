import assert from "node:assert/strict";
import { canonicalJson } from "./canonical_json.ts";

Deno.test("canonicalJson sorts keys at every depth and writes no whitespace", () => {
  assert.equal(
    canonicalJson({ z: { b: [1, { y: 2, x: "é\n" }], a: null }, a: true }),
    '{"a":true,"z":{"a":null,"b":[1,{"x":"é\\n","y":2}]}}',
  );
});

Deno.test("canonicalJson is the same text for a value written and read back", () => {
  const v = {
    n: 0.1 + 0.2,
    big: 2 ** 53 - 1,
    neg: -1e-7,
    s: "\u2028\u0000",
    u: undefined,
  };
  const once = canonicalJson(v);
  assert.equal(canonicalJson(JSON.parse(JSON.stringify(v))), once);
  assert.ok(!once.includes('"u"'));
});

Deno.test("canonicalJson refuses what JSON cannot carry, naming where", () => {
  assert.throws(
    () => canonicalJson({ a: [1, NaN] }),
    /\$\.a\[1\]: NaN is not finite/,
  );
  assert.throws(
    () => canonicalJson({ f: () => 1 }),
    /\$\.f: a function is not JSON/,
  );
  let deep: unknown = 1;
  for (let i = 0; i < 100; i++) deep = [deep];
  assert.throws(() => canonicalJson(deep), /nested deeper than 64/);
});
