import assert from "node:assert/strict";
import { castV3ParseStream, parseCastV3 } from "./_cast_v3_parse.ts";

const HEAD = '{"version":3,"term":{"cols":80,"rows":24}}';

Deno.test("parseCastV3 reads the specification's example, comments and all", () => {
  // https://docs.asciinema.org/manual/asciicast/v3/ (the example file).
  const c = parseCastV3(
    [
      '{"version": 3, "term": {"cols": 80, "rows": 24, "type": "xterm-256color"}, "timestamp": 1504467315, "title": "Demo", "env": {"SHELL": "/bin/zsh"}}',
      "# event stream follows the header",
      '[0.248, "o", "\\u001b[1;31mHello \\u001b[32mWorld!\\u001b[0m\\n"]',
      '[1.001, "o", "That was ok\\rThis is better."]',
      '[3.500, "m", ""]',
      '[0.143, "o", "Now... "]',
      "# terminal window resized to 90 cols and 30 rows",
      '[2.050, "r", "90x30"]',
      '[1.541, "o", "Bye!"]',
      '[0.887, "x", "0"]',
      "",
    ].join("\n"),
  );
  assert.equal(c.header.term.cols, 80);
  assert.equal(c.header.title, "Demo");
  assert.deepEqual(c.events.map((e) => e.code), [
    "o",
    "o",
    "m",
    "o",
    "r",
    "o",
    "x",
  ]);
  // Times are the sums of the intervals, exactly (microseconds).
  assert.equal(c.events.at(-1)!.time, 9.37);
  assert.equal(c.events[4]!.time, 6.942);
});

Deno.test("parseCastV3 accepts a theme, unknown header keys and a zero interval", () => {
  const pal = Array(16).fill("#0a0b0c").join(":");
  const c = parseCastV3(
    JSON.stringify({
      version: 3,
      term: {
        cols: 1,
        rows: 65535,
        theme: { fg: "#000000", bg: "#FFFFFF", palette: pal },
      },
      sessionId: "s",
      kubernetes: { podName: "p" },
    }) + '\n[0,"o","a"]\n[0,"i","b"]\n',
  );
  assert.equal(c.header.sessionId, "s");
  assert.equal(c.events[1]!.time, 0);
});

Deno.test("parseCastV3 refuses what breaks the format, naming the line", () => {
  const cases: [string, string, RegExp][] = [
    ["empty file", "", /the file is empty/],
    ["no final newline", HEAD, /line 1: the last line has no newline/],
    ["header not JSON", "{\n", /line 1: not JSON/],
    ["header an array", "[3]\n", /line 1: the header is not a JSON object/],
    [
      "header a comment",
      "# hi\n" + HEAD + "\n",
      /line 1: the header must not be a comment/,
    ],
    [
      "version 2",
      '{"version":2,"width":80,"height":24}\n',
      /line 1: version 2 is not 3/,
    ],
    [
      "version as string",
      '{"version":"3","term":{"cols":80,"rows":24}}\n',
      /version "3" is not 3/,
    ],
    ["no term", '{"version":3}\n', /"term" is not an object/],
    [
      "v2 size keys",
      '{"version":3,"width":80,"height":24}\n',
      /"term" is not an object/,
    ],
    [
      "cols 0",
      '{"version":3,"term":{"cols":0,"rows":24}}\n',
      /term.cols 0 is not an integer/,
    ],
    [
      "rows fractional",
      '{"version":3,"term":{"cols":80,"rows":2.5}}\n',
      /term.rows 2.5/,
    ],
    [
      "cols huge",
      '{"version":3,"term":{"cols":65536,"rows":24}}\n',
      /term.cols 65536/,
    ],
    [
      "term.type number",
      '{"version":3,"term":{"cols":80,"rows":24,"type":1}}\n',
      /term.type is not a string/,
    ],
    [
      "bad theme",
      '{"version":3,"term":{"cols":80,"rows":24,"theme":{"fg":"red","bg":"#000000","palette":""}}}\n',
      /term.theme.fg/,
    ],
    [
      "bad palette",
      '{"version":3,"term":{"cols":80,"rows":24,"theme":{"fg":"#000000","bg":"#000000","palette":"#000000"}}}\n',
      /palette/,
    ],
    [
      "fractional timestamp",
      '{"version":3,"term":{"cols":80,"rows":24},"timestamp":1.5}\n',
      /timestamp 1.5 is not an integer/,
    ],
    [
      "negative timestamp",
      '{"version":3,"term":{"cols":80,"rows":24},"timestamp":-1}\n',
      /timestamp -1/,
    ],
    [
      "idle limit string",
      '{"version":3,"term":{"cols":80,"rows":24},"idle_time_limit":"2"}\n',
      /idle_time_limit "2"/,
    ],
    [
      "command array",
      '{"version":3,"term":{"cols":80,"rows":24},"command":["sh"]}\n',
      /"command" is not a string/,
    ],
    [
      "env of numbers",
      '{"version":3,"term":{"cols":80,"rows":24},"env":{"A":1}}\n',
      /"env" is not a map of strings/,
    ],
    ["empty line", HEAD + "\n\n", /line 2: an empty line is not an event/],
    ["event not JSON", HEAD + '\n[1,"o",\n', /line 2: not JSON/],
    [
      "event an object",
      HEAD + '\n{"t":1}\n',
      /line 2: an event is a JSON array of 3 elements/,
    ],
    ["event of 4", HEAD + '\n[1,"o","a","b"]\n', /array of 3 elements/],
    [
      "negative interval",
      HEAD + '\n[1,"o","a"]\n[-0.5,"o","b"]\n',
      /line 3: interval -0.5 is negative/,
    ],
    [
      "interval a string",
      HEAD + '\n["1","o","a"]\n',
      /interval "1" is not a number/,
    ],
    [
      "interval null",
      HEAD + '\n[null,"o","a"]\n',
      /interval null is not a number/,
    ],
    [
      "unknown code",
      HEAD + '\n[1,"q","a"]\n',
      /event code "q" is not one of o i r m x/,
    ],
    ["empty code", HEAD + '\n[1,"","a"]\n', /event code ""/],
    ["two-letter code", HEAD + '\n[1,"oo","a"]\n', /event code "oo"/],
    [
      "data a number",
      HEAD + '\n[1,"o",5]\n',
      /data of a "o" event is not a string/,
    ],
    [
      "resize as v2's object",
      HEAD + '\n[1,"r",{"cols":1,"rows":2}]\n',
      /not a string/,
    ],
    [
      "resize junk",
      HEAD + '\n[1,"r","80 x 24"]\n',
      /resize "80 x 24" is not COLSxROWS/,
    ],
    ["resize too big", HEAD + '\n[1,"r","70000x24"]\n', /resize "70000x24"/],
    [
      "exit not a number",
      HEAD + '\n[1,"x","ok"]\n',
      /exit status "ok" is not an integer/,
    ],
    ["exit fractional", HEAD + '\n[1,"x","1.5"]\n', /exit status "1.5"/],
    [
      "event after exit",
      HEAD + '\n[1,"x","0"]\n[1,"o","late"]\n',
      /line 3: a "o" event follows the "x" event/,
    ],
    ["time overflow", HEAD + '\n[1e300,"o","a"]\n', /the time overflows/],
  ];
  for (const [name, text, re] of cases) {
    assert.throws(() => parseCastV3(text), (e: Error) => {
      assert.ok(e instanceof SyntaxError, name);
      assert.match(e.message, /^Cannot read asciicast v3/, name);
      assert.match(e.message, re, name);
      return true;
    }, name);
  }
});

async function parseStream(chunks: Uint8Array[], max?: number) {
  return await Array.fromAsync(
    ReadableStream.from(chunks).pipeThrough(castV3ParseStream(max)),
  );
}

Deno.test("castV3ParseStream reads a file split anywhere, as parseCastV3 does", async () => {
  const text = HEAD +
    '\n# c\n[0.5,"o","żółw"]\n[0.25,"r","10x5"]\n[1,"x","2"]\n';
  const bytes = new TextEncoder().encode(text);
  const whole = parseCastV3(text);
  for (let i = 0; i <= bytes.length; i++) {
    const got = await parseStream([bytes.slice(0, i), bytes.slice(i)]);
    assert.deepEqual(got[0], { header: whole.header }, `split at ${i}`);
    assert.deepEqual(
      got.slice(1),
      whole.events.map((event) => ({ event })),
      `split at ${i}`,
    );
  }
});

Deno.test("castV3ParseStream refuses bad UTF-8, a missing last newline and a long line", async () => {
  const enc = new TextEncoder();
  await assert.rejects(
    parseStream([enc.encode(HEAD + "\n"), new Uint8Array([0x5b, 0xff, 0x0a])]),
    /line 2: not UTF-8/,
  );
  await assert.rejects(
    parseStream([enc.encode(HEAD + '\n[1,"o","a"]')]),
    /line 2: the last line has no newline/,
  );
  await assert.rejects(
    parseStream(
      [enc.encode(HEAD + '\n[1,"o","' + "a".repeat(100) + '"]\n')],
      64,
    ),
    /^SyntaxError: Cannot read asciicast v3 at line 2: line is longer than the limit of 64 bytes/,
  );
  await assert.rejects(parseStream([]), /the file is empty/);
});
