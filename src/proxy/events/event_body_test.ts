import assert from "node:assert/strict";
import { describeBody, redactSecrets, sha256Hex } from "./event_body.ts";

const enc = new TextEncoder();
const SECRET = "hunter2-value";
const B64 = btoa(SECRET);

function kept(body: unknown, resource = "pods", truncated = false): string {
  const b = describeBody(
    enc.encode(typeof body === "string" ? body : JSON.stringify(body)),
    truncated,
    resource,
  );
  return JSON.stringify(b);
}

Deno.test("describeBody keeps a pod's JSON, command included", () => {
  const pod = {
    kind: "Pod",
    apiVersion: "v1",
    metadata: { name: "p" },
    spec: { containers: [{ name: "c", command: ["sh", "-c", "id"] }] },
  };
  const b = describeBody(enc.encode(JSON.stringify(pod)), false, "pods");
  assert.deepEqual(b.json, pod);
  assert.equal(b.sha256, sha256Hex(enc.encode(JSON.stringify(pod))));
  assert.equal(b.bytes, JSON.stringify(pod).length);
});

const ADVERSARIAL: [string, unknown, string?][] = [
  ["a Secret", {
    kind: "Secret",
    data: { pw: B64 },
    stringData: { s: SECRET },
  }],
  ["a List of Secrets", {
    kind: "List",
    items: [{ kind: "Secret", data: { pw: B64 } }],
  }],
  ["a Secret nested in a pod's annotations object", {
    kind: "Pod",
    spec: { x: [{ y: { kind: "Secret", stringData: { s: SECRET } } }] },
  }],
  ["kind in another letter case", { kind: "secret", data: { pw: B64 } }],
  ["keys in another letter case", { Kind: "Secret", Data: { pw: B64 } }],
  [
    "duplicate kind keys (the last wins, as in Go)",
    `{"kind":"Pod","kind":"Secret","data":{"pw":"${B64}"}}`,
  ],
  ["data that is not an object", { kind: "Secret", data: [B64, SECRET] }],
  ["a merge patch to secrets", { data: { pw: B64 } }, "secrets"],
  ["a JSON patch to secrets", [
    { op: "add", path: "/data/pw", value: B64 },
    { op: "replace", path: "/stringData", value: { s: SECRET } },
  ], "secrets"],
  ["a strategic patch nested under anything, to secrets", {
    metadata: { x: { stringData: { s: SECRET } } },
  }, "secrets"],
];

for (const [name, body, resource] of ADVERSARIAL) {
  Deno.test(`describeBody never keeps a Secret value: ${name}`, () => {
    const s = kept(body, resource);
    assert.ok(!s.includes(SECRET), s);
    assert.ok(!s.includes(B64), s);
    assert.match(s, /sha256:[0-9a-f]{64}/);
  });
}

Deno.test("describeBody keeps only size and hash of a body that is not one JSON document", () => {
  for (
    const body of [
      `kind: Secret\ndata:\n  pw: ${B64}\n`, // YAML
      `{"kind":"Secret","data":{"pw":"${B64}"}`, // cut JSON
      `{"kind":"Secret"} {"data":"${B64}"}`, // two documents
      "\xff\xfe not utf-8",
    ]
  ) {
    const b = describeBody(enc.encode(body), false, "pods");
    assert.equal(b.json, undefined);
    assert.equal(b.bytes, enc.encode(body).length);
    assert.equal(b.sha256.length, 64);
  }
  const cut = describeBody(
    enc.encode(JSON.stringify({ kind: "Pod" })),
    true,
    "pods",
  );
  assert.equal(cut.json, undefined);
  assert.equal(cut.truncated, true);
});

Deno.test("redactSecrets survives deep nesting without exhausting the stack", () => {
  let v: unknown = { kind: "Secret", data: { pw: B64 } };
  for (let i = 0; i < 10_000; i++) v = [v];
  const s = JSON.stringify(redactSecrets(v));
  assert.ok(!s.includes(B64));
});

Deno.test("redactSecrets leaves a ConfigMap's data alone", () => {
  const cm = { kind: "ConfigMap", data: { a: "b" } };
  assert.deepEqual(redactSecrets(cm), cm);
});
