/**
 * Every key under a prefix of an S3 bucket, page by page (`ListObjectsV2`):
 * what the recordings' and the event streams' S3 stores list with. An
 * adapter: it uses the AWS SDK.
 *
 * @module
 */

import { ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";

/** One listed object. */
export interface S3Key {
  /** Its key. */
  key: string;
  /** Its size in bytes. */
  size: number;
  /** When it was last written, Unix ms (0 when the server did not say). */
  modified: number;
}

/**
 * Lists every key under a prefix.
 * @param s3 The client.
 * @param bucket The bucket.
 * @param prefix The prefix.
 * @returns The objects, in the server's (key) order.
 */
export async function listS3Keys(
  s3: S3Client,
  bucket: string,
  prefix: string,
): Promise<S3Key[]> {
  const out: S3Key[] = [];
  let token: string | undefined;
  do {
    const r = await s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix,
        ContinuationToken: token,
      }),
    );
    for (const o of r.Contents ?? []) {
      if (o.Key) {
        out.push({
          key: o.Key,
          size: o.Size ?? 0,
          modified: o.LastModified?.getTime() ?? 0,
        });
      }
    }
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return out;
}
