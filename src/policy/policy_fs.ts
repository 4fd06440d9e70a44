/**
 * The file-system adapter of the policy watcher: reading the policy file and
 * hearing about changes to it (`Deno.watchFs`).
 *
 * @module
 */

/** A running watch: an async iterable of "something changed" signals. */
export interface PolicyWatchHandle extends AsyncIterable<void> {
  /** Stops watching; the iteration ends. */
  close(): void;
}

/** What the policy watcher needs from the file system. */
export interface PolicyFs {
  /** Reads the file. */
  readTextFile(path: string): Promise<string>;
  /**
   * Watches for changes that may affect the file. Spurious signals are fine:
   * the watcher re-reads and compares.
   */
  watch(path: string): PolicyWatchHandle;
}

/**
 * The real file system. It watches the file's directory rather than the file,
 * because editors and Kubernetes ConfigMap mounts replace files (rename or
 * swap a `..data` symlink) instead of writing them in place, which a watch
 * on the old inode would miss. Any event in the directory is a signal.
 */
export const denoPolicyFs: PolicyFs = {
  readTextFile: (path) => Deno.readTextFile(path),
  watch(path) {
    const slash = path.lastIndexOf("/");
    const dir = slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
    const watcher = Deno.watchFs(dir, { recursive: false });
    return {
      close: () => watcher.close(),
      async *[Symbol.asyncIterator]() {
        for await (const _event of watcher) yield;
      },
    };
  },
};
