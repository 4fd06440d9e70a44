import assert from "node:assert/strict";
import { captureBody } from "./capture_body.ts";

function chunks(sizes: number[]): Uint8Array[] {
  let n = 0;
  return sizes.map((s) => Uint8Array.from({ length: s }, () => n++ & 0xff));
}

async function all(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

Deno.test("captureBody forwards exactly the client's bytes at every bound and split", async () => {
  const sizes = [[0], [1], [3, 4], [5, 0, 5], [16], [
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
  ]];
  for (const s of sizes) {
    const whole = new Uint8Array(
      chunks(s).flatMap((c) => [...c]),
    );
    for (let max = 0; max <= whole.length + 1; max++) {
      const c = await captureBody(ReadableStream.from(chunks(s)), max);
      assert.deepEqual(await all(c.body), whole, `sizes ${s} max ${max}`);
      assert.deepEqual(c.captured, whole.subarray(0, max));
      assert.equal(c.truncated, whole.length > max, `sizes ${s} max ${max}`);
    }
  }
});

Deno.test("captureBody reads no further than the bound before forwarding (back-pressure)", async () => {
  let pulled = 0;
  const src = new ReadableStream<Uint8Array>({
    pull(c) {
      pulled++;
      c.enqueue(new Uint8Array(1024));
      if (pulled === 1000) c.close();
    },
  }, { highWaterMark: 0 });
  const c = await captureBody(src, 4096);
  assert.ok(pulled <= 6, `pulled ${pulled} chunks before forwarding`);
  assert.equal(c.truncated, true);
  assert.equal((await all(c.body)).length, 1000 * 1024);
});
