import assert from "node:assert/strict";
import { HeldOutput } from "./held_output.ts";

const bytes = (n: number, from = 0) =>
  Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);

Deno.test("HeldOutput releases exactly up to each point, cutting chunks anywhere, in order", () => {
  const all = bytes(40);
  for (const cut of [1, 3, 7, 13, 40]) {
    const h = new HeldOutput();
    for (let i = 0; i < all.length; i += cut) h.hold(all.subarray(i, i + cut));
    const out: number[] = [];
    const take = (p: Uint8Array) => (out.push(...p), true);
    h.mark(5, 1);
    h.mark(22, 2);
    h.mark(40, 3);
    assert.ok(h.releaseAcked(0, take));
    assert.equal(out.length, 0);
    h.releaseAcked(2, take);
    assert.deepEqual(out, [...all.subarray(0, 22)]);
    assert.equal(h.released, 22);
    h.releaseAcked(3, take);
    assert.deepEqual(out, [...all]);
  }
});

Deno.test("HeldOutput stops when the client is gone and releaseAll sends the rest", () => {
  const h = new HeldOutput();
  h.hold(bytes(10));
  h.hold(bytes(10, 10));
  h.mark(20, 0);
  let n = 0;
  assert.equal(h.releaseAcked(0, () => ++n < 1), false);
  assert.equal(h.released, 10);
  const rest: number[] = [];
  assert.ok(h.releaseAll((p) => (rest.push(...p), true)));
  assert.deepEqual(rest, [...bytes(10, 10)]);
  assert.equal(h.released, 20);
  h.hold(bytes(3));
  h.clear();
  assert.ok(h.releaseAll(() => {
    throw new Error("nothing is held after clear");
  }));
});
