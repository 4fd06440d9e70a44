import assert from "node:assert/strict";
import { portForwardSection } from "./portforward_section.ts";

Deno.test("portForwardSection lists each stream and escapes what the proxy wrote", async () => {
  const s = String(
    await portForwardSection({
      ports: [8080],
      streamCount: 3,
      bytesFromClient: 78,
      bytesFromPod: 190,
      durationMs: 12,
      streams: [
        {
          stream: 1,
          streamType: "error",
          port: 8080,
          requestId: "<b>0</b>",
          openedUs: 1500,
          bytesFromClient: 0,
          bytesFromPod: 0,
        },
        {
          stream: 3,
          streamType: "data",
          port: 8080,
          requestId: "0",
          openedUs: 2000,
          closedUs: 4_000_000,
          bytesFromClient: 78,
          bytesFromPod: 190,
        },
      ],
    }),
  ).replace(/>\s+</g, "><");
  assert.match(
    s,
    /<td>3<\/td><td>data<\/td><td>8080<\/td><td>0<\/td><td>0\.002<\/td><td>4\.000<\/td><td>78<\/td><td>190<\/td>/,
  );
  assert.match(s, /<td>0\.002<\/td>/);
  assert.match(s, /<td>open<\/td>/);
  assert.match(s, /&lt;b&gt;0&lt;\/b&gt;/);
  assert.doesNotMatch(s, /<b>0<\/b>/);
  assert.match(s, /the first 2 streams listed/);
  assert.equal(portForwardSection(undefined), "");
});
