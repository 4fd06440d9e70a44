import assert from "node:assert/strict";
import {
  MAX_PORTFORWARD_LINE_CHARS,
  portForwardLine,
} from "./portforward_lines.ts";

const line = (v: unknown) =>
  portForwardLine(
    new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v)),
  );

Deno.test("portForwardLine reads every event", () => {
  assert.equal(
    line({
      event: "open",
      stream: 3,
      streamType: "data",
      port: 8080,
      requestId: "0",
      by: "client",
    }),
    "port-forward: stream 3 opened by the client: data, port 8080, request 0",
  );
  assert.equal(
    line({ event: "reset", stream: 5, by: "pod", status: 5 }),
    "port-forward: stream 5 reset by the pod (status 5)",
  );
  assert.equal(
    line({ event: "error", stream: 1, message: "refused\n" }),
    "port-forward: stream 1 error: refused\\n",
  );
  assert.equal(
    line({
      event: "close",
      stream: 3,
      bytesFromClient: 78,
      bytesFromPod: 190,
      atEnd: true,
    }),
    "port-forward: stream 3 closed at the end: 78 bytes from the client, 190 from the pod",
  );
});

Deno.test("portForwardLine survives damaged and hostile payloads", () => {
  assert.equal(line("{bad"), "port-forward: unreadable event (4 bytes)");
  assert.equal(line("[1]"), "port-forward: unreadable event (3 bytes)");
  assert.equal(
    line({ event: "open", stream: "x", by: "mallory", streamType: 7 }),
    "port-forward: stream ? opened by the ?: ?",
  );
  assert.equal(
    line({ event: "nope", stream: 1 }),
    "port-forward: stream 1: unknown event nope",
  );
  const long = line({ event: "error", stream: 1, message: "x".repeat(5000) });
  assert.equal(long.length, MAX_PORTFORWARD_LINE_CHARS + 1);
  assert.equal(
    portForwardLine(new Uint8Array([0xff, 0xfe])),
    "port-forward: unreadable event (2 bytes)",
  );
});
