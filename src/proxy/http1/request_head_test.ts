import assert from "node:assert/strict";
import {
  HttpRefusal,
  MAX_REQUEST_HEAD_BYTES,
  type RequestHead,
  RequestHeadReader,
} from "./request_head.ts";

const enc = new TextEncoder();

function read(text: string): { head: RequestHead; rest: string } {
  const r = new RequestHeadReader().push(enc.encode(text));
  assert.ok(r, "head complete");
  return { head: r.head, rest: new TextDecoder().decode(r.rest) };
}

function refusal(text: string): HttpRefusal {
  try {
    new RequestHeadReader().push(enc.encode(text));
  } catch (e) {
    assert.ok(e instanceof HttpRefusal, String(e));
    return e;
  }
  throw new Error(`not refused: ${JSON.stringify(text)}`);
}

const SPDY =
  "POST /api/v1/namespaces/default/pods/demo/exec?command=sh&stdin=true HTTP/1.1\r\n" +
  "Host: 127.0.0.1:8443\r\nAuthorization: Bearer t\r\nContent-Length: 0\r\n" +
  "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\n" +
  "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n" +
  "X-Stream-Protocol-Version: channel.k8s.io\r\n\r\n";

Deno.test("RequestHeadReader reads a kubectl SPDY upgrade head", () => {
  const { head, rest } = read(SPDY + "\x80\x03");
  assert.equal(head.method, "POST");
  assert.equal(
    head.target,
    "/api/v1/namespaces/default/pods/demo/exec?command=sh&stdin=true",
  );
  assert.equal(head.version, "1.1");
  assert.equal(head.upgrade, true);
  assert.equal(head.keepAlive, true);
  assert.deepEqual(head.body, { kind: "none" });
  assert.deepEqual(
    head.rawHeaders.filter(([k]) => k === "X-Stream-Protocol-Version"),
    [
      ["X-Stream-Protocol-Version", "v4.channel.k8s.io"],
      ["X-Stream-Protocol-Version", "channel.k8s.io"],
    ],
  );
  assert.equal(head.headLength, SPDY.length);
  assert.equal(rest, "\x80\x03");
});

Deno.test("RequestHeadReader gives the same head at every split point", () => {
  const heads = [
    SPDY,
    "GET /api HTTP/1.1\r\nHost: x\r\n\r\n",
    "\r\nPUT /a?b=%20 HTTP/1.0\r\nHost: x\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n",
    "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
  ];
  for (const text of heads) {
    const bytes = enc.encode(text + "REST");
    const whole = new RequestHeadReader().push(bytes)!;
    for (let cut = 0; cut <= bytes.length; cut++) {
      for (const parts of [[cut], [cut, cut + 1]]) {
        const r = new RequestHeadReader();
        let got;
        let from = 0;
        for (const at of [...parts, bytes.length]) {
          if (at < from || at > bytes.length) continue;
          got = r.push(bytes.subarray(from, at)) ?? got;
          if (got) break;
          from = at;
        }
        assert.ok(got, `complete at cut ${cut}`);
        assert.deepEqual(got.head, whole.head, `cut ${cut}`);
      }
    }
    // Byte by byte: the rest begins right after the head.
    const r = new RequestHeadReader();
    let got;
    let i = 0;
    for (; i < bytes.length && !got; i++) {
      got = r.push(bytes.subarray(i, i + 1));
    }
    assert.equal(i, whole.head.headLength);
  }
});

Deno.test("RequestHeadReader reads framing, keep-alive and expectations", () => {
  const table: [string, Partial<RequestHead>][] = [
    ["GET / HTTP/1.1\r\nHost: x\r\n\r\n", {
      keepAlive: true,
      upgrade: false,
      body: { kind: "none" },
    }],
    ["GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", {
      keepAlive: false,
    }],
    ["GET / HTTP/1.0\r\n\r\n", { keepAlive: false, version: "1.0" }],
    ["GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", { keepAlive: true }],
    ["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n", {
      body: { kind: "length", length: 12 },
    }],
    [
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
      {
        body: { kind: "length", length: 3 },
      },
    ],
    ["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", {
      body: { kind: "none" },
    }],
    ["POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n", {
      body: { kind: "chunked" },
    }],
    ["POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\n\r\n", {
      expectContinue: true,
    }],
    [
      "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
      {
        upgrade: true,
      },
    ],
    ["GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\n\r\n", {
      upgrade: false,
    }],
    ["GET / HTTP/1.1\r\nHost: x\r\nX-A:  padded \t\r\n\r\n", {
      rawHeaders: [["Host", "x"], ["X-A", "padded"]],
    }],
  ];
  for (const [text, want] of table) {
    const { head } = read(text);
    for (const [k, v] of Object.entries(want)) {
      assert.deepEqual(
        head[k as keyof RequestHead],
        v,
        `${k} of ${JSON.stringify(text)}`,
      );
    }
  }
});

Deno.test("RequestHeadReader refuses what a Go server could read differently", () => {
  const table: [string, number, RegExp][] = [
    ["GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  b\r\n\r\n", 400, /obs-fold/],
    ["GET / HTTP/1.1\r\nHost: x\r\n\tb\r\n\r\n", 400, /obs-fold/],
    [
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
      400,
      /both Transfer-Encoding and Content-Length/,
    ],
    [
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
      400,
      /Content-Length values "3, 4" differ/,
    ],
    [
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\n",
      400,
      /differ/,
    ],
    [
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
      400,
      /not a decimal length/,
    ],
    [
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n",
      400,
      /not a decimal length/,
    ],
    [
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
      501,
      /"gzip, chunked" is not supported/,
    ],
    [
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
      501,
      /not supported/,
    ],
    [
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n",
      501,
      /not supported/,
    ],
    ["POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, /HTTP\/1.0/],
    ["GET / HTTP/1.1\nHost: x\n\n", 400, /bare LF/],
    ["GET / HTTP/1.1\r\nHost: x\n\r\n", 400, /bare LF/],
    [
      "GET / HTTP/1.1\r\nHost: x\rY\r\n\r\n",
      400,
      /CR at byte \d+ is not followed by LF/,
    ],
    [
      "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
      400,
      /"X-A" has a control character \(0x00\)/,
    ],
    [
      "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x1bb\r\n\r\n",
      400,
      /control character \(0x1b\)/,
    ],
    ["GET / HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n", 400, /token name/],
    ["GET / HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n", 400, /token name/],
    ["GET / HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n", 400, /token name/],
    ["GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n", 400, /token name/],
    ["GET / HTTP/1.1\r\n\r\n", 400, /needs a Host header/],
    ["GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, /2 Host headers/],
    [
      "GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
      400,
      /expected METHOD SP target SP HTTP\/1.x/,
    ],
    ["GET /\r\n\r\n", 400, /expected METHOD SP target/],
    ["GET / HTTP/1.1 \r\nHost: x\r\n\r\n", 400, /expected METHOD/],
    ["G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, /method "G\(T" is not a token/],
    ["GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n", 400, /outside visible ASCII/],
    ["GET /\xe9 HTTP/1.1\r\nHost: x\r\n\r\n", 400, /outside visible ASCII/],
    ["GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, /HTTP\/2.0 is not supported/],
    ["GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505, /not supported/],
    [
      "POST / HTTP/1.1\r\nHost: x\r\nExpect: later\r\n\r\n",
      417,
      /Expect "later"/,
    ],
  ];
  for (const [text, status, message] of table) {
    const e = refusal(text);
    assert.equal(e.status, status, JSON.stringify(text));
    assert.match(e.message, message, JSON.stringify(text));
    assert.match(e.message, /^Cannot read request/);
  }
});

Deno.test("RequestHeadReader refuses a head longer than MAX_REQUEST_HEAD_BYTES with 431", () => {
  const head = (n: number) =>
    `GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ${"a".repeat(n)}\r\n\r\n`;
  const base = head(0).length;
  // Exactly the limit is accepted; one byte more is not.
  assert.equal(
    read(head(MAX_REQUEST_HEAD_BYTES - base)).head.headLength,
    MAX_REQUEST_HEAD_BYTES,
  );
  const e = refusal(head(MAX_REQUEST_HEAD_BYTES - base + 1));
  assert.equal(e.status, 431);
  assert.match(e.message, /longer than 16384 bytes/);
});

Deno.test("RequestHeadReader refuses 1 MiB of garbage fed a byte at a time at 16 KiB, holding no more", () => {
  const r = new RequestHeadReader();
  const garbage = new Uint8Array(1024 * 1024).fill(0x41);
  let fed = 0;
  let err: unknown;
  try {
    for (; fed < garbage.length; fed++) r.push(garbage.subarray(fed, fed + 1));
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof HttpRefusal);
  assert.equal(err.status, 431);
  assert.equal(fed, MAX_REQUEST_HEAD_BYTES - 1);
  assert.ok(r.size < MAX_REQUEST_HEAD_BYTES);
});
