/**
 * Test helpers of the recorder: an in-process S3 server, storages to run
 * one suite against, an upload body builder and an upload client that reads
 * the ack stream.
 *
 * @module
 */

import S3rver from "s3rver";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import {
  type Ack,
  type CastHeader,
  SESSION_HEADER,
  type SessionEnd,
} from "../recording/wire.ts";
import {
  encodeRecord,
  RecordDecoder,
  RECORDS_CONTENT_TYPE,
  RECORDS_UPLOAD_PATH,
  RecordType,
} from "../protocol/records.ts";
import { Sha256 } from "../recording/sha256.ts";
import { concatBytes } from "../bytes.ts";
import { CastView } from "./views/cast_view.ts";
import { DiskStorage } from "./disk_storage.ts";
import { S3Storage } from "./s3_storage.ts";
import type { RecordingStorage } from "./storage.ts";

/** An in-process S3 server (s3rver) with one bucket. */
export interface TestS3 {
  endpoint: string;
  bucket: string;
  client: S3Client;
  close(): Promise<void>;
}

/**
 * Starts s3rver on 127.0.0.1, port 0, in a temp folder, with a bucket.
 * @param bucket Bucket name (≥ 3 characters).
 * @returns The server and a client.
 */
export async function startS3(bucket = "recordings"): Promise<TestS3> {
  const dir = await Deno.makeTempDir({ prefix: "execgate-s3-" });
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    directory: dir,
    silent: true,
  });
  const addr = await server.run() as unknown as { port: number };
  return await withBucket(addr.port, bucket, async () => {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  });
}

/** Creates the bucket on a running s3rver and wraps it as a {@linkcode TestS3}. */
async function withBucket(
  port: number,
  bucket: string,
  stop: () => Promise<void>,
): Promise<TestS3> {
  const endpoint = `http://127.0.0.1:${port}`;
  const client = s3Client(endpoint);
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    endpoint,
    bucket,
    client,
    async close() {
      client.destroy();
      await stop();
    },
  };
}

/**
 * The recorder's `storage` config for a test bucket on s3rver.
 * @param s3 The server.
 * @param prefix Key prefix. @default {"rec/"}
 * @returns The `storage` section.
 */
export function s3StorageConfig(s3: TestS3, prefix = "rec/") {
  return {
    kind: "s3" as const,
    bucket: s3.bucket,
    prefix,
    endpoint: s3.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    accessKeyId: "S3RVER",
    secretAccessKey: "S3RVER",
  };
}

/**
 * A client for s3rver.
 * @param endpoint `http://127.0.0.1:PORT`.
 * @returns The client.
 */
export function s3Client(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
  });
}

/** A place recordings can be stored, re-openable like after a restart. */
export interface StorageFixture {
  name: string;
  /** Opens a (new) storage instance on the same place. */
  open(opts?: { now?: () => number }): RecordingStorage;
  close(): Promise<void>;
}

/** Fixture makers for the storage suite: disk and s3. */
export const STORAGE_KINDS: {
  name: string;
  make(): Promise<StorageFixture>;
}[] = [
  {
    name: "disk",
    async make() {
      const dir = await Deno.makeTempDir({ prefix: "execgate-rec-" });
      return {
        name: "disk",
        open: (o) =>
          new DiskStorage({ dir, ...(o?.now ? { now: o.now } : {}) }),
        close: () => Deno.remove(dir, { recursive: true }),
      };
    },
  },
  {
    name: "s3",
    async make() {
      const s3 = await startS3();
      return {
        name: "s3",
        open: (o) =>
          new S3Storage({
            client: s3.client,
            bucket: s3.bucket,
            prefix: "rec/",
            segmentBytes: 5 * 1024 * 1024,
            flushIntervalMs: 100,
            staleAfterMs: 60_000,
            ...(o?.now ? { now: o.now } : {}),
          }),
        close: () => s3.close(),
      };
    },
  },
];

/**
 * A cast header as the proxy writes it.
 * @param sessionId Session id.
 * @param over Fields to override.
 * @returns The header.
 */
export function testHeader(
  sessionId: string,
  over: Partial<CastHeader> = {},
): CastHeader {
  return {
    version: 2,
    width: 80,
    height: 24,
    timestamp: 1_790_000_000,
    command: "sh -c 'echo hello'",
    argv: ["sh", "-c", "echo hello"],
    tty: false,
    srcNode: "laptop",
    srcNodeID: "n1",
    srcNodeUser: "alice@example.com",
    srcNodeUserID: "u1",
    kubernetes: {
      podName: "web-0",
      namespace: "default",
      container: "main",
      sessionType: "exec",
    },
    proxy: "proxy-1",
    sessionId,
    protocol: "v5.channel.k8s.io",
    ...over,
  };
}

/**
 * Builds an upload body (a record stream) from cast-like events: `"o"` →
 * stdout bytes, `"r"` `WxH` → a resize `{"Width":W,"Height":H}`, `"m"` → a
 * marker; times in seconds.
 * @param header The header (the header record's JSON).
 * @param events Event tuples.
 * @param end End fields to override, or `false` for no end record.
 * @returns The body, its records before the end record, and the cast the
 * recorder derives from it.
 */
export function testBody(
  header: CastHeader | Record<string, unknown>,
  events: [number, string, string][],
  end: Partial<SessionEnd> | false = {},
): { body: Uint8Array; beforeEnd: Uint8Array; cast: string } {
  const enc = new TextEncoder();
  const parts = [
    encodeRecord(RecordType.HEADER, 0, enc.encode(JSON.stringify(header))),
  ];
  const stdout = new Sha256();
  let stdoutBytes = 0;
  for (const [t, code, data] of events) {
    const us = Math.round(t * 1e6);
    if (code === "o") {
      const bytes = enc.encode(data);
      stdout.update(bytes);
      stdoutBytes += bytes.length;
      parts.push(encodeRecord(RecordType.STDOUT, us, bytes));
    } else if (code === "r") {
      const [w, h] = data.split("x").map(Number);
      parts.push(
        encodeRecord(
          RecordType.RESIZE,
          us,
          enc.encode(JSON.stringify({ Width: w, Height: h })),
        ),
      );
    } else parts.push(encodeRecord(RecordType.MARKER, us, enc.encode(data)));
  }
  const beforeEnd = concatBytes(parts);
  if (end !== false) {
    const manifest: SessionEnd = {
      sessionId: String((header as CastHeader).sessionId),
      endTime: 1_790_000_010,
      reason: "normal",
      exitCode: 0,
      channels: {
        stdout: { bytes: stdoutBytes, sha256: stdout.hex() },
        stderr: { bytes: 0, sha256: new Sha256().hex() },
      },
      castBytes: beforeEnd.length,
      ...end,
    };
    parts.push(
      encodeRecord(
        RecordType.END,
        Math.round((events.at(-1)?.[0] ?? 0) * 1e6),
        enc.encode(JSON.stringify(manifest)),
      ),
    );
  }
  const body = concatBytes(parts);
  const view = new CastView();
  let cast = "";
  for (const r of new RecordDecoder().push(body)) cast += view.push(r);
  return { body, beforeEnd, cast };
}

/** What an upload got back. */
export interface UploadResult {
  status: number;
  acks: Ack[];
  /** The body of a non-200 answer. */
  error?: string;
}

/**
 * Uploads a record stream to `RECORDS_UPLOAD_PATH` and reads every ack line
 * until the stream ends.
 * @param baseUrl Recorder URL.
 * @param token Bearer token, or `undefined` for none.
 * @param sessionId Session id header, or `undefined` to omit it.
 * @param body The body.
 * @param init Extra fetch options (e.g. an `AbortSignal`, a TLS client).
 * @returns Status and acks.
 */
export async function upload(
  baseUrl: string,
  token: string | undefined,
  sessionId: string | undefined,
  body: Uint8Array | ReadableStream<Uint8Array>,
  init: RequestInit & { client?: Deno.HttpClient } = {},
): Promise<UploadResult> {
  const headers: Record<string, string> = {
    "content-type": RECORDS_CONTENT_TYPE,
  };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (sessionId !== undefined) headers[SESSION_HEADER] = sessionId;
  const res = await fetch(baseUrl + RECORDS_UPLOAD_PATH, {
    method: "POST",
    headers,
    body,
    ...(body instanceof Uint8Array ? {} : { duplex: "half" }),
    ...init,
  } as RequestInit);
  if (res.status !== 200) {
    return { status: res.status, acks: [], error: await res.text() };
  }
  const acks: Ack[] = [];
  for await (const line of linesOf(res.body!)) acks.push(JSON.parse(line));
  return { status: res.status, acks };
}

/**
 * Splits a byte stream into text lines.
 * @param stream The stream.
 * @yields Each line without its newline.
 */
export async function* linesOf(
  stream: ReadableStream<Uint8Array>,
): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    let nl;
    while ((nl = rest.indexOf("\n")) !== -1) {
      yield rest.slice(0, nl);
      rest = rest.slice(nl + 1);
    }
  }
  if (rest) yield rest;
}

/**
 * Lists every recording file under a folder (relative paths): the SQLite
 * index beside them (`index.sqlite*` at the top) is not a recording's.
 * @param dir The folder.
 * @returns The paths, sorted.
 */
export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string, rel: string) {
    for await (const e of Deno.readDir(d)) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) await walk(`${d}/${e.name}`, p);
      else if (!(rel === "" && e.name.startsWith("index.sqlite"))) out.push(p);
    }
  }
  await walk(dir, "");
  return out.sort();
}

/**
 * Starts s3rver in a child process (its CLI), so that a test measuring its
 * own memory does not count the S3 server's.
 * @param bucket Bucket to create.
 * @returns The endpoint, a client, and `close()`.
 */
export async function startS3Process(bucket = "recordings"): Promise<TestS3> {
  const dir = await Deno.makeTempDir({ prefix: "execgate-s3p-" });
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "npm:s3rver@3",
      "-a",
      "127.0.0.1",
      "-p",
      String(port),
      "-d",
      dir,
      "--silent",
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  // Wait until it accepts connections (an event, not a delay: each failed
  // attempt is an immediate "connection refused").
  for (let i = 0;; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch (e) {
      if (i > 2000) throw e;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  return await withBucket(port, bucket, async () => {
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(dir, { recursive: true });
  });
}
