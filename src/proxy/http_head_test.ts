import assert from "node:assert/strict";
import { headerOf, ResponseHeadParser } from "./http_head.ts";

const enc = new TextEncoder();

const RESPONSES = [
  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n",
  'HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{"kind":"Status"}',
  "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
];

Deno.test("ResponseHeadParser finds the head at every split point", () => {
  for (const text of RESPONSES) {
    const tail = "\x82\x02\x01A"; // bytes after the head stay untouched
    const all = enc.encode(text + tail);
    for (let a = 0; a <= all.length; a++) {
      for (const b of [a, Math.min(all.length, a + 1), all.length]) {
        const p = new ResponseHeadParser();
        const parts = [all.subarray(0, a), all.subarray(a, b), all.subarray(b)];
        let got;
        let seen = 0;
        for (const part of parts) {
          if (got) break;
          seen += part.length;
          got = p.push(part);
        }
        assert.ok(got, `head found for split ${a}/${b}`);
        assert.equal(got.raw.length, seen);
        const headEnd = text.indexOf("\r\n\r\n") + 4;
        assert.equal(got.head.headLength, headEnd);
        assert.deepEqual(got.rest, all.subarray(headEnd, seen));
      }
    }
  }
});

Deno.test("ResponseHeadParser reads status and headers in wire order", () => {
  const got = new ResponseHeadParser().push(enc.encode(RESPONSES[0]!));
  assert.equal(got?.head.status, 101);
  assert.equal(got?.head.statusText, "Switching Protocols");
  assert.deepEqual(got?.head.rawHeaders[0], ["Upgrade", "websocket"]);
  assert.equal(
    headerOf(got!.head, "sec-websocket-protocol"),
    "v5.channel.k8s.io",
  );
});

Deno.test("ResponseHeadParser rejects a status line that is not HTTP", () => {
  assert.throws(
    () => new ResponseHeadParser().push(enc.encode("SSH-2.0-x\r\n\r\n")),
    /status line "SSH-2.0-x" is not HTTP\/1.x/,
  );
});

Deno.test("ResponseHeadParser rejects a head over 64 KiB", () => {
  const p = new ResponseHeadParser();
  p.push(enc.encode("HTTP/1.1 200 OK\r\n"));
  assert.throws(
    () => p.push(new Uint8Array(70 * 1024).fill(65)),
    /head is longer than 65536 bytes/,
  );
});
