/**
 * The recorder's configuration, parsed once at start with every default
 * filled in. Impossible values are refused with the field's path.
 *
 * @module
 */

import { z } from "zod";
import {
  MAX_EVENT_LINE_BYTES,
  MAX_HEADER_LINE_BYTES,
  MAX_MANIFEST_LINE_BYTES,
} from "../recording/wire.ts";
import { parseHujsonFile } from "../config/hujson_file.ts";

const MiB = 1024 * 1024;
const KiB = 1024;

/**
 * Smallest `limits.maxLineBytes`: the longest event or manifest line a proxy
 * writes (`../recording/wire.ts`), so that no client output can make the
 * recorder refuse a line.
 */
export const MIN_LINE_BYTES: number = Math.max(
  MAX_EVENT_LINE_BYTES,
  MAX_MANIFEST_LINE_BYTES,
);

/**
 * Smallest `limits.maxHeaderBytes`: the longest header a proxy writes for a
 * request head of at most 16 KiB.
 */
export const MIN_HEADER_BYTES: number = MAX_HEADER_LINE_BYTES;

/** Disk storage, resolved. */
export interface DiskStorageConfig {
  /** `"disk"`. */
  kind: "disk";
  /** Root folder of the recordings. @default {"./recordings"} */
  dir: string;
  /** `fdatasync` on every ack and at the end. @default {false} */
  fsync: boolean;
}

/** S3-compatible storage, resolved. */
export interface S3StorageConfig {
  /** `"s3"`. */
  kind: "s3";
  /** The bucket. */
  bucket: string;
  /** Key prefix: empty, or ending with `/`. @default {""} */
  prefix: string;
  /** Custom endpoint (MinIO, s3rver…); AWS when absent. */
  endpoint?: string;
  /** Region; falls back to `AWS_REGION`, then `us-east-1`. */
  region?: string;
  /** Path-style URLs (most non-AWS servers). @default {false} */
  forcePathStyle: boolean;
  /** Static credentials; the standard AWS sources (env, profile, IMDS…) when absent. */
  accessKeyId?: string;
  /** Goes with `accessKeyId`. */
  secretAccessKey?: string;
  /** Live segment size and part size of the final join. @default {8 MiB} */
  segmentBytes: number;
  /** How often a live recording's buffered bytes are flushed. @default {5000} */
  flushIntervalMs: number;
  /** A live recording not refreshed for this long is swept as partial. @default {600000} */
  staleAfterMs: number;
  /** Create the bucket at start when missing. @default {false} */
  createBucket: boolean;
}

/** The resolved recorder configuration: every default filled in. */
export interface RecorderConfig {
  /** Where it listens. */
  listen: {
    /** Address. @default {"0.0.0.0"} */
    hostname: string;
    /** Port (0: any free port). @default {8443} */
    port: number;
  };
  /** Certificate and key (PEM files): HTTPS; plain HTTP when absent. */
  tls?: { certFile: string; keyFile: string };
  /** Who may do what. */
  auth: {
    /** Bearer tokens that may upload (≥ 16 characters). @default {[]} */
    uploaderTokens: string[];
    /** Tokens that may list, download and use the UI. @default {[]} */
    viewerTokens: string[];
    /** Viewers who may also end a live session (named in the recording). @default {[]} */
    moderators: { name: string; token: string }[];
  };
  /** Where recordings are stored. @default {{kind: "disk"}} */
  storage: DiskStorageConfig | S3StorageConfig;
  /** Size limits of an upload. */
  limits: {
    /** Longest line (v1) or record payload. @default {1 MiB} */
    maxLineBytes: number;
    /** Longest header. @default {512 KiB} */
    maxHeaderBytes: number;
    /** Largest recording. @default {4 GiB} */
    maxRecordingBytes: number;
    /** Characters of a recording's text kept for search. @default {8 Mi} */
    maxTextChars: number;
  };
  /** Longest time between two acknowledgements while idle. @default {1000} */
  ackIntervalMs: number;
  /**
   * Where the searchable index lives. Default: a SQLite file
   * `<storage.dir>/index.sqlite` for disk storage; for S3, `scan` unless a
   * shared `postgres` index is configured.
   */
  index?:
    | { kind: "sqlite"; file?: string }
    | { kind: "postgres"; url: string }
    | { kind: "scan" };
  /** Deletes recordings (storage and index) older than `days`; off by default. */
  retention: {
    /** Age in days past which a finished recording is deleted. */
    days?: number;
    /** How often the deletion runs. @default {3600000} */
    intervalMs: number;
  };
  /** Tamper evidence: the Ed25519 key that signs every final manifest. */
  signing?: { privateKeyFile: string };
  /** Who may read `GET /metrics` besides viewers. */
  metrics: {
    /** Bearer tokens that open `/metrics` and nothing else. @default {[]} */
    tokens: string[];
  };
  /** The web UI. */
  ui: {
    /** Serve it. @default {true} */
    enabled: boolean;
    /** Its title. @default {"execgate recordings"} */
    title: string;
  };
  /** API events (`POST /v2/events`). */
  events: {
    /**
     * The folder the event streams are stored in. Default:
     * `<storage.dir>/events` with disk storage; with S3 storage, the
     * bucket (`<prefix>events/`, segments flushed like a live recording's)
     * unless this names a local folder.
     */
    dir?: string;
    /**
     * Size bound of one stored events stream, in bytes: past it the
     * recorder ends the stream (acknowledging every event it stored) and
     * the proxy goes on, without losing an event, on a new one; so old
     * streams close and retention can delete them. At least 4096.
     * @default {67108864}
     */
    maxStreamBytes: number;
    /**
     * Age bound of one events stream, ms: past it the recorder ends the
     * stream the same way at its next keepalive, so a quiet proxy's stream
     * closes too (retention never deletes an open one). At least 1000.
     * @default {3600000}
     */
    maxStreamAgeMs: number;
  };
  /** Other recorders holding parts of failed-over sessions. @default {[]} */
  peers: { url: string; token: string; caFile?: string }[];
}

const diskStorage = z.object({
  kind: z.literal("disk"),
  /** Root folder of the recordings. */
  dir: z.string().min(1).default("./recordings"),
  /** `fdatasync` on every ack and at the end. */
  fsync: z.boolean().default(false),
}).strict();

const s3Storage = z.object({
  kind: z.literal("s3"),
  bucket: z.string().min(3),
  prefix: z.string().default("").refine(
    (p) =>
      p === "" ||
      (p.endsWith("/") && !p.startsWith("/") && !p.split("/").includes("..")),
    "prefix must be empty or end with '/', not start with '/' and contain no '..'",
  ),
  /** Custom endpoint (MinIO, s3rver…); AWS when absent. */
  endpoint: z.string().url().optional(),
  /** Region; falls back to `AWS_REGION`, then `us-east-1`. */
  region: z.string().min(1).optional(),
  forcePathStyle: z.boolean().default(false),
  /** Static credentials; the standard AWS sources (env, profile, IMDS…) when absent. */
  accessKeyId: z.string().min(1).optional(),
  secretAccessKey: z.string().min(1).optional(),
  /** Live segment size and part size of the final join. */
  segmentBytes: z.number().int().min(5 * MiB).max(512 * MiB).default(8 * MiB),
  flushIntervalMs: z.number().int().min(100).max(600_000).default(5000),
  staleAfterMs: z.number().int().min(1000).default(600_000),
  /** Create the bucket at start when missing. */
  createBucket: z.boolean().default(false),
}).strict();

/** The zod schema of {@linkcode RecorderConfig}. */
export const recorderConfigSchema: z.ZodType<
  RecorderConfig,
  z.ZodTypeDef,
  unknown
> = z.object({
  listen: z.object({
    hostname: z.string().min(1).default("0.0.0.0"),
    port: z.number().int().min(0).max(65535).default(8443),
  }).strict().default({}),
  tls: z.object({
    certFile: z.string().min(1),
    keyFile: z.string().min(1),
  }).strict().optional(),
  auth: z.object({
    uploaderTokens: z.array(
      z.string().min(16, "tokens need at least 16 characters"),
    ).default([]),
    viewerTokens: z.array(
      z.string().min(16, "tokens need at least 16 characters"),
    ).default([]),
    /** Viewers who may also end a live session (named in the recording). */
    moderators: z.array(
      z.object({
        name: z.string().min(1).max(100),
        token: z.string().min(16, "tokens need at least 16 characters"),
      }).strict(),
    ).default([]),
  }).strict().default({}).refine(
    (a) => !a.uploaderTokens.some((t) => a.viewerTokens.includes(t)),
    {
      message: "a token cannot be both an uploader and a viewer token",
      path: ["viewerTokens"],
    },
  ).refine(
    (a) =>
      !a.moderators.some((m) =>
        a.uploaderTokens.includes(m.token) || a.viewerTokens.includes(m.token)
      ) &&
      new Set(a.moderators.map((m) => m.token)).size === a.moderators.length,
    {
      message:
        "a moderator token must be its own: not an uploader's, a viewer's or another moderator's",
      path: ["moderators"],
    },
  ),
  storage: z.discriminatedUnion("kind", [diskStorage, s3Storage])
    .default({ kind: "disk" })
    .refine(
      (s) =>
        s.kind !== "s3" ||
        (s.accessKeyId === undefined) === (s.secretAccessKey === undefined),
      {
        message: "accessKeyId and secretAccessKey go together",
        path: ["accessKeyId"],
      },
    ),
  limits: z.object({
    maxLineBytes: z.number().int().min(
      MIN_LINE_BYTES,
      `must be at least ${MIN_LINE_BYTES} bytes: the longest event or manifest line a proxy writes`,
    ).default(1 * MiB),
    maxHeaderBytes: z.number().int().min(
      MIN_HEADER_BYTES,
      `must be at least ${MIN_HEADER_BYTES} bytes: the longest header a proxy writes`,
    ).default(512 * KiB),
    maxRecordingBytes: z.number().int().min(1024).default(4 * 1024 * MiB),
    maxTextChars: z.number().int().min(0).default(8 * MiB),
  }).strict().default({})
    .refine((l) => l.maxLineBytes >= l.maxHeaderBytes, {
      message: "must be at least limits.maxHeaderBytes (the header is a line)",
      path: ["maxLineBytes"],
    })
    .refine((l) => l.maxRecordingBytes >= l.maxLineBytes, {
      message: "must be at least limits.maxLineBytes",
      path: ["maxRecordingBytes"],
    }),
  ackIntervalMs: z.number().int().min(10).max(60_000).default(1000),
  /**
   * Where the searchable index lives. Default: a SQLite file
   * `<storage.dir>/index.sqlite` for disk storage; for S3, `scan` (every
   * query lists the bucket, so replicas see one another) unless a shared
   * `postgres` index is configured.
   */
  index: z.discriminatedUnion("kind", [
    z.object({
      kind: z.literal("sqlite"),
      /** The file; `:memory:` rebuilds the index at every start. */
      file: z.string().min(1).optional(),
    }).strict(),
    z.object({
      kind: z.literal("postgres"),
      /** `postgres://user:password@host:port/database`. */
      url: z.string().regex(
        /^postgres(ql)?:\/\//,
        "must be a postgres:// URL",
      ),
    }).strict(),
    z.object({ kind: z.literal("scan") }).strict(),
  ]).optional(),
  /** Deletes recordings (storage and index) older than `days`; off by default. */
  retention: z.object({
    days: z.number().positive().optional(),
    /** How often the deletion runs. */
    intervalMs: z.number().int().min(1000).default(3_600_000),
  }).strict().default({}),
  /**
   * Tamper evidence: the Ed25519 private key (PKCS #8 PEM or JWK) that signs
   * every final manifest (`integrity/`, `execgate recorder keygen`). Without
   * it manifests carry the evidence's hash chain only.
   */
  signing: z.object({
    privateKeyFile: z.string().min(1),
  }).strict().optional(),
  /**
   * `GET /metrics` (Prometheus text) answers a viewer credential or one of
   * these bearer tokens, which open nothing else.
   */
  metrics: z.object({
    tokens: z.array(
      z.string().min(16, "tokens need at least 16 characters"),
    ).default([]),
  }).strict().default({}),
  ui: z.object({
    enabled: z.boolean().default(true),
    title: z.string().default("execgate recordings"),
  }).strict().default({}),
  /**
   * The other recorders of the grants' lists, when they do not share this
   * one's storage: a session that failed over between them is joined from
   * their parts (`peer_parts.ts`). Each with one of its viewer tokens and,
   * for https with a private CA, the CA's PEM file.
   */
  events: z.object({
    dir: z.string().min(1).optional(),
    maxStreamBytes: z.number().int().min(4096).default(64 * 1024 * 1024),
    maxStreamAgeMs: z.number().int().min(1000).default(3_600_000),
  }).strict().default({}),
  peers: z.array(
    z.object({
      url: z.string().url().refine(
        (u) => /^https?:\/\//.test(u),
        "a peer URL is http:// or https://",
      ),
      token: z.string().min(16, "tokens need at least 16 characters"),
      caFile: z.string().min(1).optional(),
    }).strict(),
  ).default([]),
}).strict();

/** Where the index lives, defaults applied. */
export type IndexConfig =
  | { kind: "sqlite"; file: string }
  | { kind: "postgres"; url: string }
  | { kind: "scan" };

/**
 * The index a configuration asks for, with the defaults: a SQLite file
 * beside disk storage, `scan` for S3.
 * @param config The resolved configuration.
 * @returns The index settings.
 * @example
 * ```ts
 * import { parseRecorderConfig, resolveIndexConfig } from "./config.ts";
 * const c = parseRecorderConfig({ storage: { kind: "disk", dir: "/rec" } });
 * const i = resolveIndexConfig(c);
 * if (i.kind !== "sqlite" || i.file !== "/rec/index.sqlite") throw new Error();
 * ```
 */
export function resolveIndexConfig(config: RecorderConfig): IndexConfig {
  const i = config.index;
  const s = config.storage;
  if (i?.kind === "postgres" || i?.kind === "scan") return i;
  if (i?.kind === "sqlite" && i.file) return { kind: "sqlite", file: i.file };
  if (s.kind === "disk") {
    return {
      kind: "sqlite",
      file: `${s.dir.replace(/\/+$/, "")}/index.sqlite`,
    };
  }
  return i?.kind === "sqlite"
    ? { kind: "sqlite", file: ":memory:" }
    : { kind: "scan" };
}

/** Environment variables read by {@linkcode parseRecorderConfig}, and the field each sets. */
export const RECORDER_ENV: Record<string, string> = {
  EXECGATE_RECORDER_HOSTNAME: "listen.hostname",
  EXECGATE_RECORDER_PORT: "listen.port",
  EXECGATE_RECORDER_TLS_CERT_FILE: "tls.certFile",
  EXECGATE_RECORDER_TLS_KEY_FILE: "tls.keyFile",
  EXECGATE_RECORDER_UPLOADER_TOKENS: "auth.uploaderTokens",
  EXECGATE_RECORDER_VIEWER_TOKENS: "auth.viewerTokens",
  EXECGATE_RECORDER_STORAGE: "storage.kind",
  EXECGATE_RECORDER_DIR: "storage.dir",
  EXECGATE_RECORDER_FSYNC: "storage.fsync",
  EXECGATE_RECORDER_S3_BUCKET: "storage.bucket",
  EXECGATE_RECORDER_S3_PREFIX: "storage.prefix",
  EXECGATE_RECORDER_S3_ENDPOINT: "storage.endpoint",
  EXECGATE_RECORDER_S3_REGION: "storage.region",
  EXECGATE_RECORDER_S3_FORCE_PATH_STYLE: "storage.forcePathStyle",
  EXECGATE_RECORDER_S3_CREATE_BUCKET: "storage.createBucket",
  EXECGATE_RECORDER_MAX_LINE_BYTES: "limits.maxLineBytes",
  EXECGATE_RECORDER_MAX_HEADER_BYTES: "limits.maxHeaderBytes",
  EXECGATE_RECORDER_MAX_RECORDING_BYTES: "limits.maxRecordingBytes",
  EXECGATE_RECORDER_ACK_INTERVAL_MS: "ackIntervalMs",
  EXECGATE_RECORDER_INDEX: "index.kind",
  EXECGATE_RECORDER_INDEX_FILE: "index.file",
  EXECGATE_RECORDER_INDEX_URL: "index.url",
  EXECGATE_RECORDER_RETENTION_DAYS: "retention.days",
  EXECGATE_RECORDER_SIGNING_KEY_FILE: "signing.privateKeyFile",
  EXECGATE_RECORDER_EVENTS_DIR: "events.dir",
  EXECGATE_RECORDER_EVENTS_MAX_STREAM_BYTES: "events.maxStreamBytes",
  EXECGATE_RECORDER_EVENTS_MAX_STREAM_AGE_MS: "events.maxStreamAgeMs",
};

const LISTS = new Set(["auth.uploaderTokens", "auth.viewerTokens"]);
const NUMBERS = new Set([
  "listen.port",
  "limits.maxLineBytes",
  "limits.maxHeaderBytes",
  "limits.maxRecordingBytes",
  "ackIntervalMs",
  "retention.days",
  "events.maxStreamBytes",
  "events.maxStreamAgeMs",
]);
const BOOLEANS = new Set([
  "storage.fsync",
  "storage.forcePathStyle",
  "storage.createBucket",
]);

function setPath(obj: Record<string, unknown>, path: string, value: unknown) {
  const keys = path.split(".");
  let cur = obj;
  for (const k of keys.slice(0, -1)) {
    const next = cur[k];
    if (typeof next !== "object" || next === null) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]!] = value;
}

/**
 * The raw object overlaid with `EXECGATE_RECORDER_*` variables and the kinds
 * a config may leave out (`storage.kind` disk; `index.kind` from its keys).
 * @returns The object to validate, and the dotted paths each variable set.
 */
function prepareRecorderValue(
  raw: Record<string, unknown>,
  env: Record<string, string | undefined>,
): { obj: Record<string, unknown>; setBy: Map<string, string> } {
  const obj = structuredClone(raw);
  const setBy = new Map<string, string>();
  for (const [name, path] of Object.entries(RECORDER_ENV)) {
    const v = env[name];
    if (v === undefined || v === "") continue;
    let value: unknown = v;
    if (LISTS.has(path)) {
      value = v.split(",").map((s) => s.trim()).filter(Boolean);
    } else if (NUMBERS.has(path)) value = /^[0-9]+$/.test(v) ? Number(v) : v;
    else if (BOOLEANS.has(path)) {
      value = v === "true" || v === "1"
        ? true
        : v === "false" || v === "0"
        ? false
        : v;
    }
    setPath(obj, path, value);
    setBy.set(path, name);
  }
  if (
    typeof obj.storage === "object" && obj.storage !== null &&
    !("kind" in obj.storage)
  ) (obj.storage as Record<string, unknown>).kind = "disk";
  const index = obj.index as Record<string, unknown> | undefined;
  if (typeof index === "object" && index !== null && !("kind" in index)) {
    index.kind = "url" in index ? "postgres" : "sqlite";
  }
  return { obj, setBy };
}

/**
 * Parses the recorder configuration: a raw object (e.g. from a JSON file)
 * overlaid with `EXECGATE_RECORDER_*` environment variables.
 * @param raw The raw object. @default {{}}
 * @param env Environment variables (pass `Deno.env.toObject()`). @default {{}}
 * @returns The resolved configuration.
 * @throws {RangeError} Naming every invalid field, e.g.
 * `Invalid recorder config: storage.bucket: Required`.
 * @example
 * ```ts
 * import { parseRecorderConfig } from "./config.ts";
 * const c = parseRecorderConfig({}, { EXECGATE_RECORDER_PORT: "9000" });
 * if (c.listen.port !== 9000 || c.storage.kind !== "disk") throw new Error();
 * ```
 */
export function parseRecorderConfig(
  raw: unknown = {},
  env: Record<string, string | undefined> = {},
): RecorderConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new RangeError("Invalid recorder config: expected a JSON object");
  }
  const { obj } = prepareRecorderValue(raw as Record<string, unknown>, env);
  const r = recorderConfigSchema.safeParse(obj);
  if (!r.success) {
    const problems = r.error.issues.map((i) =>
      `${i.path.join(".") || "(root)"}: ${i.message}`
    );
    throw new RangeError(`Invalid recorder config: ${problems.join("; ")}`);
  }
  return r.data;
}

/**
 * Reads the recorder's config file (JSON or HuJSON) overlaid with
 * `EXECGATE_RECORDER_*` variables, with the errors every execgate file
 * gives: `recorder.hujson:2:23: listen.port: expected number, got string`,
 * or the variable's name for a value it set
 * (`EXECGATE_RECORDER_PORT: listen.port: expected number, got string`).
 * @param text The file's contents.
 * @param fileName The file's name, for errors.
 * @param env Environment variables. @default {{}}
 * @returns The resolved configuration.
 * @throws {ConfigError} At the first problem.
 * @example
 * ```ts
 * import { loadRecorderConfig } from "./config.ts";
 * try {
 *   loadRecorderConfig('{\n  "listen": { "port": "80" },\n}', "recorder.hujson");
 *   throw new Error("accepted");
 * } catch (e) {
 *   if ((e as Error).message !== "recorder.hujson:2:23: listen.port: expected number, got string") throw e;
 * }
 * ```
 */
export function loadRecorderConfig(
  text: string,
  fileName: string,
  env: Record<string, string | undefined> = {},
): RecorderConfig {
  let setBy = new Map<string, string>();
  const { value } = parseHujsonFile(text, fileName, recorderConfigSchema, {
    prepare: (plain) => {
      if (typeof plain !== "object" || plain === null || Array.isArray(plain)) {
        return plain;
      }
      const prepared = prepareRecorderValue(
        plain as Record<string, unknown>,
        env,
      );
      setBy = prepared.setBy;
      return prepared.obj;
    },
    origin: (path) => {
      for (let n = path.length; n > 0; n--) {
        const name = setBy.get(path.slice(0, n).join("."));
        if (name) return name;
      }
      return undefined;
    },
  });
  return value;
}
