import assert from "node:assert/strict";
import { connDuplex } from "./deno_socket.ts";

Deno.test("connDuplex: every byte arrives in order, and a chunk never pins more than twice its size", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [server, client] = await Promise.all([
    l.accept(),
    Deno.connect({
      hostname: "127.0.0.1",
      port: (l.addr as Deno.NetAddr).port,
    }),
  ]);
  l.close();
  // Writes from 1 byte to 200 KiB, so reads grow and shrink.
  const sizes = [1, 7, 3000, 70_000, 200_000, 5, 64 * 1024, 2, 40_000, 1];
  let seed = 7;
  const sent = new Uint8Array(sizes.reduce((a, b) => a + b, 0));
  for (let i = 0; i < sent.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    sent[i] = seed >>> 24;
  }
  const writing = (async () => {
    let off = 0;
    for (const n of sizes) {
      const piece = sent.subarray(off, off + n);
      for (let w = 0; w < piece.length;) {
        w += await client.write(piece.subarray(w));
      }
      off += n;
    }
    client.closeWrite();
  })();
  const d = connDuplex(server);
  const got = new Uint8Array(sent.length);
  let at = 0;
  for await (const chunk of d.readable) {
    assert.ok(
      chunk.buffer.byteLength <= Math.max(2 * chunk.length, 2048),
      `a ${chunk.length}-byte chunk holds a ${chunk.buffer.byteLength}-byte buffer`,
    );
    got.set(chunk, at);
    at += chunk.length;
  }
  await writing;
  assert.equal(at, sent.length);
  assert.deepEqual(got, sent);
  d.close();
  client.close();
});
