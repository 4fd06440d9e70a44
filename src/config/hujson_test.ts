import assert from "node:assert/strict";
import fc from "fast-check";
import {
  HujsonSyntaxError,
  locate,
  parseHujson,
  toPlainValue,
} from "./hujson.ts";

Deno.test("parseHujson reads comments and trailing commas like JSON", () => {
  const text = `// head
{
  /* block
     comment */ "a": [1, -2.5e3, "x\\n\\u00e9", true, false, null,],
  "b": {"c": {},}, // tail
}`;
  assert.deepEqual(toPlainValue(parseHujson(text)), {
    a: [1, -2500, "x\né", true, false, null],
    b: { c: {} },
  });
});

Deno.test("parseHujson agrees with JSON.parse on plain JSON", () => {
  const samples = [
    `{"a":1,"b":[true,{"c":null}],"d":"\\"q\\" \\\\ \\/ \\t"}`,
    `[]`,
    `"s"`,
    `0`,
    `{"__proto__": 1}`,
  ];
  for (const s of samples) {
    assert.deepEqual(toPlainValue(parseHujson(s)), JSON.parse(s), s);
  }
});

Deno.test("parseHujson gives every value and key its line and column", () => {
  const root = parseHujson(`{\n  "acls": [\n    {"src": ["*"]},\n  ],\n}`);
  assert.deepEqual(locate(root, ["acls"]), { line: 2, column: 11 });
  assert.deepEqual(locate(root, ["acls", 0]), { line: 3, column: 5 });
  assert.deepEqual(locate(root, ["acls", 0, "src", 0]), {
    line: 3,
    column: 14,
  });
  assert.deepEqual(locate(root, ["acls", 0, "src"], true), {
    line: 3,
    column: 6,
  });
  // A missing element points at the deepest existing parent.
  assert.deepEqual(locate(root, ["acls", 0, "dst"]), { line: 3, column: 5 });
  assert.deepEqual(locate(root, ["acls", 7, "dst"]), { line: 2, column: 11 });
});

Deno.test("parseHujson reports syntax errors with their position", () => {
  const cases: [string, number, number, RegExp][] = [
    [`{\n  "a": 1\n  "b": 2\n}`, 3, 3, /Expected "," or "}"/],
    [`{\n  "a": ,\n}`, 2, 8, /Expected a value/],
    [`[1, 2`, 1, 1, /Unterminated array/],
    [`{"a": tru}`, 1, 7, /Unexpected word "tru"/],
    [`{"a": 1} x`, 1, 10, /Unexpected character "x"/],
    [`/* open`, 1, 1, /Unterminated block comment/],
    [`{"a": 1, "a": 2}`, 1, 10, /Duplicate key "a"/],
    [`{a: 1}`, 1, 2, /Expected a quoted key/],
    [`"abc`, 1, 1, /Unterminated string/],
    [`"\\x"`, 1, 2, /Invalid escape/],
    [``, 1, 1, /Expected a value, found end of file/],
  ];
  for (const [text, line, column, re] of cases) {
    assert.throws(() => parseHujson(text), (e: unknown) => {
      assert.ok(e instanceof HujsonSyntaxError, text);
      assert.equal(e.line, line, text);
      assert.equal(e.column, column, text);
      assert.match(e.message, re);
      return true;
    });
  }
});

Deno.test("parseHujson agrees with JSON.parse on generated JSON (fixed seed)", () => {
  fc.assert(
    fc.property(
      fc.jsonValue(),
      fc.constantFrom(0, 2, "\t"),
      (value, indent) => {
        const text = JSON.stringify(value, null, indent);
        assert.deepEqual(toPlainValue(parseHujson(text)), JSON.parse(text));
      },
    ),
    { seed: 20261101, numRuns: 300 },
  );
});

Deno.test("parseHujson ignores comments and trailing commas wherever they go (fixed seed)", () => {
  // Sprinkle comments between tokens of generated JSON and add trailing commas.
  fc.assert(
    fc.property(fc.jsonValue(), fc.integer({ min: 0, max: 3 }), (value, k) => {
      const text = JSON.stringify(value, null, 1);
      const comments = ["// c\n", "/* c */", "/*\n*/ ", "\n"];
      const sprinkled = text
        .replace(/(\S)(\n\s*[\]}])/g, "$1,$2")
        .replace(/\n/g, () => "\n" + comments[k]!);
      assert.deepEqual(
        toPlainValue(parseHujson(sprinkled)),
        JSON.parse(text),
        sprinkled,
      );
    }),
    { seed: 7, numRuns: 300 },
  );
});
