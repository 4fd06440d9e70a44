import assert from "node:assert/strict";
import {
  DeleteObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { S3EventStore } from "./events_s3_store.ts";
import { parseRecordingId } from "./recording_id.ts";
import { startS3 } from "./_test_util.ts";

const ID = parseRecordingId("2026/12/02/ev-0123abcd")!;
const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

async function readAll(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

async function keys(s3: Awaited<ReturnType<typeof startS3>>) {
  const r = await s3.client.send(
    new ListObjectsV2Command({ Bucket: s3.bucket }),
  );
  return (r.Contents ?? []).map((o) => o.Key!).sort();
}

Deno.test("S3EventStore keeps a stream as offset-named segments and reads it back whole", async () => {
  const s3 = await startS3("events");
  try {
    const store = new S3EventStore({
      client: s3.client,
      bucket: s3.bucket,
      prefix: "rec/events/",
      segmentBytes: 100,
      flushIntervalMs: 3_600_000,
    });
    const w = await store.create(ID);
    await assert.rejects(store.create(ID), /it exists/);
    await w.write(bytes(60, 1)); // buffered
    assert.deepEqual(await keys(s3), []);
    await w.write(bytes(60, 2)); // 120 ≥ 100: one segment of both
    await w.write(bytes(30, 3)); // buffered until close
    assert.deepEqual(await keys(s3), [
      "rec/events/2026/12/02/ev-0123abcd.records.seg/000000000000000",
    ]);
    assert.equal((await store.stat(ID))?.open, true);
    await assert.rejects(store.remove(ID), /still being written/);
    await w.close();
    assert.deepEqual(await keys(s3), [
      "rec/events/2026/12/02/ev-0123abcd.records.seg/000000000000000",
      "rec/events/2026/12/02/ev-0123abcd.records.seg/000000000000120",
    ]);
    const st = await store.stat(ID);
    assert.equal(st?.open, false);
    assert.equal(st?.bytes, 150);
    assert.ok(st!.lastWriteMs > Date.now() - 3_600_000);
    assert.deepEqual(await store.list(), [ID.id]);
    const back = await readAll((await store.open(ID))!);
    assert.deepEqual(
      back,
      new Uint8Array([...bytes(60, 1), ...bytes(60, 2), ...bytes(30, 3)]),
    );
    await assert.rejects(store.create(ID), /it exists/);
    await store.remove(ID);
    assert.deepEqual(await keys(s3), []);
    assert.equal(await store.open(ID), undefined);
    assert.equal(await store.stat(ID), undefined);
    assert.deepEqual(await store.list(), []);
  } finally {
    await s3.close();
  }
});

Deno.test("S3EventStore flushes buffered bytes after flushIntervalMs without a close", async () => {
  const s3 = await startS3("events");
  try {
    const store = new S3EventStore({
      client: s3.client,
      bucket: s3.bucket,
      flushIntervalMs: 10,
    });
    const w = await store.create(ID);
    await w.write(bytes(5, 7));
    // Polled: the test waits for the flush, it does not time it.
    while ((await keys(s3)).length === 0) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(await readAll((await store.open(ID))!), bytes(5, 7));
    await w.close();
    assert.equal((await keys(s3)).length, 1, "close adds no empty segment");
  } finally {
    await s3.close();
  }
});

Deno.test("S3EventStore says which bytes are missing when a segment is gone, and which flush failed", async () => {
  const s3 = await startS3("events");
  try {
    const store = new S3EventStore({
      client: s3.client,
      bucket: s3.bucket,
      segmentBytes: 10,
    });
    const w = await store.create(ID);
    for (let i = 0; i < 3; i++) await w.write(bytes(10, i));
    await w.close();
    await s3.client.send(
      new DeleteObjectsCommand({
        Bucket: s3.bucket,
        Delete: {
          Objects: [{
            Key: "events/2026/12/02/ev-0123abcd.records.seg/000000000000010",
          }],
        },
      }),
    );
    await assert.rejects(
      store.open(ID),
      /ev-0123abcd.*bytes 10 to 20 are missing/,
    );

    // The bucket refuses every PUT (lists still work).
    let puts = 0;
    const refusing = {
      send: (cmd: unknown) => {
        if (cmd instanceof PutObjectCommand) {
          puts++;
          return Promise.reject(new Error("SlowDown: please reduce your rate"));
        }
        return s3.client.send(cmd as ListObjectsV2Command);
      },
    } as unknown as S3Client;
    const broken = new S3EventStore({
      client: refusing,
      bucket: s3.bucket,
      prefix: "other/",
      segmentBytes: 10,
    });
    const b = await broken.create(ID);
    await assert.rejects(
      b.write(bytes(10, 1)),
      /Cannot store events stream "2026\/12\/02\/ev-0123abcd" from byte 0 in the bucket/,
    );
    await assert.rejects(b.write(bytes(1, 1)), /from byte 0/);
    // Close tries the buffered bytes once more.
    await assert.rejects(b.close(), /from byte 0.*SlowDown/);
    assert.equal(puts, 2);
  } finally {
    await s3.close();
  }
});
