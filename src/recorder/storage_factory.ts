/**
 * Builds the configured storage backend (an adapter: it may create an AWS
 * client, which reads the standard AWS credential sources).
 *
 * @module
 */

import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import type { RecorderConfig } from "./config.ts";
import { DiskStorage } from "./disk_storage.ts";
import { S3Storage } from "./s3_storage.ts";
import type { RecordingStorage } from "./storage.ts";

/**
 * Creates the storage named by the configuration.
 * @param config The resolved configuration.
 * @param env Environment for the AWS region fallback. @default {{}}
 * @returns The storage (for S3, the bucket is created first when `createBucket`).
 * @throws When the bucket cannot be created.
 */
export async function createStorage(
  config: RecorderConfig,
  env: Record<string, string | undefined> = {},
): Promise<RecordingStorage> {
  const s = config.storage;
  const maxTextChars = config.limits.maxTextChars;
  if (s.kind === "disk") {
    await Deno.mkdir(s.dir, { recursive: true });
    return new DiskStorage({ dir: s.dir, fsync: s.fsync, maxTextChars });
  }
  const client = new S3Client({
    // 1,000 uploads at once each make a few requests at their start and end:
    // the SDK's default of 50 sockets queued them past the proxy's header
    // timeout.
    // s3rver answered 7 of ~6,000 requests under that load with a 500
    // "internal error" three times in a row (the SDK's default attempts).
    maxAttempts: 6,
    requestHandler: {
      httpAgent: { keepAlive: true, maxSockets: 512 },
      httpsAgent: { keepAlive: true, maxSockets: 512 },
    },
    region: s.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1",
    forcePathStyle: s.forcePathStyle,
    ...(s.endpoint ? { endpoint: s.endpoint } : {}),
    ...(s.accessKeyId && s.secretAccessKey
      ? {
        credentials: {
          accessKeyId: s.accessKeyId,
          secretAccessKey: s.secretAccessKey,
        },
      }
      : {}),
  });
  if (s.createBucket) {
    try {
      await client.send(new CreateBucketCommand({ Bucket: s.bucket }));
    } catch (e) {
      const name = (e as { name?: string }).name;
      if (
        name !== "BucketAlreadyOwnedByYou" && name !== "BucketAlreadyExists"
      ) {
        throw new Error(
          `Cannot create bucket ${JSON.stringify(s.bucket)}: ${
            (e as Error).message
          }`,
          { cause: e },
        );
      }
    }
  }
  const storage = new S3Storage({
    client,
    bucket: s.bucket,
    prefix: s.prefix,
    segmentBytes: s.segmentBytes,
    flushIntervalMs: s.flushIntervalMs,
    staleAfterMs: s.staleAfterMs,
    maxTextChars,
  });
  const close = storage.close.bind(storage);
  storage.close = async () => {
    await close();
    client.destroy();
  };
  return storage;
}
