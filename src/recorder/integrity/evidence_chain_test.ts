import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Sha256 } from "../../recording/sha256.ts";
import { CHAIN_PREFIX, EvidenceChain } from "./evidence_chain.ts";

/** The chain computed the slow, obvious way, from the definition. */
function reference(bytes: Uint8Array, seg: number): string[] {
  const out: string[] = [];
  let prev: Uint8Array = new TextEncoder().encode(CHAIN_PREFIX);
  for (let at = 0; at < bytes.length; at += seg) {
    const h = createHash("sha256");
    h.update(prev);
    h.update(bytes.subarray(at, at + seg));
    const d = h.digest();
    out.push(d.toString("hex"));
    prev = new Uint8Array(d);
  }
  return out;
}

function bytesOf(n: number, seed = 7): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

Deno.test("EvidenceChain matches the definition for every length around segment bounds", () => {
  for (const n of [1, 15, 16, 17, 31, 32, 33, 100]) {
    const data = bytesOf(n);
    const c = new EvidenceChain(() => new Sha256(), 16);
    c.update(data);
    const s = c.finish();
    assert.deepEqual(s.segments, reference(data, 16), `length ${n}`);
    assert.equal(s.bytes, n);
    assert.equal(s.segments.length, Math.ceil(n / 16));
  }
});

Deno.test("EvidenceChain gives the same chain for a split at every byte", () => {
  const data = bytesOf(70);
  const want = reference(data, 16);
  for (let a = 0; a <= data.length; a++) {
    for (const b of [a, Math.min(data.length, a + 1), data.length]) {
      const c = new EvidenceChain(() => new Sha256(), 16);
      c.update(data.subarray(0, a));
      c.update(data.subarray(a, b));
      c.update(data.subarray(b));
      assert.deepEqual(c.finish().segments, want, `split ${a}/${b}`);
    }
  }
});

Deno.test("EvidenceChain reports each segment as it closes, and a flipped byte changes its segment and every later one", () => {
  const data = bytesOf(64);
  const seen: number[] = [];
  const c = new EvidenceChain(() => new Sha256(), 16);
  c.onSegment = (i) => seen.push(i);
  c.update(data);
  assert.deepEqual(seen, [0, 1, 2, 3]);
  const good = c.finish().segments;
  const bad = data.slice();
  bad[20]! ^= 1;
  const d = new EvidenceChain(() => new Sha256(), 16);
  d.update(bad);
  const got = d.finish().segments;
  assert.equal(got[0], good[0]);
  for (let i = 1; i < 4; i++) assert.notEqual(got[i], good[i]);
});

Deno.test("EvidenceChain refuses a segment size that is not a positive integer", () => {
  for (const n of [0, -1, 1.5, NaN]) {
    assert.throws(
      () => new EvidenceChain(() => new Sha256(), n),
      /segment size .* is not a positive integer/,
    );
  }
});
