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

Deno.test("ByteQueue returns the bytes in order for random pushes, takes and skips (seed 7), the caller reusing its buffer", () => {
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const q = new ByteQueue();
  const buf = new Uint8Array(40_000);
  let next = 0; // next byte value written
  let expect = 0; // next byte value expected out
  for (let step = 0; step < 5000; step++) {
    const n = [1, 3, 255, 9000, 20_000][rand(5)]!;
    for (let i = 0; i < n; i++) buf[i] = (next + i) & 0xff;
    next += n;
    q.push(buf.subarray(0, n));
    while (q.length > 0 && rand(3) > 0) {
      const k = 1 + rand(Math.min(q.length, 30_000));
      assert.equal(q.byteAt(k - 1), (expect + k - 1) & 0xff);
      if (rand(2)) q.skip(k);
      else {
        const got = q.take(k);
        for (let i = 0; i < k; i++) {
          if (got[i] !== ((expect + i) & 0xff)) {
            assert.fail(`step ${step}: byte ${expect + i} is ${got[i]}`);
          }
        }
      }
      expect += k;
    }
    q.own();
    buf.fill(0xee); // reused by the caller
    assert.equal(q.length, next - expect);
  }
});
