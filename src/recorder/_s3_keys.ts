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
 * @param skip A folder under the prefix (ending in `/`) whose keys are
 *   left out without paging through them: at its first key the listing
 *   starts again after it (`StartAfter` with the `/` raised to `0`), one
 *   request. @default {none}
 * @returns The objects, in the server's (key) order.
 */
export async function listS3Keys(
  s3: S3Client,
  bucket: string,
  prefix: string,
  skip?: string,
): Promise<S3Key[]> {
  if (skip !== undefined && !skip.endsWith("/")) {
    throw new RangeError(
      `Cannot skip ${JSON.stringify(skip)} in a listing: it must end in /`,
    );
  }
  const out: S3Key[] = [];
  let token: string | undefined;
  let startAfter: string | undefined;
  for (;;) {
    const r = await s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix,
        ...(token ? { ContinuationToken: token } : {}),
        ...(!token && startAfter ? { StartAfter: startAfter } : {}),
      }),
    );
    let jumped = false;
    for (const o of r.Contents ?? []) {
      if (!o.Key) continue;
      if (skip !== undefined && o.Key.startsWith(skip)) {
        startAfter = skip.slice(0, -1) + "0";
        jumped = true;
        break;
      }
      out.push({
        key: o.Key,
        size: o.Size ?? 0,
        modified: o.LastModified?.getTime() ?? 0,
      });
    }
    if (jumped) token = undefined;
    else if (r.IsTruncated && r.NextContinuationToken) {
      token = r.NextContinuationToken;
    } else break;
  }
  return out;
}
