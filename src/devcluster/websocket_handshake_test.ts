import assert from "node:assert/strict";
import {
  chooseChannelProtocol,
  websocketAccept,
} from "./websocket_handshake.ts";

Deno.test("websocketAccept matches RFC 6455's example", () => {
  assert.equal(
    websocketAccept("dGhlIHNhbXBsZSBub25jZQ=="),
    "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
  );
});

Deno.test("chooseChannelProtocol prefers v5, takes v4, and refuses the rest", () => {
  const cases: [string | string[] | undefined, string | undefined][] = [
    ["v5.channel.k8s.io", "v5.channel.k8s.io"],
    ["v4.channel.k8s.io", "v4.channel.k8s.io"],
    ["v4.channel.k8s.io, v5.channel.k8s.io", "v5.channel.k8s.io"],
    [
      "v5.channel.k8s.io,v4.channel.k8s.io,v3.channel.k8s.io",
      "v5.channel.k8s.io",
    ],
    [["channel.k8s.io", "v4.channel.k8s.io"], "v4.channel.k8s.io"],
    ["base64.channel.k8s.io", undefined],
    [undefined, undefined],
  ];
  for (const [offered, want] of cases) {
    assert.equal(chooseChannelProtocol(offered), want, String(offered));
  }
});
