import assert from "node:assert/strict";
import fc from "fast-check";
import {
  encodeRecord,
  encodeRecordHeader,
  MAX_RECORD_PAYLOAD,
  RecordDecoder,
  RecordDecoderStream,
  RecordFormatError,
  RecordType,
  type RecordTypeId,
} from "./records.ts";
import { concatBytes } from "../bytes.ts";

const enc = new TextEncoder();

function sample(): Uint8Array {
  return concatBytes([
    encodeRecord(
      RecordType.HEADER,
      1_700_000_000_000_000,
      enc.encode('{"v":2}'),
    ),
    encodeRecord(RecordType.STDOUT, 10, enc.encode("hello\n")),
    encodeRecord(RecordType.STDERR, 2 ** 40 + 7, new Uint8Array([0, 255, 1])),
    encodeRecord(RecordType.RESIZE, 30, enc.encode('{"Width":0,"Height":0}')),
    encodeRecord(RecordType.STDOUT, 31, new Uint8Array(0)),
    encodeRecord(RecordType.END, 40, enc.encode("{}")),
  ]);
}

Deno.test("RecordDecoder decodes the same records at every split point", () => {
  const bytes = sample();
  const whole = new RecordDecoder().push(bytes);
  assert.deepEqual(whole.map((r) => r.type), [1, 2, 3, 4, 2, 7]);
  assert.equal(whole[0]!.timeUs, 1_700_000_000_000_000);
  assert.equal(whole[2]!.timeUs, 2 ** 40 + 7);
  assert.deepEqual([...whole[2]!.payload], [0, 255, 1]);
  for (let i = 0; i <= bytes.length; i++) {
    for (const j of [i, Math.min(bytes.length, i + 1), bytes.length]) {
      const d = new RecordDecoder();
      const got = [
        ...d.push(bytes.slice(0, i)),
        ...d.push(bytes.slice(i, j)),
        ...d.push(bytes.slice(j)),
      ];
      assert.deepEqual(
        got.map((r) => [r.type, r.timeUs, [...r.payload], r.offset]),
        whole.map((r) => [r.type, r.timeUs, [...r.payload], r.offset]),
        `split at ${i}/${j}`,
      );
      assert.equal(d.pending, 0);
      assert.equal(d.consumed, bytes.length);
    }
  }
});

Deno.test("RecordDecoder round-trips random records in random chunks (fixed seed)", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          type: fc.constantFrom(2, 3, 4, 5, 6) as fc.Arbitrary<RecordTypeId>,
          time: fc.nat(),
          payload: fc.uint8Array({ maxLength: 300 }),
        }),
        { maxLength: 20 },
      ),
      fc.array(fc.nat({ max: 64 }), { minLength: 1, maxLength: 40 }),
      (recs, cuts) => {
        const bytes = concatBytes([
          encodeRecord(RecordType.HEADER, 0, enc.encode("{}")),
          ...recs.map((r) => encodeRecord(r.type, r.time, r.payload)),
        ]);
        const d = new RecordDecoder();
        const got = [];
        let at = 0;
        for (let k = 0; at < bytes.length; k++) {
          const n = cuts[k % cuts.length]! + 1;
          got.push(...d.push(bytes.subarray(at, at + n)));
          at += n;
        }
        assert.equal(got.length, recs.length + 1);
        for (const [i, r] of recs.entries()) {
          assert.equal(got[i + 1]!.type, r.type);
          assert.equal(got[i + 1]!.timeUs, r.time);
          assert.deepEqual(got[i + 1]!.payload, r.payload);
        }
      },
    ),
    { seed: 20261202, numRuns: 200 },
  );
});

Deno.test("RecordDecoder refuses malformed streams naming the record and offset", () => {
  const h = encodeRecord(RecordType.HEADER, 0, enc.encode("{}"));
  const cases: [string, Uint8Array, RegExp][] = [
    [
      "unknown type",
      concatBytes([
        h,
        encodeRecord(2, 0, new Uint8Array(1)).map((b, i) => i === 0 ? 99 : b),
      ]),
      /byte 15: type 99 is unknown/,
    ],
    [
      "not starting with a header",
      encodeRecord(RecordType.STDOUT, 0, new Uint8Array(1)),
      /starts with stdout, expected header/,
    ],
    ["second header", concatBytes([h, h]), /byte 15: a second header/],
    [
      "after end",
      concatBytes([
        h,
        encodeRecord(RecordType.END, 0, enc.encode("{}")),
        encodeRecord(RecordType.STDOUT, 0, new Uint8Array(1)),
      ]),
      /stdout after the end record/,
    ],
    [
      "too large",
      concatBytes([
        h,
        encodeRecordHeader(RecordType.STDOUT, 0, MAX_RECORD_PAYLOAD).map((
          b,
          i,
        ) => i === 9 ? 0x7f : b),
      ]),
      /payload of \d+ bytes exceeds the limit/,
    ],
  ];
  for (const [name, bytes, re] of cases) {
    assert.throws(() => new RecordDecoder().push(bytes), (e: unknown) => {
      assert.ok(e instanceof RecordFormatError, name);
      assert.match(e.message, re, name);
      return true;
    });
  }
});

Deno.test("RecordDecoderStream fails on a record cut off by the end", async () => {
  const bytes = sample();
  const all = await Array.fromAsync(
    ReadableStream.from([bytes]).pipeThrough(new RecordDecoderStream()),
  );
  assert.equal(all.length, 6);
  await assert.rejects(
    Array.fromAsync(
      ReadableStream.from([bytes.subarray(0, 25)]).pipeThrough(
        new RecordDecoderStream(),
      ),
    ),
    /the stream ends 5 bytes into it/,
  );
});

Deno.test("RecordDecoder copies a 16 MiB stream of 1 MiB records split in 256-byte chunks once at most", () => {
  const payload = new Uint8Array(MAX_RECORD_PAYLOAD).fill(7);
  const parts = [encodeRecord(RecordType.HEADER, 0, enc.encode("{}"))];
  for (let i = 0; i < 16; i++) {
    parts.push(encodeRecord(RecordType.STDOUT, i, payload));
  }
  const bytes = concatBytes(parts);
  const d = new RecordDecoder();
  let n = 0;
  for (let at = 0; at < bytes.length; at += 256) {
    for (const r of d.push(bytes.subarray(at, at + 256))) n += r.payload.length;
  }
  assert.equal(n, 16 * MAX_RECORD_PAYLOAD + 2);
});
