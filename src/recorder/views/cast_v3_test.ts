import assert from "node:assert/strict";
import fc from "fast-check";
import { CastV3Converter, castV3OfCast, castV3OfRecords } from "./cast_v3.ts";
import { castOfRecords } from "./cast_view.ts";
import { parseCastV3 } from "./_cast_v3_parse.ts";
import { buildSession, type Step } from "../_test_records.ts";
import { encodeRecord, RecordType } from "../../protocol/records.ts";
import { exitCodeStatus, SUCCESS_STATUS } from "../../k8s/status.ts";

const enc = new TextEncoder();

async function text(s: ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(s).text();
}

function chunked(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let at = 0, k = 0; at < bytes.length; k++) {
    const n = cuts[k % cuts.length]! + 1;
    chunks.push(bytes.slice(at, at + n));
    at += n;
  }
  return chunks;
}

/** The v2 cast's header and events ([seconds, code, data]). */
function v2Of(cast: string) {
  const lines = cast.split("\n").filter((l) => l !== "");
  return {
    header: JSON.parse(lines[0]!) as Record<string, unknown>,
    events: lines.slice(1).map((l) =>
      JSON.parse(l) as [number, string, string]
    ),
  };
}

Deno.test("castV3OfRecords is the v2 view re-timed, valid v3 by the strict parser, for random sessions in random chunks (fixed seed)", async () => {
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
          fc.record({ w: fc.nat({ max: 20000 }), h: fc.nat({ max: 20000 }) }),
          fc.record({ marker: fc.string({ maxLength: 30 }) }),
          fc.record({ gap: fc.nat({ max: 5000 }) }),
        ),
        { maxLength: 25 },
      ),
      fc.option(fc.nat({ max: 255 })),
      fc.constantFrom("end", "exit", "none"),
      fc.array(fc.nat({ max: 90 }), { minLength: 1, maxLength: 10 }),
      async (tty, items, code, ending, cuts) => {
        let at = 0;
        const steps: Step[] = [];
        for (const it of items) {
          at += "gap" in it ? it.gap : 3;
          if ("out" in it) steps.push({ at, out: it.out, data: it.data });
          else if ("w" in it) {
            steps.push({
              at,
              resize: JSON.stringify({ Width: it.w, Height: it.h }),
              shows: { width: it.w, height: it.h },
            });
          } else if ("marker" in it) steps.push({ at, marker: it.marker });
        }
        if (ending === "exit") {
          steps.push({
            at: at + 1,
            status: JSON.stringify(
              code === null || code === 0
                ? SUCCESS_STATUS
                : exitCodeStatus(code),
            ),
          });
        }
        const built = buildSession({
          sessionId: "fuzz",
          tty,
          steps,
          endAt: ending === "none" ? false : at + 2,
        });
        const chunks = chunked(built.records, cuts);
        const v3text = await text(castV3OfRecords(ReadableStream.from(chunks)));
        const v3 = parseCastV3(v3text);
        const v2 = v2Of(
          await text(castOfRecords(ReadableStream.from(chunks))),
        );
        // Header: term from width/height, every other key kept.
        const { version: _v, width, height, ...rest2 } = v2.header;
        const { version, term, ...rest3 } = v3.header;
        assert.equal(version, 3);
        assert.deepEqual(term, { cols: width, rows: height });
        assert.deepEqual(rest3, rest2);
        // Events: the same, at the same times; the exit marker is "x".
        const expected = v2.events.map((
          [t, c, d],
        ): [number, string, string] => [Math.round(t * 1e3), c, d]);
        if (ending === "exit") {
          const last = expected.at(-1)!;
          assert.equal(last[1], "m");
          expected[expected.length - 1] = [last[0], "x", String(code ?? 0)];
        }
        assert.deepEqual(
          v3.events.map((e) => [Math.round(e.time * 1e3), e.code, e.data]),
          expected,
        );
        if (ending === "none") {
          assert.ok(v3.events.every((e) => e.code !== "x"));
        }
      },
    ),
    { seed: 42, numRuns: 200 },
  );
});

Deno.test("castV3OfRecords ends a session without an exit status with the v2 view's end marker", async () => {
  const built = buildSession({
    sessionId: "gone",
    tty: true,
    steps: [{ at: 1500, out: 1, data: "hi" }],
    endAt: 2750,
  });
  const v3 = await text(castV3OfRecords(ReadableStream.from([built.records])));
  const lines = v3.split("\n");
  assert.deepEqual(lines.slice(1), [
    '[1.5,"o","hi"]',
    '[1.25,"m","ended: upstream-gone"]',
    "",
  ]);
  const head = JSON.parse(lines[0]!);
  assert.deepEqual(Object.keys(head).slice(0, 4), [
    "version",
    "term",
    "timestamp",
    "command",
  ]);
  assert.deepEqual(head.term, { cols: 80, rows: 24 });
  assert.equal(head.sessionId, "gone");
  assert.deepEqual(head.kubernetes.podName, "web-0");
});

Deno.test("castV3OfRecords makes a valid v3 cast of a damaged header and a clock gone backwards", async () => {
  const evidence = [
    encodeRecord(RecordType.HEADER, 0, enc.encode("{")),
    encodeRecord(RecordType.STDOUT, 2_000_000, enc.encode("a")),
    encodeRecord(RecordType.STDOUT, 1_000_000, enc.encode("b")),
    encodeRecord(RecordType.STDOUT, 3_000_000, enc.encode("c")),
    encodeRecord(RecordType.END, 3_000_000, enc.encode("not json")),
  ];
  const v3 = await text(castV3OfRecords(ReadableStream.from(evidence)));
  const c = parseCastV3(v3);
  assert.deepEqual(c.header, { version: 3, term: { cols: 80, rows: 24 } });
  assert.deepEqual(c.events.map((e) => [e.interval, e.data]), [
    [2, "a"],
    [0, "b"],
    [1, "c"],
    [0, "ended"],
  ]);
});

Deno.test("castV3OfCast converts a stored v1 .cast, its end from the manifest", async () => {
  const v2 = [
    JSON.stringify({
      version: 2,
      width: 80,
      height: 24,
      timestamp: 1000,
      command: "sh",
      env: { TERM: "xterm-256color" },
      theme: {
        fg: "#000000",
        bg: "#ffffff",
        palette: Array(8).fill("#111111").join(":"),
      },
      sessionId: "old",
    }),
    '[0.1, "o", "hello\\r\\n"]',
    '[0.2, "r", "100x30"]',
    "",
    '[0.15, "o", "back in time"]',
    "not json",
    '[0.3, "q", "unknown code"]',
    '[0.35, "r", "wide"]',
    '[0.4, "o", "bye"]',
  ].join("\n") + "\n";
  const bytes = enc.encode(v2);
  for (let i = 0; i <= bytes.length; i += 7) {
    const v3 = await text(
      castV3OfCast(
        ReadableStream.from([bytes.slice(0, i), bytes.slice(i)]),
        { endTime: 1001.5, reason: "normal", exitCode: 3 },
      ),
    );
    const c = parseCastV3(v3);
    assert.deepEqual(c.header.term, {
      cols: 80,
      rows: 24,
      type: "xterm-256color",
      theme: {
        fg: "#000000",
        bg: "#ffffff",
        palette: Array(8).fill("#111111").join(":"),
      },
    });
    assert.equal(c.header.sessionId, "old");
    assert.equal(
      (c.header.env as Record<string, string>).TERM,
      "xterm-256color",
    );
    assert.deepEqual(
      c.events.map((e) => [Math.round(e.time * 1000), e.code, e.data]),
      [
        [100, "o", "hello\r\n"],
        [200, "r", "100x30"],
        [200, "o", "back in time"],
        [200, "m", "line 6 of the stored cast is not an asciicast v2 event"],
        [200, "m", "line 7 of the stored cast is not an asciicast v2 event"],
        [
          350,
          "m",
          'line 8 of the stored cast resizes to "wide", not COLSxROWS',
        ],
        [400, "o", "bye"],
        [1500, "x", "3"],
      ],
      `split at ${i}`,
    );
  }
});

Deno.test("castV3OfCast of a cast without a manifest end, or cut mid-line, is valid v3", async () => {
  const v2 = '{"version":2,"width":80,"height":24}\n[0.5,"o","a"]\n[0.7,"o","b';
  const v3 = await text(castV3OfCast(ReadableStream.from([enc.encode(v2)])));
  const c = parseCastV3(v3);
  assert.deepEqual(c.events.map((e) => [e.code, e.data]), [
    ["o", "a"],
    ["m", "line 3 of the stored cast is not an asciicast v2 event"],
  ]);
});

Deno.test("CastV3Converter keeps the v3 header fields typed as v3 wants", () => {
  const c = new CastV3Converter();
  const head = JSON.parse(
    c.line(JSON.stringify({
      version: 2,
      width: -1,
      height: 1.5,
      timestamp: 1790000000.9,
      idle_time_limit: "x",
      command: 5,
      title: "t",
      env: { A: 1 },
      argv: ["sh"],
    })),
  );
  assert.deepEqual(head, {
    version: 3,
    term: { cols: 80, rows: 24 },
    timestamp: 1790000000,
    title: "t",
    argv: ["sh"],
  });
});

Deno.test("CastV3Converter keeps a valid v3 header whatever keys the v2 header has", () => {
  const c = new CastV3Converter();
  const line = c.line(
    '{"version":2,"width":80,"height":24,"term":"vt100","__proto__":{"x":1},' +
      '"timestamp":-5,"theme":{"fg":"red","bg":"#000000","palette":""},"tags":["a"]}',
  );
  const head = JSON.parse(line);
  assert.deepEqual(head.term, { cols: 80, rows: 24 });
  assert.equal(head.timestamp, undefined);
  assert.deepEqual(head.tags, ["a"]);
  assert.ok(Object.hasOwn(head, "__proto__"), "__proto__ stays a key");
  assert.equal(Object.getPrototypeOf(head), Object.prototype);
  parseCastV3(line);
});

Deno.test("castV3OfRecords of a port-forward session: its stream events as in v2, then the end", async () => {
  const rec = (type: number, us: number, v: unknown) =>
    encodeRecord(
      type as typeof RecordType.HEADER,
      us,
      enc.encode(typeof v === "string" ? v : JSON.stringify(v)),
    );
  const evidence = [
    rec(RecordType.HEADER, 0, { version: 2, width: 80, height: 24 }),
    rec(RecordType.PORTFORWARD, 100_000, {
      event: "open",
      stream: 3,
      streamType: "data",
      port: 8080,
      requestId: "0",
      by: "client",
    }),
    rec(RecordType.PORTFORWARD_DATA, 150_000, "\x00\x00\x00\x00\x03GET /"),
    rec(RecordType.PORTFORWARD, 200_000, "{not json"),
    rec(RecordType.END, 300_000, { reason: "client-gone" }),
  ];
  const v2 = v2Of(await text(castOfRecords(ReadableStream.from(evidence))));
  const v3 = parseCastV3(
    await text(castV3OfRecords(ReadableStream.from(evidence))),
  );
  assert.deepEqual(
    v3.events.map((e) => [Math.round(e.time * 1000), e.code, e.data]),
    v2.events.map(([t, c, d]) => [Math.round(t * 1000), c, d]),
  );
  assert.match(v3.events[0]!.data, /^port-forward: stream 3 opened/);
  assert.deepEqual(v3.events.at(-1)!.data, "ended: client-gone");
});
