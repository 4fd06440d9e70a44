import assert from "node:assert/strict";
import fc from "fast-check";
import {
  canonicalTarget,
  kubeBool,
  parseRequestTarget,
  queryValues,
  RequestTargetError,
} from "./request_target.ts";

const EXEC = ["api", "v1", "namespaces", "default", "pods", "demo", "exec"];

const PATHS: { target: string; segments?: string[]; error?: RegExp }[] = [
  { target: "/api/v1/namespaces/default/pods/demo/%65xec", segments: EXEC },
  { target: "/api/v1/namespaces/default/pods/demo%2Fexec", segments: EXEC },
  { target: "/%61pi/v1/namespaces/default/pods/demo/exec", segments: EXEC },
  { target: "/api/v1/namespaces/default/pods/demo/exec%2F", segments: EXEC },
  { target: "/api/v1/namespaces/default/pods/demo/exec/", segments: EXEC },
  {
    target: "/api/v1/namespaces/default/pods/demo/%61ttach",
    segments: [...EXEC.slice(0, 6), "attach"],
  },
  { target: "/", segments: [] },
  { target: "/a+b", segments: ["a+b"] },
  { target: "/caf%C3%A9", segments: ["café"] },
  { target: "/p:8080;x", segments: ["p:8080;x"] },
  { target: "/a/%2e%2e/b", error: /segment 2 of "\/a\/..\/b" is "\.\."/ },
  { target: "/a/../b", error: /segment 2 .* is "\.\."/ },
  { target: "/a/./b", error: /segment 2 .* is "\."/ },
  { target: "/a//b", error: /segment 2 of "\/a\/\/b" is empty/ },
  { target: "//a", error: /segment 1 .* is empty/ },
  { target: "/a%2F%2Fb", error: /segment 2 .* is empty/ },
  { target: "/a/exec%2F/", error: /segment 3 .* is empty/ },
  { target: "/a%00b", error: /contains control character "\\u0000"/ },
  { target: "/a%7Fb", error: /contains control character/ },
  {
    target: "/api/v1/namespaces/default/pods/demo/%zzec",
    error:
      /Cannot parse request target: "%zz" at offset 37 is not a valid escape/,
  },
  { target: "/a%4", error: /"%4" at offset 2 is not a valid escape/ },
  { target: "/a%", error: /"%" at offset 2 is not a valid escape/ },
  { target: "/a%C3", error: /decoded path is not valid UTF-8/ },
  { target: "/a%FF%FE", error: /decoded path is not valid UTF-8/ },
  { target: "http://h/api/v1", error: /is not origin-form/ },
  { target: "h:443", error: /is not origin-form/ },
  { target: "*", error: /is not origin-form/ },
  { target: "", error: /is not origin-form/ },
  { target: "/a#frag", error: /"#" at offset 2 is not allowed/ },
  { target: "/caf\u00e9", error: /only printable ASCII/ },
  { target: "/a b", error: /only printable ASCII/ },
];

for (const c of PATHS) {
  Deno.test(`parseRequestTarget reads the path of ${JSON.stringify(c.target)}`, () => {
    if (c.error) {
      assert.throws(
        () => parseRequestTarget(c.target),
        (e) => e instanceof RequestTargetError && c.error!.test(e.message),
      );
    } else {
      assert.deepEqual(parseRequestTarget(c.target).segments, c.segments);
    }
  });
}

const QUERIES: {
  query: string;
  pairs: [string, string][];
  dropped?: string[];
}[] = [
  {
    query:
      "command=echo%20innocent;&command=sh&command=-c&command=cat%20/etc/shadow",
    pairs: [["command", "sh"], ["command", "-c"], [
      "command",
      "cat /etc/shadow",
    ]],
    dropped: ['command=echo%20innocent;: contains ";"'],
  },
  {
    query: "command=a%zz&command=b",
    pairs: [["command", "b"]],
    dropped: ['command=a%zz: "%zz" at offset 12 is not a valid escape'],
  },
  {
    query: "c%zzmmand=a&command=b",
    pairs: [["command", "b"]],
    dropped: ['c%zzmmand=a: "%zz" at offset 4 is not a valid escape'],
  },
  {
    query: "command=a+b&command=a%2Bb",
    pairs: [["command", "a b"], [
      "command",
      "a+b",
    ]],
  },
  {
    query: "a=1&a=2&b=&c&&d==x",
    pairs: [["a", "1"], ["a", "2"], ["b", ""], [
      "c",
      "",
    ], ["d", "=x"]],
  },
  { query: "", pairs: [] },
  { query: "&&", pairs: [] },
  { query: "x=%3B", pairs: [["x", ";"]] },
  { query: ";", pairs: [], dropped: [';: contains ";"'] },
];

for (const c of QUERIES) {
  Deno.test(`parseRequestTarget reads the query ${JSON.stringify(c.query)} like Go's ParseQuery`, () => {
    const t = parseRequestTarget("/x?" + c.query);
    assert.deepEqual(t.query.map((p) => [p.key, p.value]), c.pairs);
    assert.deepEqual(
      t.dropped.map((d) => `${d.raw}: ${d.reason}`),
      c.dropped ?? [],
    );
  });
}

Deno.test("parseRequestTarget refuses a query value that is not UTF-8", () => {
  assert.throws(
    () => parseRequestTarget("/x?command=%FF"),
    /query parameter "command=%FF" at offset 3 is not valid UTF-8/,
  );
});

Deno.test("parseRequestTarget refuses more query parameters than Go reads", () => {
  assert.throws(
    () => parseRequestTarget("/x?" + "a&".repeat(10000)),
    /more than Go's limit of 10000/,
  );
});

Deno.test("kubeBool follows Convert_Slice_string_To_bool", () => {
  const cases: [string[], boolean][] = [
    [[], false],
    [["true"], true],
    [["yes"], true],
    [[""], true],
    [["1"], true],
    [["0"], false],
    [["false"], false],
    [["FALSE"], false],
    [["FaLsE"], false],
    [["fal\u017fe"], false],
    [["0", "true"], false],
    [["true", "0"], true],
    [["f"], true],
  ];
  for (const [v, want] of cases) {
    assert.equal(kubeBool(v), want, JSON.stringify(v));
  }
  const t = parseRequestTarget("/x?tty=yes&stdin=&stdout=0&stderr=FALSE");
  assert.deepEqual(
    ["tty", "stdin", "stdout", "stderr", "none"].map((k) =>
      kubeBool(queryValues(t, k))
    ),
    [true, true, false, false, false],
  );
});

Deno.test("canonicalTarget re-encodes from the parse", () => {
  const cases: [string, string][] = [
    [
      "/api/v1/namespaces/default/pods/demo/exec?command=sh&stdout=true",
      "/api/v1/namespaces/default/pods/demo/exec?command=sh&stdout=true",
    ],
    [
      "/%61pi/v1/namespaces/default/pods/demo%2Fexec?command=echo%20a;&command=id&tty",
      "/api/v1/namespaces/default/pods/demo/exec?command=id&tty=",
    ],
    ["/api/v1/x/exec%2F", "/api/v1/x/exec/"],
    ["/a+b/c%3Fd/e%23f/g%25h?q=a%2Bb+c", "/a+b/c%3Fd/e%23f/g%25h?q=a%2Bb+c"],
    ["/caf%c3%a9/p:80?k%20=v%2F", "/caf%C3%A9/p:80?k+=v%2F"],
    ["/?", "/"],
  ];
  for (const [raw, want] of cases) {
    assert.equal(canonicalTarget(parseRequestTarget(raw)), want, raw);
  }
});

const segment = fc.string({ unit: "binary", minLength: 1, maxLength: 8 })
  .filter((s) =>
    s !== "." && s !== ".." && ![...s].some((c) =>
      c < " " || c === "\u007f" || c === "/"
    ) &&
    s.isWellFormed()
  );
const text = fc.string({ unit: "binary", maxLength: 8 }).filter((s) =>
  s.isWellFormed()
);

Deno.test("canonicalTarget round-trips: parsing it gives the same segments and pairs (fixed seed)", () => {
  fc.assert(
    fc.property(
      fc.array(segment, { maxLength: 6 }),
      fc.boolean(),
      fc.array(fc.record({ key: text, value: text }), { maxLength: 5 }),
      (segments, trailingSlash, query) => {
        const t = { segments, trailingSlash, query };
        const again = parseRequestTarget(canonicalTarget(t));
        assert.deepEqual(again.segments, segments);
        assert.equal(again.trailingSlash, trailingSlash && segments.length > 0);
        // An empty key and value (`=`) is a pair Go keeps; nothing is dropped.
        assert.deepEqual(again.query, query);
        assert.deepEqual(again.dropped, []);
      },
    ),
    { seed: 20261202, numRuns: 2000 },
  );
});

Deno.test("parseRequestTarget is idempotent on its canonical form for arbitrary raw targets (fixed seed)", () => {
  const chars = fc.constantFrom(
    ..."/?&=;%+.aeE2F0x#:@ ".split(""),
    "%2F",
    "%2e",
    "%65",
    "%C3%A9",
    "%zz",
  );
  fc.assert(
    fc.property(fc.array(chars, { maxLength: 24 }), (parts) => {
      const raw = "/" + parts.join("");
      let t;
      try {
        t = parseRequestTarget(raw);
      } catch (e) {
        assert.ok(e instanceof RequestTargetError);
        return;
      }
      const again = parseRequestTarget(canonicalTarget(t));
      assert.deepEqual(again.segments, t.segments);
      assert.deepEqual(again.query, t.query);
    }),
    { seed: 7, numRuns: 3000 },
  );
});
