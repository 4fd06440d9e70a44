/**
 * A policy store that follows its file: reloads on change, and keeps the last
 * good policy when an edit breaks the file.
 *
 * @module
 */

import { jsonLogger, type Logger } from "../log.ts";
import { parsePolicy } from "./parse_policy.ts";
import type { Policy } from "./policy.ts";
import { denoPolicyFs, type PolicyFs } from "./policy_fs.ts";

/** Options of {@linkcode watchPolicy}. */
export interface WatchPolicyOptions {
  /** Called with each newly loaded policy (not with the first one). */
  onReload?: (policy: Policy) => void;
  /** Called when a changed file cannot be read or parsed (the old policy stays). */
  onError?: (error: Error) => void;
  /** Where reloads and failures are logged. @default {console-based} */
  logger?: Pick<Logger, "info" | "warn">;
  /** File system seam. @default {denoPolicyFs} */
  fs?: PolicyFs;
}

/** A live policy. */
export interface PolicyWatcher {
  /** The current (last good) policy. */
  readonly policy: Policy;
  /**
   * Re-reads the file now.
   * @returns True when a changed, valid policy was loaded.
   */
  reload(): Promise<boolean>;
  /** Stops watching; resolves when the watch loop has ended. */
  close(): Promise<void>;
}

const defaultLogger: Pick<Logger, "info" | "warn"> = jsonLogger("policy");

/**
 * Loads a policy file and keeps following it.
 *
 * Every change signal re-reads the file; unchanged text is ignored. A valid
 * new text replaces the policy (`onReload`, logged at info); an invalid one
 * is reported (`onError`, logged at warn with the `PolicyError` message) and
 * the last good policy stays in force. Reading the same broken text again
 * does not report it twice.
 *
 * @param path The policy file.
 * @param options Callbacks, logger, file system.
 * @returns The watcher, once the first load succeeded.
 * @throws {PolicyError} When the file is invalid at start.
 * @throws {Deno.errors.NotFound} When the file is missing at start.
 */
export async function watchPolicy(
  path: string,
  options: WatchPolicyOptions = {},
): Promise<PolicyWatcher> {
  const fs = options.fs ?? denoPolicyFs;
  const logger = options.logger ?? defaultLogger;
  let lastText = await fs.readTextFile(path);
  let policy = parsePolicy(lastText, path);
  const handle = fs.watch(path);

  // Reloads run one at a time, so an older read never replaces a newer one.
  let queue: Promise<unknown> = Promise.resolve();
  function reload(): Promise<boolean> {
    const run = queue.then(reloadNow);
    queue = run.catch(() => {});
    return run;
  }

  async function reloadNow(): Promise<boolean> {
    let text: string;
    try {
      text = await fs.readTextFile(path);
    } catch (e) {
      const error = new Error(
        `Cannot read policy file ${JSON.stringify(path)}: ${
          e instanceof Error ? e.message : String(e)
        }`,
        { cause: e },
      );
      logger.warn("Policy reload failed; keeping the last good policy", {
        file: path,
        error: error.message,
      });
      options.onError?.(error);
      return false;
    }
    if (text === lastText) return false;
    lastText = text;
    try {
      policy = parsePolicy(text, path);
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      logger.warn("Policy reload failed; keeping the last good policy", {
        file: path,
        error: error.message,
      });
      options.onError?.(error);
      return false;
    }
    logger.info("Policy reloaded", {
      file: path,
      acls: policy.acls.length,
      grants: policy.grants.length,
    });
    options.onReload?.(policy);
    return true;
  }

  const loop = (async () => {
    for await (const _ of handle) await reload();
  })();

  return {
    get policy() {
      return policy;
    },
    reload,
    async close() {
      handle.close();
      await loop;
    },
  };
}
