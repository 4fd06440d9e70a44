import assert from "node:assert/strict";
import { http1Fetch } from "./http1_fetch.ts";
import { generateCa, issueCert } from "../../devcluster/certs.ts";

const enc = new TextEncoder();

/** A server that acknowledges each body chunk with a line while the body streams. */
function ackServer(tls?: { cert: string; key: string }) {
  const seen: { method: string; path: string; headers: Headers }[] = [];
  const handler = (req: Request) => {
    seen.push({
      method: req.method,
      path: new URL(req.url).pathname + new URL(req.url).search,
      headers: req.headers,
    });
    if (!req.body) return new Response("no body", { status: 400 });
    const reader = req.body.getReader();
    let total = 0;
    return new Response(
      new ReadableStream({
        async pull(c) {
          const r = await reader.read();
          if (r.done) {
            c.enqueue(enc.encode(`{"done":${total}}\n`));
            c.close();
            return;
          }
          total += r.value.length;
          c.enqueue(enc.encode(`{"ack":${total}}\n`));
        },
      }),
      { headers: { "content-type": "application/x-ndjson" } },
    );
  };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {}, ...(tls ?? {}) },
    handler,
  );
  return { server, seen, port: server.addr.port };
}

async function lines(
  reader: ReadableStreamDefaultReader<string>,
  until: (l: string) => boolean,
): Promise<string[]> {
  const out: string[] = [];
  let buf = "";
  for (;;) {
    const r = await reader.read();
    if (r.done) return out;
    buf += r.value;
    const parts = buf.split("\n");
    buf = parts.pop()!;
    for (const p of parts) {
      out.push(p);
      if (until(p)) return out;
    }
  }
}

Deno.test("http1Fetch streams a duplex upload: acknowledgements arrive while the body is still open", async () => {
  const { server, seen, port } = ackServer();
  try {
    let push!: (b: Uint8Array | null) => void;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        push = (b) => (b === null ? c.close() : c.enqueue(b));
      },
    });
    push(new Uint8Array(400));
    const res = await http1Fetch()(`http://127.0.0.1:${port}/v2/up?x=1`, {
      method: "POST",
      headers: { "x-execgate-session": "abc" },
      body,
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/x-ndjson");
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    // The first acknowledgement comes before the body is closed.
    assert.deepEqual(await lines(reader, () => true), ['{"ack":400}']);
    push(new Uint8Array(100_000));
    push(enc.encode("tail"));
    push(null);
    const rest = await lines(reader, (l) => l.includes("done"));
    assert.equal(rest.at(-1), `{"done":${400 + 100_000 + 4}}`);
    assert.equal(seen[0]!.method, "POST");
    assert.equal(seen[0]!.path, "/v2/up?x=1");
    assert.equal(seen[0]!.headers.get("x-execgate-session"), "abc");
  } finally {
    await server.shutdown();
  }
});

Deno.test("http1Fetch over TLS trusts the given CA; fixed bodies get a Content-Length", async () => {
  const ca = await generateCa("http1-fetch-test-ca");
  const leaf = await issueCert(ca, { commonName: "rec", usage: "server" });
  const { server, seen, port } = ackServer({
    cert: leaf.certPem,
    key: leaf.keyPem,
  });
  try {
    const res = await http1Fetch({ caCerts: [ca.certPem] })(
      `https://127.0.0.1:${port}/x`,
      { method: "POST", body: "hello" },
    );
    assert.equal(await res.text(), '{"ack":5}\n{"done":5}\n');
    assert.equal(seen[0]!.headers.get("content-length"), "5");
    await assert.rejects(
      http1Fetch()(`https://127.0.0.1:${port}/x`, {
        method: "POST",
        body: "x",
      }),
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("http1Fetch: the signal closes the connection; a Content-Length answer ends the body", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) =>
      new URL(req.url).pathname === "/fixed"
        ? new Response("0123456789", { status: 409 })
        : new Response(new ReadableStream({ start() {} })),
  );
  try {
    const f = http1Fetch();
    const base = `http://127.0.0.1:${server.addr.port}`;
    const fixed = await f(`${base}/fixed`);
    assert.equal(fixed.status, 409);
    assert.equal(await fixed.text(), "0123456789");
    const abort = new AbortController();
    const res = await f(`${base}/hang`, { signal: abort.signal });
    const reading = res.body!.getReader().read();
    abort.abort();
    await assert.rejects(reading);
  } finally {
    await server.shutdown();
  }
});
