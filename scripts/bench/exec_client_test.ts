import assert from "node:assert/strict";
import { encodeWsFrame } from "../../src/k8s/ws_frame.ts";
import { startDevCluster } from "../../src/devcluster/server.ts";
import { execPath, FrameScanner, openSession } from "./exec_client.ts";

const enc = new TextEncoder();

function msg(channel: number, text: string | Uint8Array): Uint8Array {
  const data = typeof text === "string" ? enc.encode(text) : text;
  const payload = new Uint8Array(data.length + 1);
  payload[0] = channel;
  payload.set(data, 1);
  return encodeWsFrame({ opcode: 2, payload });
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// Small, 16-bit and 64-bit lengths, a fragmented message, a ping, a close.
const big = new Uint8Array(70_000).fill(0x78);
const stream = concat([
  msg(1, "hello"),
  msg(2, "warn"),
  msg(1, new Uint8Array(300).fill(0x79)),
  msg(1, big),
  encodeWsFrame({ opcode: 2, payload: new Uint8Array([1, 0x61]), fin: false }),
  encodeWsFrame({ opcode: 9, payload: new Uint8Array([1, 2]) }),
  encodeWsFrame({ opcode: 0, payload: new Uint8Array([0x62, 0x63]) }),
  msg(3, '{"status":"Success"}'),
  encodeWsFrame({ opcode: 8, payload: new Uint8Array([3, 232]) }),
]);
const STDOUT_BYTES = 5 + 300 + 70_000 + 3;

function scan(chunks: Uint8Array[]) {
  const s = new FrameScanner();
  let seen = 0;
  let closes = 0;
  s.onStdout = (d) => (seen += d.length);
  s.onClose = () => closes++;
  for (const c of chunks) s.push(c);
  return { s, seen, closes };
}

Deno.test("FrameScanner counts channels across every split point of a header or payload", () => {
  const points = new Set<number>();
  for (let i = 1; i < 400; i++) points.add(i);
  for (let i = stream.length - 400; i < stream.length; i++) points.add(i);
  for (const at of points) {
    const { s, seen, closes } = scan([
      stream.subarray(0, at),
      stream.subarray(at),
    ]);
    assert.equal(s.stdoutBytes, STDOUT_BYTES, `split at ${at}`);
    assert.equal(seen, STDOUT_BYTES);
    assert.equal(s.stderr, "warn");
    assert.equal(s.status, '{"status":"Success"}');
    assert.equal(closes, 1);
  }
});

Deno.test("FrameScanner handles one byte at a time", () => {
  const chunks = Array.from(stream, (_, i) => stream.subarray(i, i + 1));
  const { s } = scan(chunks);
  assert.equal(s.stdoutBytes, STDOUT_BYTES);
  assert.equal(s.status, '{"status":"Success"}');
});

Deno.test("FrameScanner refuses a masked server frame", () => {
  const masked = encodeWsFrame({
    opcode: 2,
    payload: new Uint8Array([1, 2]),
    mask: new Uint8Array([1, 2, 3, 4]),
  });
  assert.throws(() => new FrameScanner().push(masked), /masked/);
});

Deno.test("execPath builds the exec query kubectl sends", () => {
  assert.equal(
    execPath(["execgate-echo"], { stdin: true, tty: true }),
    "/api/v1/namespaces/default/pods/demo/exec?command=execgate-echo&container=main&stdin=true&stdout=true&tty=true",
  );
  assert.equal(
    execPath(["execgate-gen", "5"]),
    "/api/v1/namespaces/default/pods/demo/exec?command=execgate-gen&command=5&container=main&stdout=true&stderr=true",
  );
});

Deno.test("openSession streams execgate-gen and echoes stdin against the simulated cluster", async () => {
  const cluster = await startDevCluster({ startDelayMs: 0 });
  try {
    const target = {
      url: cluster.url,
      caPem: cluster.caPem,
      token: cluster.token,
    };
    const gen = await openSession(target, {
      path: execPath(["execgate-gen", "200000"]),
    });
    const r = await gen.done;
    assert.equal(r.stdoutBytes, 200000);
    assert.match(r.status, /Success/);
    assert.ok(gen.firstStdoutAt >= gen.openedAt);
    assert.ok(gen.openedAt >= gen.sentAt);

    let echoed = "";
    const { promise: got, resolve } = Promise.withResolvers<void>();
    const echo = await openSession(target, {
      path: execPath(["execgate-echo"], { stdin: true, tty: true }),
      onStdout: (d) => {
        echoed += new TextDecoder().decode(d);
        if (echoed === "ping") resolve();
      },
    });
    echo.resize(80, 24);
    echo.stdin(enc.encode("ping"));
    await got;
    echo.closeStdin();
    assert.match((await echo.done).status, /Success/);

    await assert.rejects(
      openSession({ ...target, token: "wrong" }, {
        path: execPath(["execgate-gen", "1"]),
      }),
      /401/,
    );
  } finally {
    await cluster.close();
  }
});
