/**
 * API events on an S3 recorder: the streams go in the bucket beside the
 * recordings (not listed with them), and a recorder started later on the
 * same bucket finds them (real s3rver, real recorder servers, the proxy's
 * EventStream).
 */
import assert from "node:assert/strict";
import { ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { S3Storage } from "./s3_storage.ts";
import { memoryLogger } from "../log.ts";
import { EventStream } from "../recording/event_stream.ts";
import { parseRecorderConfig } from "./config.ts";
import { serveRecorder } from "./serve.ts";
import { s3StorageConfig, startS3 } from "./_test_util.ts";

const UP = "uploader-token-0123456789";
const VIEW = "viewer-token-0123456789";

Deno.test("S3 recorder keeps API event streams in its bucket under <prefix>events/, apart from the recordings, even those of a stream open at shutdown, and a later recorder reads them back", async () => {
  const s3 = await startS3("execgate-events");
  const config = parseRecorderConfig({
    listen: { hostname: "127.0.0.1", port: 0 },
    auth: { uploaderTokens: [UP], viewerTokens: [VIEW] },
    storage: s3StorageConfig(s3),
    ackIntervalMs: 100,
  });
  const get = async (url: string, path: string) => {
    const res = await fetch(url + path, {
      headers: { authorization: `Bearer ${VIEW}` },
    });
    assert.equal(res.status, 200, path);
    return await res.json();
  };
  const a = await serveRecorder(config, { logger: memoryLogger() });
  try {
    const stream = new EventStream({
      urls: [a.url],
      proxyHostname: "proxy-1",
      token: UP,
      logger: memoryLogger(),
    });
    for (let i = 0; i < 5; i++) {
      await stream.send({
        phase: "request",
        id: `ev${i}`,
        timeMs: 1_790_000_000_000 + i,
        verb: "create",
        resource: "pods",
        caller: { srcNodeUser: "alice@example.com" },
        target: `/api/v1/namespaces/default/pods?n=${i}`,
      }, { wait: true });
    }
    const live = await get(a.url, "/v1/events?limit=10");
    assert.equal(live.items.length, 5, "acknowledged events are searchable");
    await stream.close();
    // A stream still open when the recorder shuts down: what it
    // acknowledged is flushed to the bucket before the recorder stops.
    const open = new EventStream({
      urls: [a.url],
      proxyHostname: "proxy-2",
      token: UP,
      logger: memoryLogger(),
    });
    for (let i = 5; i < 8; i++) {
      await open.send({
        phase: "request",
        id: `ev${i}`,
        timeMs: 1_790_000_000_000 + i,
        verb: "get",
      }, { wait: true });
    }
    await a.close();
    await open.close();

    const keys = ((await s3.client.send(
      new ListObjectsV2Command({ Bucket: s3.bucket }),
    )).Contents ?? []).map((o) => o.Key!);
    assert.ok(keys.length > 0);
    for (const k of keys) {
      assert.match(
        k,
        /^rec\/events\/[0-9]{4}\/[0-9]{2}\/[0-9]{2}\/ev-[0-9a-f]+\.records\.seg\/[0-9]{15}$/,
      );
    }

    const b = await serveRecorder(config, { logger: memoryLogger() });
    try {
      const back = await get(b.url, "/v1/events?limit=10");
      assert.deepEqual(
        back.items.map((e: { request: { id: string } }) => e.request.id)
          .sort(),
        ["ev0", "ev1", "ev2", "ev3", "ev4", "ev5", "ev6", "ev7"],
      );
      const recordings = await get(b.url, "/v1/recordings");
      assert.deepEqual(recordings.items, [], "events are no recordings");
      // Recordings before and after the events in key order are listed,
      // the events' segments skipped.
      for (const id of ["0999/01/01/early", "2026/11/27/late"]) {
        const [y, m, d, sid] = id.split("/");
        await s3.client.send(
          new PutObjectCommand({
            Bucket: s3.bucket,
            Key: `rec/${y}/${m}/${d}/${sid}.json`,
            Body: JSON.stringify({
              id,
              sessionId: sid,
              status: "complete",
              header: { version: 2, width: 80, height: 24, timestamp: 1 },
              castBytes: 0,
              startedAt: 1,
              updatedAt: 1,
            }),
          }),
        );
      }
      const st = new S3Storage({
        client: s3.client,
        bucket: s3.bucket,
        prefix: "rec/",
      });
      assert.deepEqual(
        (await st.list()).map((m) => m.id).sort(),
        ["0999/01/01/early", "2026/11/27/late"],
      );
    } finally {
      await b.close();
    }
  } finally {
    await s3.close();
  }
});
