/**
 * Runs the recorder on `Deno.serve` (HTTPS with a certificate and key, or
 * plain HTTP): the runtime adapter and the `execgate recorder` entry.
 *
 * @module
 */

import { createRecorder, type Recorder, type RecorderDeps } from "./app.ts";
import type { RecorderConfig } from "./config.ts";
import { createStorage } from "./storage_factory.ts";
import { createEvents, rebuildEventIndex } from "./events_factory.ts";
import { createIndex } from "./index_factory.ts";
import { jsonLogger, type Logger } from "../log.ts";
import { PeerRecorder } from "./peer_parts.ts";
import {
  type ManifestSigner,
  signerFromText,
} from "./integrity/signing_key.ts";

import { nodeSha256 } from "../adapter/deno/sha256.ts";

/** The native SHA-256 the recorder is given (`adapter/deno/sha256.ts`). */
export { nodeSha256 };

/**
 * The configured `peers`, each with a `fetch` that trusts its `caFile`.
 * @param config The resolved configuration.
 * @param log Where a peer that cannot be asked is logged.
 * @returns One {@linkcode PeerRecorder} per peer.
 */
export async function peerRecorders(
  config: RecorderConfig,
  log: Logger,
): Promise<PeerRecorder[]> {
  const out: PeerRecorder[] = [];
  for (const [i, p] of config.peers.entries()) {
    let f: typeof fetch = fetch;
    if (p.caFile) {
      let pem: string;
      try {
        pem = await Deno.readTextFile(p.caFile);
      } catch (e) {
        throw new Error(
          `Cannot read peers[${i}].caFile ${JSON.stringify(p.caFile)}: ${
            (e as Error).message
          }`,
        );
      }
      const client = Deno.createHttpClient({ caCerts: [pem] });
      f = ((input: RequestInfo | URL, init?: RequestInit) =>
        fetch(input, { ...init, client })) as typeof fetch;
    }
    out.push(
      new PeerRecorder({
        url: p.url,
        token: p.token,
        fetch: f,
        onError: (message) => log.warn("peer recorder not read", { message }),
      }),
    );
  }
  return out;
}

/**
 * The configured `signing.privateKeyFile` as the manifest signer.
 * @param config The resolved configuration.
 * @returns The signer, or `undefined` when no key is configured.
 * @throws {Error} When the file cannot be read or is not an Ed25519 key.
 */
export async function loadSigner(
  config: RecorderConfig,
): Promise<ManifestSigner | undefined> {
  const file = config.signing?.privateKeyFile;
  if (!file) return undefined;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new Error(
      `Cannot read signing.privateKeyFile ${JSON.stringify(file)}: ${
        (e as Error).message
      }`,
    );
  }
  return await signerFromText(
    text,
    `signing.privateKeyFile ${JSON.stringify(file)}`,
  );
}

/** A running recorder server. */
export interface ServedRecorder {
  /** Base URL, e.g. `https://127.0.0.1:8443`. */
  url: string;
  /** The bound port. */
  port: number;
  /** The recorder behind it. */
  recorder: Recorder;
  /** Resolves when the server has stopped. */
  finished: Promise<void>;
  /** Finalises live uploads as partial, then stops the server. */
  close(): Promise<void>;
}

/**
 * Serves a recorder. Storage is built from the config unless given; left
 * over recordings of a previous run are recovered before listening.
 * @param config The resolved configuration.
 * @param deps Optional storage, clock and observers.
 * @returns The running server.
 */
export async function serveRecorder(
  config: RecorderConfig,
  deps: Partial<RecorderDeps> = {},
): Promise<ServedRecorder> {
  const storage = deps.storage ??
    await createStorage(config, Deno.env.toObject());
  const log = deps.logger ?? jsonLogger("recorder");
  const built = deps.index
    ? { index: deps.index, fresh: deps.indexFresh ?? false }
    : await createIndex(config, log);
  const peers = deps.peers ?? await peerRecorders(config, log);
  const signer = deps.signer ?? await loadSigner(config);
  const events = deps.events ??
    await createEvents(config, built.index, built.fresh, log, storage);
  const recorder = createRecorder(config, {
    ...(events ? { events } : {}),
    digest: nodeSha256,
    peers,
    ...(signer ? { signer } : {}),
    ...deps,
    storage,
    logger: log,
    ...(built.index ? { index: built.index } : {}),
    indexFresh: built.fresh,
  });
  await recorder.recover();
  // Recordings a crashed replica left live in a shared index: swept as
  // often as storage can tell they are stale.
  let sweeping: ReturnType<typeof setInterval> | undefined;
  if (built.index && config.storage.kind === "s3") {
    sweeping = setInterval(
      () =>
        void recorder.sweepStale().catch((e) =>
          log.warn("stale sweep failed", { error: (e as Error)?.message ?? e })
        ),
      Math.max(500, config.storage.staleAfterMs / 2),
    );
  }
  // Retention runs at start and then every intervalMs (when configured).
  let retention: ReturnType<typeof setInterval> | undefined;
  if (config.retention.days !== undefined) {
    const run = () =>
      void recorder.applyRetention().catch((e) =>
        log.warn("retention failed", { error: (e as Error)?.message ?? e })
      );
    run();
    retention = setInterval(run, config.retention.intervalMs);
  }
  const tls = config.tls
    ? {
      cert: await Deno.readTextFile(config.tls.certFile),
      key: await Deno.readTextFile(config.tls.keyFile),
    }
    : undefined;
  const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: config.listen.hostname,
    port: config.listen.port,
    ...(tls ?? {}),
    onListen: (addr) => resolve(addr as Deno.NetAddr),
  }, recorder.app.fetch);
  const addr = await listening;
  const host = addr.hostname.includes(":")
    ? `[${addr.hostname}]`
    : addr.hostname;
  let closing: Promise<void> | undefined;
  return {
    url: `${tls ? "https" : "http"}://${host}:${addr.port}`,
    port: addr.port,
    recorder,
    finished: server.finished,
    close() {
      closing ??= (async () => {
        clearInterval(retention);
        clearInterval(sweeping);
        await recorder.close();
        // Every upload is finalised by now; an uploader that keeps its
        // request body open would hold a graceful shutdown for ever.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const late = await Promise.race([
          server.shutdown().then(() => false),
          new Promise<boolean>((r) => timer = setTimeout(() => r(true), 2000)),
        ]);
        clearTimeout(timer);
        if (late) {
          log.warn(
            "closed without waiting for connections still open after 2000 ms (an uploader kept its request body open; its recording is finalised)",
          );
          server.unref();
        }
      })();
      return closing;
    },
  };
}

/**
 * Rebuilds the configured index from storage and exits:
 * `execgate recorder reindex`. Storage is the source of truth; the index is
 * cleared and filled again (text indexes derived where missing).
 * @param config The resolved configuration.
 * @returns A line saying what was done.
 */
export async function reindexRecorder(config: RecorderConfig): Promise<string> {
  const storage = await createStorage(config, Deno.env.toObject());
  const log = jsonLogger("recorder");
  const { index } = await createIndex(config, log);
  if (!index) {
    await storage.close();
    return "recorder: no index is configured (index.kind is scan): nothing to rebuild";
  }
  const recorder = createRecorder(config, {
    digest: nodeSha256,
    storage,
    logger: log,
    index,
  });
  try {
    const r = await recorder.reindex();
    // API events too: their stored streams into the same index (a repeated
    // event id keeps the row it has, so this only adds what is missing).
    const events = await createEvents(config, index, false, log, storage);
    const rebuilt = events
      ? { events: await rebuildEventIndex(events.store, events.index, log) }
      : {};
    return `recorder: reindexed ${index.describe}: ${
      JSON.stringify({ ...r, ...rebuilt })
    }`;
  } finally {
    await recorder.close();
  }
}

/**
 * Runs the recorder until SIGINT or SIGTERM: `execgate recorder`.
 * @param config The resolved configuration.
 * @returns When the server has stopped.
 */
export async function runRecorder(config: RecorderConfig): Promise<void> {
  const log = jsonLogger("recorder");
  if (config.auth.uploaderTokens.length === 0) {
    log.warn("no uploader tokens configured: every upload will be refused");
  }
  if (config.auth.viewerTokens.length === 0) {
    log.warn("no viewer tokens configured: nobody can view recordings");
  }
  const served = await serveRecorder(config, {
    logger: log,
    onUpload: (r) =>
      log.info("upload ended", {
        recordingId: r.id ?? null,
        outcome: r.outcome,
        bytes: r.bodyBytes,
        ...(r.reason ? { reason: r.reason } : {}),
      }),
  });
  log.info("recorder listening", {
    url: served.url,
    storage: config.storage.kind,
  });
  const stop = () => void served.close();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    await served.finished;
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  }
}
