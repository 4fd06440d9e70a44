/**
 * A search (`q`) finds what a still-running session has printed so far: with
 * the SQLite index (the recorder follows its live uploads' text, every 5 s
 * while they grow) and with no index (`scan`: the text so far is derived at
 * search time). Real recorder, real uploads.
 */
import assert from "node:assert/strict";
import { parseRecorderConfig } from "./config.ts";
import { serveRecorder } from "./serve.ts";
import { buildSession } from "./_test_records.ts";
import {
  RECORDS_CONTENT_TYPE,
  RECORDS_UPLOAD_PATH,
} from "../protocol/records.ts";
import { SESSION_HEADER } from "../recording/wire.ts";

const UP = "uploader-token-0123456789";
const VIEW = "viewer-token-0123456789";

/** Splits a record stream into its records. */
function recordsOf(all: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < all.length;) {
    const end = off + 13 +
      new DataView(all.buffer, all.byteOffset + off).getUint32(9);
    out.push(all.subarray(off, end));
    off = end;
  }
  return out;
}

for (const index of ["sqlite", "scan"] as const) {
  Deno.test(`Recorder search (${index} index) finds text a still-running session printed, and still finds it once it ends`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "execgate-live-search-" });
    const served = await serveRecorder(parseRecorderConfig({
      listen: { hostname: "127.0.0.1", port: 0 },
      auth: { uploaderTokens: [UP], viewerTokens: [VIEW] },
      storage: { kind: "disk", dir },
      ackIntervalMs: 50,
      ...(index === "scan" ? { index: { kind: "scan" } } : {}),
    }));
    assert.equal(
      served.recorder.index?.describe.split(" ")[0],
      index === "scan" ? undefined : "sqlite",
    );
    try {
      const built = buildSession({
        sessionId: "typing",
        tty: true,
        steps: [
          { at: 5, out: 1, data: "$ cat /etc/motd\r\nWelcome to zanzibar\r\n" },
          { at: 9000, out: 1, data: "$ echo later\r\nquokka-later\r\n" },
        ],
        endAt: 20_000,
      });
      const [header, first, second, end] = recordsOf(built.records);
      let push!: ReadableStreamDefaultController<Uint8Array>;
      const body = new ReadableStream<Uint8Array>({ start: (c) => push = c });
      const res = await fetch(served.url + RECORDS_UPLOAD_PATH, {
        method: "POST",
        headers: {
          "content-type": RECORDS_CONTENT_TYPE,
          authorization: `Bearer ${UP}`,
          [SESSION_HEADER]: "typing",
        },
        body,
        duplex: "half",
      } as RequestInit);
      push.enqueue(header!);
      push.enqueue(first!);
      const found = async (q: string) => {
        const r = await fetch(
          `${served.url}/v1/recordings?q=${encodeURIComponent(q)}`,
          { headers: { authorization: `Bearer ${VIEW}` } },
        );
        return (await r.json()).items as {
          sessionId: string;
          status: string;
        }[];
      };
      /** Waits (bounded by 30 s) until `q` finds the session. */
      const until = async (q: string, status: string) => {
        const deadline = Date.now() + 30_000;
        for (;;) {
          const items = await found(q);
          if (items[0]?.sessionId === "typing") {
            assert.equal(items[0].status, status);
            return;
          }
          if (Date.now() > deadline) {
            throw new Error(`q=${q} never found the ${status} session`);
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      await until("zanzibar", "recording");
      assert.deepEqual(await found("quokka"), []);
      // Printed later, still live: found too.
      push.enqueue(second!);
      await until("quokka-later", "recording");
      // Finished: the final text (stored) answers.
      push.enqueue(end!);
      push.close();
      const acks = res.body!.getReader();
      while (!(await acks.read()).done) { /* to the end */ }
      await served.recorder.indexer.idle();
      await until("quokka-later", "complete");
      await until("zanzibar", "complete");
    } finally {
      await served.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
