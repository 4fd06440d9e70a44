import assert from "node:assert/strict";
import fc from "fast-check";
import { castOfRecords, CastView, channelOfRecords } from "./cast_view.ts";
import { RecordType } from "../../protocol/records.ts";
import { buildSession, type Step } from "../_test_records.ts";
import { concatBytes } from "../../bytes.ts";

async function collect(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return concatBytes(await Array.fromAsync(s));
}

Deno.test("castOfRecords derives the cast CastEncoder made, for random sessions in random chunks (fixed seed)", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.boolean(),
      fc.array(
        fc.oneof(
          fc.record({
            out: fc.constantFrom(1 as const, 2 as const),
            data: fc.uint8Array({ maxLength: 200 }),
          }),
          fc.record({
            out: fc.constantFrom(1 as const, 2 as const),
            data: fc.string({ unit: "binary", maxLength: 50 }),
          }),
          fc.record({
            w: fc.nat({ max: 20000 }),
            h: fc.nat({ max: 20000 }),
          }),
          fc.record({ marker: fc.string({ maxLength: 30 }) }),
        ),
        { maxLength: 25 },
      ),
      fc.array(fc.nat({ max: 90 }), { minLength: 1, maxLength: 10 }),
      async (tty, items, cuts) => {
        const steps: Step[] = items.map((it, i) =>
          "out" in it
            ? { at: i * 3, out: it.out, data: it.data }
            : "w" in it
            ? {
              at: i * 3,
              resize: JSON.stringify({ Width: it.w, Height: it.h }),
              shows: { width: it.w, height: it.h },
            }
            : { at: i * 3, marker: it.marker }
        );
        const built = buildSession({
          sessionId: "fuzz",
          tty,
          steps,
          endAt: items.length * 3,
        });
        const chunks: Uint8Array[] = [];
        for (let at = 0, k = 0; at < built.records.length; k++) {
          const n = cuts[k % cuts.length]! + 1;
          chunks.push(built.records.slice(at, at + n));
          at += n;
        }
        const cast = new TextDecoder().decode(
          await collect(castOfRecords(ReadableStream.from(chunks))),
        );
        assert.equal(cast, built.cast);
        const stdout = await collect(
          channelOfRecords(ReadableStream.from(chunks), RecordType.STDOUT),
        );
        assert.deepEqual(stdout, built.stdout);
      },
    ),
    { seed: 42, numRuns: 200 },
  );
});

Deno.test("CastView makes a valid cast of a header whose JSON is damaged", () => {
  const v = new CastView();
  const line = v.push({
    type: RecordType.HEADER,
    timeUs: 0,
    offset: 0,
    payload: new TextEncoder().encode("{"),
  });
  assert.equal(line, '{"version":2,"width":80,"height":24}\n');
});

Deno.test("CastView ends with one exit marker: the exit code, else the end reason; an empty END only flushes", () => {
  const enc = new TextEncoder();
  const endOf = (end: unknown, timeUs = 2_500_000) => ({
    type: RecordType.END,
    timeUs,
    offset: 0,
    payload: enc.encode(typeof end === "string" ? end : JSON.stringify(end)),
  });
  const cases: [unknown, string][] = [
    [{ reason: "normal", exitCode: 2 }, "exit 2"],
    [{ reason: "normal", exitCode: 0 }, "exit 0"],
    [{ reason: "client-gone" }, "ended: client-gone"],
    [
      { reason: "terminated", detail: "ended by bob: enough" },
      "ended: terminated: ended by bob: enough",
    ],
    [
      { reason: "refused", upstream: { status: 403, message: "forbidden" } },
      "ended: refused: upstream answered 403 forbidden",
    ],
    [{ exitCode: 1.5 }, "ended: unknown"],
    ["not json", "ended"],
    ["[1]", "ended"],
  ];
  for (const [end, text] of cases) {
    const v = new CastView();
    v.push({
      type: RecordType.HEADER,
      timeUs: 0,
      offset: 0,
      payload: enc.encode('{"version":2,"width":80,"height":24}'),
    });
    // A split UTF-8 sequence the end flushes first.
    v.push({
      type: RecordType.STDOUT,
      timeUs: 1000,
      offset: 0,
      payload: new Uint8Array([0xc3]),
    });
    assert.equal(
      v.push(endOf(end)),
      '[2.5,"o","\ufffd"]\n' + JSON.stringify([2.5, "m", text]) + "\n",
      text,
    );
    assert.equal(v.push(endOf(end)), "", "one marker");
  }
  const flushOnly = new CastView();
  assert.equal(flushOnly.push({ ...endOf(""), payload: new Uint8Array() }), "");
  assert.equal(flushOnly.push(endOf({ exitCode: 4 }, 0)), '[0,"m","exit 4"]\n');
  const off = new CastView({ endMarker: false });
  assert.equal(off.push(endOf({ exitCode: 4 })), "");
  const long = new CastView().push(
    endOf({ reason: "x", detail: "d".repeat(5000) }),
  );
  assert.match(long, /… \(\d+ characters\)"\]\n$/);
});
