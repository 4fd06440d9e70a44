import assert from "node:assert/strict";
import { restrictUpgradeOffer } from "./upgrade_offer.ts";

Deno.test("restrictUpgradeOffer keeps only the channel protocols the tap reads, in the client's order", () => {
  const o = restrictUpgradeOffer([
    ["Connection", "Upgrade"],
    ["Upgrade", "WebSocket"],
    ["Sec-WebSocket-Protocol", "base64url.bearer.authorization.k8s.io.dG9r"],
    [
      "sec-websocket-protocol",
      " v4.channel.k8s.io ,channel.k8s.io,v5.channel.k8s.io",
    ],
    ["Accept", "*/*"],
  ], "channel");
  assert.equal(o.transport, "websocket");
  assert.deepEqual(o.headers, [
    ["Connection", "Upgrade"],
    ["Upgrade", "WebSocket"],
    ["Sec-WebSocket-Protocol", "v4.channel.k8s.io, v5.channel.k8s.io"],
    ["Accept", "*/*"],
  ]);
});

Deno.test("restrictUpgradeOffer keeps one X-Stream-Protocol-Version line per kept SPDY protocol", () => {
  const o = restrictUpgradeOffer([
    ["Upgrade", "SPDY/3.1"],
    ["X-Stream-Protocol-Version", "v5.channel.k8s.io"],
    ["X-Stream-Protocol-Version", "v4.channel.k8s.io"],
    ["X-Stream-Protocol-Version", "v3.channel.k8s.io"],
    ["X-Stream-Protocol-Version", "channel.k8s.io"],
  ], "channel");
  assert.equal(o.transport, "spdy");
  assert.deepEqual(o.headers, [
    ["Upgrade", "SPDY/3.1"],
    ["X-Stream-Protocol-Version", "v5.channel.k8s.io"],
    ["X-Stream-Protocol-Version", "v4.channel.k8s.io"],
  ]);
});

Deno.test("restrictUpgradeOffer refuses offers the tap cannot read", () => {
  const cases: [[string, string][], RegExp][] = [
    [
      [["Upgrade", "websocket"], [
        "Sec-WebSocket-Protocol",
        "channel.k8s.io, base64.channel.k8s.io, v4.base64.channel.k8s.io",
      ]],
      /offers "channel\.k8s\.io", "base64\.channel\.k8s\.io", "v4\.base64\.channel\.k8s\.io" Sec-WebSocket-Protocol protocols; the proxy records and accepts only v5\.channel\.k8s\.io, v4\.channel\.k8s\.io/,
    ],
    [[["Upgrade", "websocket"]], /offers no Sec-WebSocket-Protocol protocols/],
    [[["Upgrade", "SPDY/3.1"], [
      "X-Stream-Protocol-Version",
      "v3.channel.k8s.io",
    ]], /offers "v3\.channel\.k8s\.io" X-Stream-Protocol-Version/],
    [
      [["Upgrade", "websocket, spdy/3.1"], [
        "Sec-WebSocket-Protocol",
        "v5.channel.k8s.io",
      ]],
      /must say exactly "Upgrade: websocket" or "Upgrade: SPDY\/3\.1" \(this one says "websocket, spdy\/3\.1"\)/,
    ],
    [[["Upgrade", "websocket"], ["Upgrade", "websocket"], [
      "Sec-WebSocket-Protocol",
      "v5.channel.k8s.io",
    ]], /must say exactly/],
    [[["Upgrade", "h2c"]], /must say exactly/],
    [[["Sec-WebSocket-Protocol", "v5.channel.k8s.io"]], /this one says ""/],
  ];
  for (const [headers, want] of cases) {
    assert.throws(() => restrictUpgradeOffer(headers, "channel"), want);
  }
});

Deno.test("restrictUpgradeOffer keeps only port-forward protocols for a port-forward", () => {
  const ws = restrictUpgradeOffer([
    ["Upgrade", "websocket"],
    [
      "Sec-WebSocket-Protocol",
      "v5.channel.k8s.io, SPDY/3.1+portforward.k8s.io, v2.portforward.k8s.io",
    ],
  ], "portforward");
  assert.deepEqual(ws.protocols, [
    "SPDY/3.1+portforward.k8s.io",
    "v2.portforward.k8s.io",
  ]);
  const spdy = restrictUpgradeOffer([
    ["Upgrade", "SPDY/3.1"],
    ["X-Stream-Protocol-Version", "portforward.k8s.io"],
  ], "portforward");
  assert.deepEqual(spdy.protocols, ["portforward.k8s.io"]);
  assert.throws(
    () =>
      restrictUpgradeOffer([["Upgrade", "websocket"], [
        "Sec-WebSocket-Protocol",
        "v5.channel.k8s.io",
      ]], "portforward"),
    /this port-forward offers "v5\.channel\.k8s\.io"/,
  );
});
