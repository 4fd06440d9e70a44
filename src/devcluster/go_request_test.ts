import assert from "node:assert/strict";
import {
  canonicalTarget,
  goBool,
  goPath,
  goQuery,
  goTarget,
} from "./go_request.ts";

const POD = "/api/v1/namespaces/default/pods/demo";

Deno.test("goPath decodes a target's path as Go's URL.Path", () => {
  const cases: [string, string][] = [
    [`${POD}/exec?command=id`, `${POD}/exec`],
    [`${POD}/%65xec`, `${POD}/exec`],
    [`${POD}%2Fexec`, `${POD}/exec`],
    [`${POD}%2fexec`, `${POD}/exec`],
    ["/%61pi/v1/namespaces/default/pods/demo/exec", `${POD}/exec`],
    [`${POD}/exec%2F`, `${POD}/exec/`],
    [`${POD}/exec%3Fcommand=id`, `${POD}/exec?command=id`],
    [`${POD}/a+b`, `${POD}/a+b`], // `+` is a plus in a path
    [`${POD}/%25`, `${POD}/%`],
    ["/caf%C3%A9", "/café"],
    ["/%ff", "/\ufffd"],
    ["/a#b", "/a#b"], // a request target has no fragment
    ["//api/v1", "//api/v1"], // no authority in origin form
    ["https://host:6443/api/v1/%70ods", "/api/v1/pods"],
    ["http://host", ""],
    ["https:/api", "/api"],
    ["mailto:x", ""],
    ["*", "*"],
    ["/?a", "/"],
    ["/p%41th?x=%zz", "/pAth"], // the query is not unescaped here
  ];
  for (const [raw, path] of cases) {
    assert.equal(goPath(raw), path, raw);
  }
});

Deno.test("goPath throws on what Go's server answers with 400", () => {
  const cases: [string, RegExp][] = [
    [`${POD}/%zzexec`, /"%zz" at offset 37 is not a valid escape/],
    [`${POD}/exec%`, /"%" at offset 41 is not a valid escape/],
    [`${POD}/exec%6`, /"%6" at offset 41 is not a valid escape/],
    ["/a%2", /not a valid escape/],
    ["", /empty/],
    ["api/v1", /not a path or absolute URL/],
    [":x/y", /missing protocol scheme/],
    ["/a\x01b", /control character at offset 2/],
    ["/a\x7fb", /control character/],
  ];
  for (const [raw, message] of cases) {
    assert.throws(
      () => goPath(raw),
      (e: unknown) => e instanceof SyntaxError && message.test(e.message),
      raw,
    );
  }
});

Deno.test("goQuery keeps the pairs Go's ParseQuery keeps, in order", () => {
  const cases: [string, [string, string][]][] = [
    ["", []],
    ["command=echo&command=hi", [["command", "echo"], ["command", "hi"]]],
    ["command=echo%20a;&command=echo&command=b", [
      ["command", "echo"],
      ["command", "b"],
    ]],
    ["a=1;b=2", []],
    ["a=%3B", [["a", ";"]]],
    ["cmd=ls+-l&x=a%2Bb", [["cmd", "ls -l"], ["x", "a+b"]]],
    ["tty", [["tty", ""]]],
    ["tty=", [["tty", ""]]],
    ["=v", [["", "v"]]],
    ["&&a=1&", [["a", "1"]]],
    ["a=b=c", [["a", "b=c"]]],
    ["bad=%zz&ok=1&%g0=x", [["ok", "1"]]],
    ["%63ommand=id", [["command", "id"]]],
    ["Command=id", [["Command", "id"]]],
    ["a=%e2%82%ac", [["a", "€"]]],
    ["a=?b", [["a", "?b"]]],
  ];
  for (const [raw, pairs] of cases) {
    assert.deepEqual(goQuery(raw), pairs, raw);
  }
});

Deno.test("goBool follows Convert_Slice_string_To_bool", () => {
  const cases: [string[], boolean][] = [
    [[], false],
    [["true"], true],
    [["1"], true],
    [["yes"], true],
    [[""], true],
    [["0"], false],
    [["false"], false],
    [["FALSE"], false],
    [["False"], false],
    [["false "], true],
    [["00"], true],
    [["no"], true],
    [["false", "true"], false],
    [["true", "false"], true],
  ];
  for (const [values, expected] of cases) {
    assert.equal(goBool(values), expected, JSON.stringify(values));
  }
});

Deno.test("goTarget splits the trimmed path and canonicalTarget re-encodes it", () => {
  const cases: [string, string[], string][] = [
    [
      `${POD}%2Fexec%2F?command=echo&command=a%20b&tty=yes`,
      ["api", "v1", "namespaces", "default", "pods", "demo", "exec"],
      `${POD}/exec?command=echo&command=a%20b&tty=yes`,
    ],
    ["/", [], "/"],
    ["//api//v1/", ["api", "", "v1"], "/api//v1"],
    ["/a%25b/c%3Fd?k%26=v%3D", ["a%b", "c?d"], "/a%25b/c%3Fd?k%26=v%3D"],
    ["/x?a;b=1&c=+", ["x"], "/x?c=%20"],
  ];
  for (const [raw, segments, canonical] of cases) {
    const t = goTarget(raw);
    assert.deepEqual(t.segments, segments, raw);
    assert.equal(canonicalTarget(t), canonical, raw);
    const u = new URL(canonical, "https://x");
    assert.deepEqual(
      u.pathname.split("/").slice(1).map(decodeURIComponent).filter((_, i) =>
        segments.length > 0 || i > 0
      ),
      segments,
      raw,
    );
    assert.deepEqual([...u.searchParams], t.query, raw);
  }
});
