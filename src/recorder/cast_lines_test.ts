import assert from "node:assert/strict";
import {
  CastFormatError,
  castHeaderProblem,
  LineSplitter,
  LineTooLongError,
} from "./cast_lines.ts";
import { parseRecordingId } from "./recording_id.ts";
import { stripAnsi, TextIndexBuilder } from "./text_index.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("LineSplitter yields the same lines for a body split at every point", () => {
  const body =
    '{"version":2}\n[0.1,"o","héllo"]\n[0.2,"r","80x24"]\n{"execgate.end":{}}';
  const bytes = enc.encode(body);
  const expected = body.split("\n").map((l, i, a) =>
    i < a.length - 1 ? l + "\n" : l
  );
  for (let a = 0; a <= bytes.length; a++) {
    for (
      const b of [
        a,
        Math.min(bytes.length, a + 1),
        Math.min(bytes.length, a + 7),
      ]
    ) {
      const s = new LineSplitter(1024);
      const lines = [
        ...s.push(bytes.subarray(0, a)),
        ...s.push(bytes.subarray(a, b)),
        ...s.push(bytes.subarray(b)),
      ];
      const last = s.end();
      if (last) lines.push(last);
      assert.deepEqual(
        lines.map((l) => dec.decode(l.bytes)),
        expected,
        `split ${a}/${b}`,
      );
      assert.deepEqual(lines.map((l) => l.number), [1, 2, 3, 4]);
    }
  }
});

Deno.test("LineSplitter refuses a line over the limit, naming the line, even when it never ends", () => {
  const s = new LineSplitter(10);
  assert.equal(s.push(enc.encode("short\n")).length, 1);
  assert.throws(
    () => s.push(enc.encode("x".repeat(11))),
    (e) =>
      e instanceof CastFormatError &&
      e.message === "line 2: line is longer than the limit of 10 bytes",
  );
});

Deno.test("LineSplitter hands over the lines completed before a long one", () => {
  const s = new LineSplitter(10);
  let err: unknown;
  try {
    s.push(enc.encode("a\nbb\n" + "x".repeat(11) + "\nc\n"));
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof LineTooLongError);
  assert.equal(
    err.message,
    "line 3: line is longer than the limit of 10 bytes",
  );
  assert.deepEqual(
    err.completed.map((l) => new TextDecoder().decode(l.bytes)),
    ["a\n", "bb\n"],
  );
});

Deno.test("castHeaderProblem accepts a valid header and names what is wrong", () => {
  assert.equal(
    castHeaderProblem({ version: 2, width: 80, height: 24, x: 1 }),
    undefined,
  );
  assert.equal(
    castHeaderProblem({ version: 2, width: 80 }),
    "header height is undefined, expected an integer from 1 to 10000",
  );
  assert.equal(castHeaderProblem([1]), "header is not a JSON object");
  assert.equal(
    castHeaderProblem(
      { version: 2, width: 80, height: 24, sessionId: "t" },
      "s",
    ),
    'header sessionId "t" does not match the session id "s"',
  );
  assert.equal(
    castHeaderProblem({ version: 2, width: 80, height: 24, srcNodeTags: [1] }),
    "header srcNodeTags is not an array of strings",
  );
});

Deno.test("parseRecordingId refuses traversal, separators and encodings", () => {
  for (
    const bad of [
      "2026/11/27/../x",
      "../../etc/passwd",
      "/etc/passwd",
      "2026/11/27/a%2Fb",
      "2026/11/27/a\\b",
      "2026/11/27/.",
      "2026/1/27/a",
      "2026/11/27/a/b",
      "2026/11/27/",
    ]
  ) {
    assert.equal(parseRecordingId(bad), undefined, bad);
  }
  assert.equal(parseRecordingId("2026/11/27/a-B_9")?.sessionId, "a-B_9");
});

Deno.test("stripAnsi removes CSI, OSC and controls; TextIndexBuilder stops at its bound", () => {
  assert.equal(
    stripAnsi(
      "\x1b]0;title\x07\x1b[?25l\x1b[2J\x1b[Hprompt$ ls\r\na\tb\x07\r\n",
    ),
    "prompt$ ls\na\tb\n",
  );
  const t = new TextIndexBuilder(5);
  t.add("abc");
  t.add("\x1b[1mdefg\x1b[0m");
  t.add("more");
  assert.equal(t.text(), "abcde");
  assert.equal(t.truncated, true);
});
