import assert from "node:assert/strict";
import { ByteQueue } from "./_byte_queue.ts";

Deno.test("ByteQueue takes bytes across chunks and owns what it holds back", () => {
  const q = new ByteQueue();
  const a = new Uint8Array([1, 2, 3]);
  q.push(a);
  q.push(new Uint8Array());
  q.push(new Uint8Array([4, 5]));
  assert.equal(q.length, 5);
  assert.equal(q.byteAt(3), 4);
  assert.throws(() => q.byteAt(5), RangeError);
  q.own();
  a.fill(0); // the caller reuses its chunk
  assert.equal(q.copied, 5);
  q.skip(1);
  assert.deepEqual(q.take(3), new Uint8Array([2, 3, 4]));
  assert.deepEqual(q.take(1), new Uint8Array([5]));
  assert.equal(q.length, 0);
  assert.equal(q.copied, 9);
});

Deno.test("ByteQueue stays linear over many small chunks", () => {
  const q = new ByteQueue();
  const n = 100_000;
  for (let i = 0; i < n; i++) {
    q.push(new Uint8Array([i & 0xff]));
    q.own();
  }
  for (let i = 0; i < n - 1; i += 2) {
    const two = q.take(2);
    assert.equal(two[0], i & 0xff);
    assert.equal(two[1], (i + 1) & 0xff);
  }
  assert.equal(q.length, 0);
  assert.equal(q.copied, 2 * n);
});
