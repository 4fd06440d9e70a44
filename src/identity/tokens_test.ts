import assert from "node:assert/strict";
import { PolicyError } from "../config/config_error.ts";
import {
  createTokenIdentitySource,
  digestsEqual,
  loadTokenIdentitySource,
  parseTokenFile,
} from "./tokens.ts";
import { nodeSha256Of } from "../adapter/deno/sha256.ts";

const FILE = `{
  // people
  "tokens": [
    {"token": "alice-token", "loginName": "alice@example.com", "groups": ["team-a"]},
    {
      // sha256("ci-secret")
      "tokenSha256": "${await sha256Hex("ci-secret")}",
      "hostname": "ci-runner",
      "nodeId": "ci-1",
      "tags": ["tag:ci"],
    },
  ],
}`;

async function sha256Hex(s: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s));
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0"))
    .join("");
}

function bearer(value: string | undefined) {
  const headers = new Headers();
  if (value !== undefined) headers.set("authorization", value);
  return { remoteAddr: "127.0.0.1:5000", headers };
}

Deno.test("tokens source maps a bearer token to its identity", async () => {
  const source = createTokenIdentitySource(
    await parseTokenFile(FILE, "tokens.hujson"),
  );
  assert.equal(source.name, "tokens");
  assert.deepEqual(await source.identify(bearer("Bearer alice-token")), {
    hostname: "alice",
    nodeId: "token:alice",
    loginName: "alice@example.com",
    userId: "alice@example.com",
    groups: ["team-a"],
  });
  assert.deepEqual(await source.identify(bearer("bearer  ci-secret ")), {
    hostname: "ci-runner",
    nodeId: "ci-1",
    tags: ["tag:ci"],
    groups: [],
  });
});

for (
  const [name, options] of [
    ["WebCrypto", {}],
    ["the native synchronous digest", { sha256: nodeSha256Of }],
  ] as const
) {
  Deno.test(`tokens source yields no identity for missing, malformed or unknown tokens (${name})`, async () => {
    const source = createTokenIdentitySource(
      await parseTokenFile(FILE, "tokens.hujson"),
      options,
    );
    assert.equal(
      (await source.identify(bearer("Bearer alice-token")))?.loginName,
      "alice@example.com",
    );
    assert.deepEqual(
      (await source.identify(bearer("Bearer ci-secret")))?.tags,
      ["tag:ci"],
    );
    for (
      const h of [
        undefined,
        "",
        "Bearer",
        "Basic YWxpY2U6eA==",
        "Bearer alice-token2",
        "Bearer alice-toke",
        "Bearer alice-token extra",
        "alice-token",
      ]
    ) {
      assert.equal(await source.identify(bearer(h)), undefined, String(h));
    }
  });
}

Deno.test("tokens source returns a copy callers may change", async () => {
  const source = createTokenIdentitySource(
    await parseTokenFile(FILE, "tokens.hujson"),
  );
  const a = await source.identify(bearer("Bearer alice-token"));
  a!.groups.push("x");
  const b = await source.identify(bearer("Bearer alice-token"));
  assert.deepEqual(b!.groups, ["team-a"]);
});

Deno.test("digestsEqual compares whole digests", () => {
  const a = new Uint8Array(32).fill(7);
  const b = a.slice();
  assert.equal(digestsEqual(a, b), true);
  b[31] = 8;
  assert.equal(digestsEqual(a, b), false);
  b[31] = 7;
  b[0] = 0;
  assert.equal(digestsEqual(a, b), false);
  assert.equal(digestsEqual(a, a.slice(1)), false);
});

Deno.test("loadTokenIdentitySource reads the dev token file", async () => {
  const source = await loadTokenIdentitySource(
    new URL("./testdata/dev_tokens.hujson", import.meta.url).pathname,
  );
  const who = await Promise.all(
    ["alice", "bob", "carol"].map((n) =>
      source.identify(bearer(`Bearer ${n}-token`))
    ),
  );
  assert.deepEqual(who.map((w) => [w?.loginName, w?.hostname]), [
    ["alice@example.com", "alice-laptop"],
    ["bob@example.com", "bob-laptop"],
    ["carol@example.com", "carol-laptop"],
  ]);
});

const BAD: [string, string, string][] = [
  [
    "bad syntax",
    `{"tokens": [}`,
    'tokens.json:1:13: Expected a value, found character "}"',
  ],
  [
    "unknown field",
    `{"tokens": [{"token": "t", "loginName": "a@b", "login": "x"}]}`,
    'tokens.json:1:48: tokens[0].login: unknown field "login"',
  ],
  [
    "no token",
    `{"tokens": [{"loginName": "a@b"}]}`,
    'tokens.json:1:13: tokens[0]: an entry needs exactly one of "token" or "tokenSha256"',
  ],
  [
    "both login and tags",
    `{"tokens": [{"token": "t", "loginName": "a@b", "tags": ["tag:x"]}]}`,
    'tokens.json:1:13: tokens[0]: an entry needs exactly one of "loginName" or "tags"',
  ],
  [
    "duplicate token",
    `{"tokens": [\n {"token": "t", "loginName": "a@b"},\n {"token": "t", "loginName": "c@d"}\n]}`,
    "tokens.json:3:2: tokens[1]: this token is already used by an earlier entry",
  ],
  [
    "bad hash",
    `{"tokens": [{"tokenSha256": "abc", "tags": ["tag:x"]}]}`,
    "tokens.json:1:29: tokens[0].tokenSha256: expected 64 hex digits",
  ],
  [
    "wrong type",
    `{"tokens": [{"token": "t", "loginName": "a@b", "groups": "g"}]}`,
    "tokens.json:1:58: tokens[0].groups: expected array, got string",
  ],
];

for (const [name, text, message] of BAD) {
  Deno.test(`parseTokenFile rejects a file with ${name}`, async () => {
    await assert.rejects(() => parseTokenFile(text, "tokens.json"), (e) => {
      assert.ok(e instanceof PolicyError);
      assert.equal(e.message, message);
      return true;
    });
  });
}
