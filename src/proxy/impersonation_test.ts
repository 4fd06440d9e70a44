import assert from "node:assert/strict";
import { isCredentialHeader, upstreamHeaders } from "./impersonation.ts";

Deno.test("isCredentialHeader matches every impersonation header in any case", () => {
  for (
    const h of [
      "Authorization",
      "authorization",
      "Impersonate-User",
      "IMPERSONATE-GROUP",
      "Impersonate-Uid",
      "Impersonate-Extra-Scopes",
      "impersonate-extra-a%2fb",
      "Proxy-Authorization",
    ]
  ) assert.ok(isCredentialHeader(h), h);
  for (const h of ["Accept", "X-Impersonate-User", "Authorizationx"]) {
    assert.ok(!isCredentialHeader(h), h);
  }
});

Deno.test("upstreamHeaders strips client credentials and adds the caller's impersonation", () => {
  const out = upstreamHeaders([
    ["Host", "proxy:8443"],
    ["Authorization", "Bearer client-token"],
    ["Impersonate-User", "system:admin"],
    ["Impersonate-Group", "system:masters"],
    ["impersonate-group", "system:masters"],
    ["Impersonate-Extra-Foo", "x"],
    ["Accept", "application/json"],
    ["Connection", "keep-alive, X-Secret"],
    ["X-Secret", "hop"],
    ["Accept-Encoding", "gzip"],
  ], {
    impersonate: { user: "alice@example.com", groups: ["eng", "viewers"] },
    token: "proxy-token",
    host: "k8s:6443",
    upgrade: false,
  });
  assert.deepEqual(out, [
    ["Host", "k8s:6443"],
    ["Accept", "application/json"],
    ["Accept-Encoding", "gzip"],
    ["Authorization", "Bearer proxy-token"],
    ["Impersonate-User", "alice@example.com"],
    ["Impersonate-Group", "eng"],
    ["Impersonate-Group", "viewers"],
  ]);
});

Deno.test("upstreamHeaders keeps the upgrade handshake but drops WebSocket extensions", () => {
  const out = upstreamHeaders([
    ["Connection", "Upgrade"],
    ["Upgrade", "websocket"],
    ["Sec-WebSocket-Key", "k"],
    ["Sec-WebSocket-Protocol", "v5.channel.k8s.io"],
    ["Sec-WebSocket-Extensions", "permessage-deflate"],
    ["Impersonate-User", "system:admin"],
  ], {
    impersonate: { user: "bob", groups: [] },
    host: "k8s:443",
    upgrade: true,
  });
  assert.deepEqual(out, [
    ["Host", "k8s:443"],
    ["Connection", "Upgrade"],
    ["Upgrade", "websocket"],
    ["Sec-WebSocket-Key", "k"],
    ["Sec-WebSocket-Protocol", "v5.channel.k8s.io"],
    ["Impersonate-User", "bob"],
  ]);
});

Deno.test("isCredentialHeader matches underscore spellings and front-proxy headers", () => {
  for (
    const h of [
      "Impersonate_User",
      "IMPERSONATE_GROUP",
      "impersonate_extra_scopes",
      "X-Remote-User",
      "x_remote_group",
      "X-Remote-Extra-Scopes",
      "PROXY_AUTHORIZATION",
    ]
  ) assert.ok(isCredentialHeader(h), h);
});

Deno.test("upstreamHeaders drops headers named in Connection, on upgrades too, and sends its own Connection", () => {
  const out = upstreamHeaders([
    ["Connection", "Upgrade, X-Foo, x_bar"],
    ["connection", "keep-alive"],
    ["Upgrade", "websocket"],
    ["X-Foo", "hop"],
    ["X-Bar", "hop"],
    ["Keep-Alive", "timeout=5"],
    ["X-Remote-User", "admin"],
    ["Accept", "*/*"],
  ], {
    impersonate: { user: "bob", groups: ["g"] },
    host: "k8s:443",
    upgrade: true,
  });
  assert.deepEqual(out, [
    ["Host", "k8s:443"],
    ["Connection", "Upgrade"],
    ["Upgrade", "websocket"],
    ["Accept", "*/*"],
    ["Impersonate-User", "bob"],
    ["Impersonate-Group", "g"],
  ]);
});

Deno.test("upstreamHeaders refuses a header name that is not an HTTP token", () => {
  for (const name of ["X Foo", "X:Foo", "X\u00e9", "", "X(y)"]) {
    assert.throws(
      () =>
        upstreamHeaders([[name, "v"]], {
          impersonate: { user: "bob", groups: [] },
          host: "k8s",
          upgrade: false,
        }),
      /Cannot forward request: header name .* is not an HTTP token/,
      name,
    );
  }
});
