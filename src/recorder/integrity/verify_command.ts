/**
 * `execgate verify` and `execgate recorder keygen`: the Deno entry points
 * of tamper evidence (reading files, S3 and the environment; the checks are
 * `verify.ts`'s).
 *
 * ```
 * execgate verify RECORDING [--key PUB]... [--cast FILE]
 *   RECORDING: a disk storage path …/YYYY/MM/DD/<sid> (or its .json/.records),
 *              a bundle (…/bundle download, a tar),
 *              s3://bucket/[prefix/]YYYY/MM/DD/<sid> (S3 settings from the
 *              recorder's EXECGATE_RECORDER_S3_* variables and the AWS ones)
 * execgate recorder keygen --out PREFIX   writes PREFIX.key and PREFIX.pub
 * ```
 *
 * @module
 */

import { nodeSha256 } from "../serve.ts";
import { parseRecorderConfig } from "../config.ts";
import { createStorage } from "../storage_factory.ts";
import { parseRecordingId } from "../recording_id.ts";
import type { RecordingManifest } from "../storage.ts";
import { BUNDLE_ENTRIES, tarEntries } from "./bundle.ts";
import {
  generateSigningKey,
  type ManifestVerifier,
  verifierFromText,
} from "./signing_key.ts";
import { type VerifyInput, verifyRecording } from "./verify.ts";

/** What a command printed and its exit code. */
export interface CommandResult {
  /** The lines for stdout. */
  output: string;
  /** 0 verified, 1 a check failed or the recording cannot be read, 2 usage. */
  exitCode: number;
}

/**
 * Largest manifest read: a 4 GiB recording's chain is ~270 KB, its header at
 * most 512 KiB; anything far beyond is not a manifest the recorder wrote.
 */
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

const USAGE =
  "Usage: execgate verify RECORDING [--key PUBLIC_KEY_FILE]... [--cast CAST_FILE]";

function parseManifest(text: string, where: string): RecordingManifest {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(
      `Cannot read the manifest ${where}: it is not valid JSON (${
        (e as Error).message
      }): it was changed`,
    );
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new Error(`Cannot read the manifest ${where}: it is not an object`);
  }
  return v as RecordingManifest;
}

async function fileStream(
  path: string,
  offset = 0,
  length?: number,
): Promise<ReadableStream<Uint8Array>> {
  const f = await Deno.open(path, { read: true });
  if (offset > 0) await f.seek(offset, Deno.SeekMode.Start);
  if (length === undefined) return f.readable;
  let left = length;
  return f.readable.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (left <= 0) return;
        const c = chunk.length > left ? chunk.subarray(0, left) : chunk;
        left -= c.length;
        controller.enqueue(c);
        if (left === 0) controller.terminate();
      },
    }),
  );
}

async function isTar(path: string): Promise<boolean> {
  const f = await Deno.open(path, { read: true });
  try {
    const b = new Uint8Array(263);
    let n = 0;
    while (n < b.length) {
      const r = await f.read(b.subarray(n));
      if (r === null) break;
      n += r;
    }
    return n === 263 &&
      new TextDecoder().decode(b.subarray(257, 262)) === "ustar";
  } finally {
    f.close();
  }
}

type Source = Omit<VerifyInput, "keys" | "digest">;

/** The `version` of a cast file's header line (3, else 2). */
async function castVersionOf(path: string): Promise<2 | 3> {
  const f = await Deno.open(path, { read: true });
  try {
    const b = new Uint8Array(1024 * 1024);
    let n = 0;
    while (n < b.length) {
      const r = await f.read(b.subarray(n));
      if (r === null) break;
      n += r;
      if (b.subarray(0, n).includes(0x0a)) break;
    }
    const line = b.subarray(0, n);
    const nl = line.indexOf(0x0a);
    try {
      const h = JSON.parse(
        new TextDecoder().decode(nl < 0 ? line : line.subarray(0, nl)),
      );
      return h?.version === 3 ? 3 : 2;
    } catch {
      return 2; // compared as v2: the difference is reported at its byte
    }
  } finally {
    f.close();
  }
}

async function fromBundle(path: string): Promise<Source> {
  const f = await Deno.open(path, { read: true });
  let entries;
  try {
    entries = await tarEntries(async (offset, length) => {
      await f.seek(offset, Deno.SeekMode.Start);
      const b = new Uint8Array(length);
      let n = 0;
      while (n < length) {
        const r = await f.read(b.subarray(n));
        if (r === null) break;
        n += r;
      }
      return b.subarray(0, n);
    });
  } finally {
    f.close();
  }
  const known: string[] = Object.values(BUNDLE_ENTRIES);
  const stranger = entries.find((e) => !known.includes(e.name));
  if (stranger) {
    throw new Error(
      `Cannot read bundle ${path}: it holds ${
        JSON.stringify(stranger.name)
      }, which a bundle never does (only ${known.join(", ")})`,
    );
  }
  const get = (name: string) => {
    const e = entries.find((x) => x.name === name);
    if (!e) throw new Error(`Cannot read bundle ${path}: it has no ${name}`);
    return e;
  };
  const man = get(BUNDLE_ENTRIES.manifest);
  if (man.size > MAX_MANIFEST_BYTES) {
    throw new Error(`Cannot read bundle ${path}: its manifest is too large`);
  }
  const text = await new Response(
    await fileStream(path, man.offset, man.size),
  ).text();
  const ev = get(BUNDLE_ENTRIES.evidence);
  const cast = entries.find((x) => x.name === BUNDLE_ENTRIES.cast);
  return {
    manifest: parseManifest(text, `in ${path}`),
    openEvidence: () => fileStream(path, ev.offset, ev.size),
    ...(cast
      ? { openCast: () => fileStream(path, cast.offset, cast.size) }
      : {}),
  };
}

async function fromDisk(path: string): Promise<Source> {
  const base = path.replace(/\.(json|records|txt|cast)$/, "");
  const json = `${base}.json`;
  let text: string;
  try {
    const size = (await Deno.stat(json)).size;
    if (size > MAX_MANIFEST_BYTES) {
      throw new Error(
        `it is ${size} bytes, more than a manifest can be (${MAX_MANIFEST_BYTES})`,
      );
    }
    text = await Deno.readTextFile(json);
  } catch (e) {
    throw new Error(`Cannot read ${json}: ${(e as Error).message}`);
  }
  const manifest = parseManifest(text, json);
  const ev = manifest.format === "records" ? `${base}.records` : `${base}.cast`;
  return {
    manifest,
    openEvidence: async () => {
      try {
        return await fileStream(ev);
      } catch (e) {
        throw new Error(`Cannot read ${ev}: ${(e as Error).message}`);
      }
    },
  };
}

async function fromS3(
  url: string,
  env: Record<string, string>,
): Promise<Source & { close: () => Promise<void> }> {
  const m = url.match(/^s3:\/\/([^/]+)\/(.*)$/);
  const parts = (m?.[2] ?? "").replace(/\.(json|records)$/, "").split("/");
  const id = parseRecordingId(parts.slice(-4).join("/"));
  if (!m || !id) {
    throw new Error(
      `Cannot read ${url}: expected s3://bucket/[prefix/]YYYY/MM/DD/<session id>`,
    );
  }
  const prefix = parts.slice(0, -4).map((p) => p + "/").join("");
  const e = { ...env };
  delete e.EXECGATE_RECORDER_S3_BUCKET;
  delete e.EXECGATE_RECORDER_S3_PREFIX;
  delete e.EXECGATE_RECORDER_STORAGE;
  delete e.EXECGATE_RECORDER_S3_CREATE_BUCKET;
  const config = parseRecorderConfig(
    {
      storage: {
        kind: "s3",
        bucket: m[1],
        prefix,
        // The SDK reads process.env itself; the environment given wins.
        ...(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
          ? {
            accessKeyId: env.AWS_ACCESS_KEY_ID,
            secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
          }
          : {}),
      },
    },
    e,
  );
  const storage = await createStorage(config, e);
  const manifest = await storage.get(id);
  if (!manifest) {
    await storage.close();
    throw new Error(`Cannot read ${url}: there is no manifest`);
  }
  return {
    manifest,
    openEvidence: async () => {
      const s = await storage.openStored(id);
      if (!s) throw new Error(`Cannot read ${url}: there is no evidence`);
      return s;
    },
    close: () => storage.close(),
  };
}

function flagValues(args: string[], name: string): [string[], string[]] {
  const values: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === name) {
      const v = args[++i];
      if (v === undefined) throw new RangeError(`${name} needs a value`);
      values.push(v);
    } else if (a.startsWith(name + "=")) values.push(a.slice(name.length + 1));
    else rest.push(a);
  }
  return [values, rest];
}

/**
 * Runs `execgate verify`.
 * @param args The arguments after `verify`.
 * @param env The environment (S3 settings).
 * @returns What to print and the exit code.
 */
export async function runVerify(
  args: string[],
  env: Record<string, string> = {},
): Promise<CommandResult> {
  let keyFiles: string[], castFiles: string[], rest: string[];
  try {
    [keyFiles, rest] = flagValues(args, "--key");
    [castFiles, rest] = flagValues(rest, "--cast");
  } catch (e) {
    return { output: `${(e as Error).message}\n${USAGE}`, exitCode: 2 };
  }
  if (rest.length !== 1 || rest[0]!.startsWith("-") || castFiles.length > 1) {
    return { output: USAGE, exitCode: 2 };
  }
  const target = rest[0]!;
  const out: string[] = [];
  let close: (() => Promise<void>) | undefined;
  try {
    const keys: ManifestVerifier[] = [];
    for (const k of keyFiles) {
      let text: string;
      try {
        text = await Deno.readTextFile(k);
      } catch (e) {
        throw new Error(`Cannot read key ${k}: ${(e as Error).message}`);
      }
      keys.push(await verifierFromText(text, `key ${k}`));
    }
    let source: Source;
    if (target.startsWith("s3://")) {
      const s = await fromS3(target, env);
      close = s.close;
      source = s;
    } else if (
      await Deno.stat(target).then((s) => s.isFile, () => false) &&
      await isTar(target)
    ) {
      source = await fromBundle(target);
    } else source = await fromDisk(target);
    if (castFiles[0]) {
      const file = castFiles[0];
      source = {
        ...source,
        openCast: () => fileStream(file),
        castVersion: await castVersionOf(file),
      };
    }
    const report = await verifyRecording({
      ...source,
      keys,
      digest: nodeSha256,
    });
    out.push(
      `${target}: recording ${source.manifest.id} (${source.manifest.status})`,
    );
    for (const l of report.lines) {
      out.push(`${l.level.toUpperCase()} ${l.message}`);
    }
    out.push(report.ok ? "verified" : "FAILED");
    return { output: out.join("\n"), exitCode: report.ok ? 0 : 1 };
  } catch (e) {
    out.push(`FAIL ${(e as Error).message}`, "FAILED");
    return { output: out.join("\n"), exitCode: 1 };
  } finally {
    await close?.().catch(() => {});
  }
}

/**
 * Runs `execgate recorder keygen --out PREFIX`: writes the private key to
 * `PREFIX.key` (mode 0600, the recorder's `signing.privateKeyFile`) and the
 * public key to `PREFIX.pub` (for `execgate verify --key`).
 * @param args The arguments after `keygen`.
 * @returns What to print and the exit code.
 */
export async function runKeygen(args: string[]): Promise<CommandResult> {
  const [outs, rest] = flagValues(args, "--out");
  if (outs.length !== 1 || rest.length > 0) {
    return {
      output: "Usage: execgate recorder keygen --out PREFIX",
      exitCode: 2,
    };
  }
  const prefix = outs[0]!;
  const k = await generateSigningKey();
  await Deno.writeTextFile(`${prefix}.key`, k.privatePem, {
    mode: 0o600,
    createNew: true,
  });
  await Deno.writeTextFile(`${prefix}.pub`, k.publicPem, { createNew: true });
  return {
    output:
      `key ${k.keyId}: private key ${prefix}.key (signing.privateKeyFile), public key ${prefix}.pub (execgate verify --key)`,
    exitCode: 0,
  };
}
