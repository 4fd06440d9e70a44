/**
 * The end of the acknowledgement stream racing the final `done` line (issue
 * 11: uploads ended with "the recorder closed the acknowledgement stream
 * early" while the recorder logged them complete). A raw TCP recorder
 * answers the upload, waits for the request body's last chunk, then sends
 * the final acknowledgement and the end of the stream in each way a
 * recorder, a proxy in between or the kernel may deliver them: the `done`
 * line split at every byte, in the same write as the stream's end, the
 * stream ended by closing the connection, framed by length, without the
 * final newline. Every case must hand the final ack over.
 */
import assert from "node:assert/strict";
import { encodeRecord, RecordType } from "../protocol/records.ts";
import { openRecorderUpload } from "./recorder_client.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

type Framing = "chunked" | "close";

/** Bytes of the request body, decoded from chunked encoding, until its end. */
async function readChunkedBody(
  conn: Deno.Conn,
  already: Uint8Array,
): Promise<number> {
  let buf = already;
  let bytes = 0;
  const more = async () => {
    const b = new Uint8Array(65536);
    const n = await conn.read(b);
    if (n === null) throw new Error("the client closed before the body ended");
    const next = new Uint8Array(buf.length + n);
    next.set(buf);
    next.set(b.subarray(0, n), buf.length);
    buf = next;
  };
  while (true) {
    let nl = dec.decode(buf).indexOf("\r\n");
    while (nl < 0) {
      await more();
      nl = dec.decode(buf).indexOf("\r\n");
    }
    const size = parseInt(dec.decode(buf.subarray(0, nl)), 16);
    while (buf.length < nl + 2 + size + 2) await more();
    buf = buf.subarray(nl + 2 + size + 2);
    if (size === 0) return bytes;
    bytes += size;
  }
}

/** One upload answered with the final ack delivered as `writes` says. */
async function finalAckCase(
  writes: (done: string) => Uint8Array[],
  framing: Framing,
) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
  const served = (async () => {
    const conn = await listener.accept();
    try {
      let head = new Uint8Array(0);
      let end = -1;
      while (end < 0) {
        const b = new Uint8Array(65536);
        const n = await conn.read(b);
        if (n === null) throw new Error("no request");
        const next = new Uint8Array(head.length + n);
        next.set(head);
        next.set(b.subarray(0, n), head.length);
        head = next;
        end = dec.decode(head).indexOf("\r\n\r\n");
      }
      const rest = head.subarray(end + 4);
      const chunk = (b: Uint8Array) =>
        framing === "chunked"
          ? [enc.encode(`${b.length.toString(16)}\r\n`), b, enc.encode("\r\n")]
          : [b];
      await conn.write(enc.encode(
        "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\n" +
          (framing === "chunked"
            ? "transfer-encoding: chunked\r\n\r\n"
            : "connection: close\r\n\r\n"),
      ));
      for (const b of chunk(enc.encode(`{"ack":0}\n`))) await conn.write(b);
      const total = await readChunkedBody(conn, rest);
      const done =
        `{"ack":${total},"stored":${total},"done":true,"id":"r/s-1","complete":true}`;
      // Each piece in its own write, the stream's end right after the last.
      for (const p of writes(done)) {
        for (const b of chunk(p)) await conn.write(b);
      }
      if (framing === "chunked") await conn.write(enc.encode("0\r\n\r\n"));
    } finally {
      conn.close();
    }
  })();
  try {
    const up = await openRecorderUpload({
      urls: [url],
      sessionId: "s-1",
      token: "test-token",
    });
    up.push([encodeRecord(RecordType.HEADER, 1, enc.encode('{"version":2}'))]);
    up.push([encodeRecord(RecordType.STDOUT, 2, enc.encode("hello"))]);
    const ack = await up.finish();
    assert.equal(ack.done, true);
    assert.equal(ack.id, "r/s-1");
    assert.equal(ack.ack, up.writtenBytes);
  } finally {
    await served.catch(() => {});
    listener.close();
  }
}

Deno.test("RecorderUpload takes the final ack however it arrives with the stream's end", async (t) => {
  const line = (done: string) => enc.encode(done + "\n");
  for (const framing of ["chunked", "close"] as const) {
    await t.step(
      `${framing}: the done line in one write`,
      () => finalAckCase((d) => [line(d)], framing),
    );
    await t.step(
      `${framing}: the done line without its newline`,
      () => finalAckCase((d) => [enc.encode(d)], framing),
    );
    await t.step(`${framing}: the done line split at every byte`, async () => {
      const n = line(`{"ack":0,"done":true}`).length;
      for (let cut = 1; cut < n; cut += 7) {
        await finalAckCase((d) => {
          const b = line(d);
          return [b.subarray(0, cut), b.subarray(cut)];
        }, framing);
      }
    });
  }
});
