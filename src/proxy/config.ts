/**
 * The proxy's configuration file, parsed once by zod into a resolved object
 * with every default filled in. Impossible values are rejected at start with
 * the field's path.
 *
 * @module
 */

import { z } from "zod";
import { parseHujsonFile } from "../config/hujson_file.ts";

const Duration: z.ZodNumber = z.number().int().positive();

/** The resolved proxy configuration: every field with its default filled in. */
export interface ProxyConfig {
  /** Hostname the proxy reports in recordings. @default {"execgate"} */
  hostname: string;
  /** The proxy's own tags: what policy `dst` entries match. @default {[]} */
  tags: string[];
  /** Where the API listener binds. */
  listen: {
    /** Address. @default {"0.0.0.0"} */
    host: string;
    /** Port (0: any free port). @default {8443} */
    port: number;
    /** How long a TLS handshake may take before the connection is dropped. @default {10000} */
    handshakeTimeoutMs: number;
    /**
     * How long a request head may take: from the connection's start, or
     * from the first byte of a later request on a kept-alive connection.
     * @default {10000}
     */
    headTimeoutMs: number;
    /** How long a kept-alive connection may wait for its next request. @default {120000} */
    idleTimeoutMs: number;
  };
  /**
   * Where the proxy serves its own `/metrics` (Prometheus text, plain HTTP),
   * as `host:port`: a listener of its own, never the API port (which
   * forwards every path upstream). Off when absent.
   */
  metricsAddress?: string;
  /** Serving certificate; plain HTTP when absent (only behind a TLS terminator). */
  tls?: { certFile: string; keyFile: string };
  /** The real API server: a kubeconfig, or the in-cluster service account. */
  upstream: { kubeconfig: string; context?: string } | { inCluster: true };
  /** How callers are identified. */
  identity:
    | { type: "tokens"; file: string }
    | { type: "mtls"; caFile: string }
    | { type: "tailscale"; socket: string };
  /** The policy file (not used in `tailscale` identity mode). */
  policy?: { file: string };
  /** Recorder tag → recorder base URLs, tried in order. @default {{}} */
  recorders: Record<string, string[]>;
  /** How the proxy authenticates to recorders. */
  recorderAuth: {
    /** Uploader token. */
    token?: string;
    /** File holding the uploader token. */
    tokenFile?: string;
    /** CA that signs the recorders' certificates. */
    caFile?: string;
  };
  /** How sessions are recorded. */
  recording: {
    /** How long a recorder may take to accept an upload. @default {5000} */
    connectTimeoutMs: number;
    /** How long without acknowledgement before a recorder counts as gone. @default {10000} */
    ackTimeoutMs: number;
    /** Largest WebSocket message the tap accepts. @default {4 MiB} */
    maxMessageBytes: number;
    /**
     * The window: unacknowledged bytes per session towards the recorder
     * before upstream waits (fail closed) or records are dropped (fail
     * open); sized so window / recorder round trip is well above the link
     * speed. @default {4 MiB}
     */
    windowBytes?: number;
    /** Former name of `windowBytes` (used when `windowBytes` is not set). */
    queueBytes?: number;
    /**
     * Unacknowledged bytes across all of the proxy's fail-closed sessions:
     * past it sessions wait for acknowledgements instead of the proxy
     * holding every window at once. @default {64 MiB}
     */
    budgetBytes: number;
  };
  /** API request events of callers whose grant says `enableEvents`. */
  events: {
    /** Largest request body prefix an event keeps (create/update/patch of workloads). @default {65536} */
    maxBodyBytes: number;
    /** Fail open: event bytes queued or unacknowledged before new events are dropped. @default {4 MiB} */
    queueBytes: number;
  };
}

/**
 * The schema of the proxy configuration (JSON or HuJSON): what a file may
 * say, resolving to a {@linkcode ProxyConfig}.
 */
export const ProxyConfigSchema: z.ZodType<ProxyConfig, z.ZodTypeDef, unknown> =
  z.object({
    /** Hostname the proxy reports in recordings. */
    hostname: z.string().min(1).default("execgate"),
    /** The proxy's own tags: what policy `dst` entries match. */
    tags: z.array(z.string().regex(/^tag:[A-Za-z0-9-]+$/)).default([]),
    listen: z.object({
      host: z.string().default("0.0.0.0"),
      port: z.number().int().min(0).max(65535).default(8443),
      /** How long a TLS handshake may take before the connection is dropped. */
      handshakeTimeoutMs: Duration.default(10_000),
      /**
       * How long a request head may take: from the connection's start, or
       * from the first byte of a later request on a kept-alive connection.
       */
      headTimeoutMs: Duration.default(10_000),
      /** How long a kept-alive connection may wait for its next request. */
      idleTimeoutMs: Duration.default(120_000),
    }).strict().default({}),
    /**
     * Where the proxy serves its own `/metrics` (Prometheus text, plain HTTP),
     * as `host:port`: a listener of its own, never the API port (which
     * forwards every path upstream). Off when absent.
     */
    metricsAddress: z.string().regex(
      /^(?:\[[0-9a-fA-F:.]+\]|[^:\[\]\s]+):\d{1,5}$/,
      "expected host:port, e.g. 127.0.0.1:9090 or [::1]:9090",
    ).optional(),
    /** Serving certificate; plain HTTP when absent (only behind a TLS terminator). */
    tls: z.object({
      certFile: z.string(),
      keyFile: z.string(),
    }).strict().optional(),
    /** The real API server: a kubeconfig, or the in-cluster service account. */
    upstream: z.union([
      z.object({ kubeconfig: z.string(), context: z.string().optional() })
        .strict(),
      z.object({ inCluster: z.literal(true) }).strict(),
    ]).default({ inCluster: true }),
    /** How callers are identified. */
    identity: z.discriminatedUnion("type", [
      z.object({ type: z.literal("tokens"), file: z.string() }).strict(),
      z.object({ type: z.literal("mtls"), caFile: z.string() }).strict(),
      z.object({
        type: z.literal("tailscale"),
        socket: z.string().default("/var/run/tailscale/tailscaled.sock"),
      }).strict(),
    ]),
    /** The policy file (not used in `tailscale` identity mode). */
    policy: z.object({ file: z.string() }).strict().optional(),
    /** Recorder tag → recorder base URLs, tried in order. */
    recorders: z.record(
      z.string().regex(/^tag:[A-Za-z0-9-]+$/),
      z.array(z.string().url()).min(1),
    ).default({}),
    /** How the proxy authenticates to recorders. */
    recorderAuth: z.object({
      token: z.string().optional(),
      tokenFile: z.string().optional(),
      /** CA that signs the recorders' certificates. */
      caFile: z.string().optional(),
    }).strict().default({}),
    recording: z.object({
      /** How long a recorder may take to accept an upload. */
      connectTimeoutMs: Duration.default(5_000),
      /** How long without acknowledgement before a recorder counts as gone. */
      ackTimeoutMs: Duration.default(10_000),
      /** Largest WebSocket message the tap accepts. */
      maxMessageBytes: z.number().int().positive().default(4 * 1024 * 1024),
      /**
       * The window: unacknowledged bytes per session towards the recorder
       * before upstream waits (fail closed) or records are dropped (fail open);
       * sized so window / recorder round trip is well above the link speed.
       * Default 4 MiB.
       */
      windowBytes: z.number().int().positive().optional(),
      /** Former name of `windowBytes` (used when `windowBytes` is not set). */
      queueBytes: z.number().int().positive().optional(),
      /**
       * Unacknowledged bytes across all of the proxy's fail-closed sessions:
       * past it sessions wait for acknowledgements instead of the proxy
       * holding every window at once. Default 64 MiB.
       */
      budgetBytes: z.number().int().positive().default(64 * 1024 * 1024),
    }).strict().default({}),
    /** API request events of callers whose grant says `enableEvents`. */
    events: z.object({
      /** Largest request body prefix an event keeps (create/update/patch of workloads). */
      maxBodyBytes: z.number().int().min(0).max(1024 * 1024).default(65536),
      /** Fail open: event bytes queued or unacknowledged before new events are dropped. */
      queueBytes: z.number().int().positive().default(4 * 1024 * 1024),
    }).strict().default({}),
  }).strict().superRefine((c, ctx) => {
    if (c.identity.type !== "tailscale" && !c.policy) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["policy"],
        message:
          `a policy file is required with identity type "${c.identity.type}"`,
      });
    }
  });

/**
 * Validates a configuration object.
 * @param raw Parsed JSON.
 * @param source Where it came from, for messages.
 * @returns The resolved config.
 * @throws {TypeError} Listing each problem as `source: path: message`.
 * @example
 * ```ts
 * import { parseProxyConfig } from "./config.ts";
 * const c = parseProxyConfig({ identity: { type: "tokens", file: "t.json" }, policy: { file: "p.hujson" } });
 * if (c.listen.port !== 8443 || c.recording.ackTimeoutMs !== 10000) throw new Error();
 * ```
 */
export function parseProxyConfig(raw: unknown, source = "config"): ProxyConfig {
  const r = ProxyConfigSchema.safeParse(raw);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) =>
    `${source}: ${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`
  );
  throw new TypeError(`Invalid proxy configuration:\n  ${lines.join("\n  ")}`);
}

/**
 * Reads a HuJSON/JSON configuration file's text into a resolved config;
 * errors carry `file:line:column` and the field's path.
 * @param text File contents.
 * @param fileName For messages; relative paths in the file are resolved
 * against its folder.
 * @returns The resolved config.
 * @throws {PolicyError} Syntax or schema problems, located.
 */
export function loadProxyConfig(text: string, fileName: string): ProxyConfig {
  const { value } = parseHujsonFile(text, fileName, ProxyConfigSchema);
  const c = value as ProxyConfig;
  const dir = fileName.includes("/")
    ? fileName.slice(0, fileName.lastIndexOf("/") + 1)
    : "";
  const abs = (p: string) => (p.startsWith("/") || !dir ? p : dir + p);
  if (c.tls) {
    c.tls = { certFile: abs(c.tls.certFile), keyFile: abs(c.tls.keyFile) };
  }
  if ("kubeconfig" in c.upstream) {
    c.upstream = { ...c.upstream, kubeconfig: abs(c.upstream.kubeconfig) };
  }
  if (c.identity.type === "tokens") c.identity.file = abs(c.identity.file);
  if (c.identity.type === "mtls") c.identity.caFile = abs(c.identity.caFile);
  if (c.policy) c.policy.file = abs(c.policy.file);
  if (c.recorderAuth.tokenFile) {
    c.recorderAuth.tokenFile = abs(c.recorderAuth.tokenFile);
  }
  if (c.recorderAuth.caFile) c.recorderAuth.caFile = abs(c.recorderAuth.caFile);
  return c;
}
