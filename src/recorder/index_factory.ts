/**
 * Builds the recording index a configuration asks for (`index` in the
 * recorder config, see `resolveIndexConfig`): a SQLite file (`node:sqlite`),
 * a shared PostgreSQL database, or none (`scan`: queries list storage). An
 * adapter: the drivers are loaded only when asked for.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { type RecorderConfig, resolveIndexConfig } from "./config.ts";
import type { RecordingIndex } from "./index/recording_index.ts";

/** What {@linkcode createIndex} built. */
export interface CreatedIndex {
  /** The index; undefined for `scan`. */
  index?: RecordingIndex;
  /** Empty, or rebuilt from a damaged file: fill it from storage. */
  fresh: boolean;
}

/**
 * Opens the configured index. A SQLite file that is damaged or of an
 * unknown schema is moved aside and rebuilt, with a log line naming it.
 * @param config The resolved configuration.
 * @param log Where the rebuild is told.
 * @returns The index and whether it must be filled.
 * @throws {Error} When the file or database cannot be opened at all.
 * @example
 * ```ts
 * import { createIndex, parseRecorderConfig } from "./mod.ts";
 * const dir = await Deno.makeTempDir();
 * const config = parseRecorderConfig({ storage: { kind: "disk", dir } });
 * const { index, fresh } = await createIndex(config, console);
 * if (!index || !fresh) throw new Error();
 * await index.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function createIndex(
  config: RecorderConfig,
  log: Pick<Logger, "warn" | "info">,
): Promise<CreatedIndex> {
  const c = resolveIndexConfig(config);
  if (c.kind === "scan") return { fresh: false };
  if (c.kind === "postgres") {
    const { PostgresIndex } = await import("./index/postgres_index.ts");
    const index = await PostgresIndex.open(c.url);
    return { index, fresh: (await index.count()) === 0 };
  }
  const { openSqliteIndex } = await import("./index/sqlite_index.ts");
  const opened = await openSqliteIndex(c.file);
  if (opened.rebuilt) {
    log.warn("index file was damaged: moved aside and rebuilt from storage", {
      file: c.file,
      problem: opened.problem,
      movedTo: opened.movedTo,
    });
  }
  return { index: opened.index, fresh: opened.fresh };
}
