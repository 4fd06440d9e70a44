import assert from "node:assert/strict";
import { Sha256 } from "./sha256.ts";

async function reference(data: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A small seeded PRNG (mulberry32) so the inputs are the same every run. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("Sha256 matches crypto.subtle.digest on every length around the block edges", async () => {
  for (let len = 0; len <= 200; len++) {
    const data = new Uint8Array(len).map((_, i) => (i * 31 + len) & 0xff);
    assert.equal(
      new Sha256().update(data).hex(),
      await reference(data),
      `length ${len}`,
    );
  }
});

Deno.test("Sha256 matches crypto.subtle.digest on random inputs fed in random pieces (seed 7)", async () => {
  const rand = prng(7);
  for (let n = 0; n < 60; n++) {
    const data = new Uint8Array(Math.floor(rand() * 20000)).map(() =>
      rand() * 256
    );
    const h = new Sha256();
    let off = 0;
    while (off < data.length) {
      const take = Math.floor(rand() * 300);
      h.update(data.subarray(off, off + take));
      off += take;
    }
    assert.equal(h.length, data.length);
    assert.equal(h.hex(), await reference(data), `input ${n}`);
  }
});

Deno.test("Sha256 refuses use after the digest", () => {
  const h = new Sha256();
  h.digest();
  assert.throws(() => h.update(new Uint8Array(1)), /already taken/);
  assert.throws(() => h.digest(), /already taken/);
});
