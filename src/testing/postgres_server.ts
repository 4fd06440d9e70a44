/**
 * A throwaway PostgreSQL server for tests and benches: Debian's PostgreSQL
 * 15 binaries (`apt-get install postgresql-15`) on a temp folder and a free
 * port of 127.0.0.1, trust authentication, no Unix socket, no fsync.
 *
 * `initdb` and `postgres` refuse to run as root. When the test runs as root
 * (containers, CI), both run as `nobody` through `setpriv --reuid --regid
 * --clear-groups` (util-linux; it execs, so the child we hold is the
 * postmaster itself and our signals reach it), in a temp folder under
 * `/tmp` handed to that user with `chown`. Otherwise they run as the
 * current user in the usual temp folder.
 *
 * @module
 */

/** A running server. */
export interface PostgresServer {
  /** Connection URL, `postgres://postgres@127.0.0.1:<port>/postgres`. */
  url: string;
  /** The port on 127.0.0.1. */
  port: number;
  /** Stops the server (fast shutdown) and removes its folder. */
  close(): Promise<void>;
}

/** Options of {@linkcode startPostgres}. */
export interface StartPostgresOptions {
  /** Folder of `initdb` and `postgres`. @default {"/usr/lib/postgresql/15/bin"} */
  binDir?: string;
  /** Most milliseconds to wait for the server to accept connections. @default {30000} */
  timeoutMs?: number;
  /** Extra `-c name=value` settings. @default {{}} */
  settings?: Record<string, string>;
}

const READY = "database system is ready to accept connections";

/**
 * Starts a PostgreSQL server and waits until it accepts connections.
 * @param options Where the binaries are, how long to wait, settings.
 * @returns The server.
 * @throws {Error} When the binaries are missing (naming the path and the
 * package), when `initdb` fails, or when the server exits or stays silent
 * past the timeout (with the end of its log).
 * @example
 * ```ts ignore
 * import { startPostgres } from "./postgres_server.ts";
 * const pg = await startPostgres();
 * try {
 *   console.log(pg.url);
 * } finally {
 *   await pg.close();
 * }
 * ```
 */
export async function startPostgres(
  options: StartPostgresOptions = {},
): Promise<PostgresServer> {
  const bin = options.binDir ?? "/usr/lib/postgresql/15/bin";
  for (const b of ["initdb", "postgres"]) {
    try {
      await Deno.stat(`${bin}/${b}`);
    } catch {
      throw new Error(
        `Cannot start PostgreSQL: ${
          JSON.stringify(`${bin}/${b}`)
        } is missing (install the Debian package "postgresql-15")`,
      );
    }
  }
  const asRoot = Deno.uid() === 0;
  const user = asRoot ? await nobody() : undefined;
  const dir = await Deno.makeTempDir({
    prefix: "execgate-pg-",
    dir: asRoot ? "/tmp" : undefined,
  });
  if (user !== undefined) await Deno.chown(dir, user.uid, user.gid);
  const wrap = (cmd: string, args: string[]) =>
    user === undefined ? { cmd, args } : {
      cmd: "setpriv",
      args: [
        `--reuid=${user.uid}`,
        `--regid=${user.gid}`,
        "--clear-groups",
        "--",
        cmd,
        ...args,
      ],
    };
  try {
    const data = `${dir}/data`;
    const init = wrap(`${bin}/initdb`, [
      "-D",
      data,
      "-A",
      "trust",
      "-U",
      "postgres",
      "-E",
      "UTF8",
      "--locale=C",
      "--no-sync",
      "--no-instructions",
    ]);
    const out = await new Deno.Command(init.cmd, {
      args: init.args,
      stdout: "piped",
      stderr: "piped",
      env: { LC_ALL: "C" },
    }).output();
    if (!out.success) {
      throw new Error(
        `Cannot start PostgreSQL: initdb exited with ${out.code}: ${
          new TextDecoder().decode(out.stderr).trim().slice(-2000)
        }`,
      );
    }
    let last: Error | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      try {
        return await run(bin, data, dir, port, wrap, options);
      } catch (e) {
        last = e as Error;
        // Another process may have taken the port between probe and bind.
        if (!/could not (bind|create listen)/i.test(last.message)) throw e;
      }
    }
    throw last!;
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
}

async function run(
  bin: string,
  data: string,
  dir: string,
  port: number,
  wrap: (cmd: string, args: string[]) => { cmd: string; args: string[] },
  options: StartPostgresOptions,
): Promise<PostgresServer> {
  const settings: Record<string, string> = {
    listen_addresses: "127.0.0.1",
    unix_socket_directories: "",
    fsync: "off",
    synchronous_commit: "off",
    full_page_writes: "off",
    logging_collector: "off",
    ...options.settings,
  };
  const s = wrap(`${bin}/postgres`, [
    "-D",
    data,
    "-p",
    String(port),
    ...Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`]),
  ]);
  const child = new Deno.Command(s.cmd, {
    args: s.args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { LC_ALL: "C" },
  }).spawn();
  // Read the log for ever (a full pipe would stall the server), keeping its end.
  let log = "";
  let ready!: () => void;
  const isReady = new Promise<void>((r) => ready = r);
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      log = (log + decoder.decode(chunk, { stream: true })).slice(-8000);
      if (log.includes(READY)) ready();
    }
  })();
  const timeoutMs = options.timeoutMs ?? 30_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    isReady.then(() => "ready" as const),
    child.status.then(() => "exited" as const),
    new Promise<"timeout">((r) =>
      timer = setTimeout(() => r("timeout"), timeoutMs)
    ),
  ]);
  clearTimeout(timer);
  const stop = async () => {
    try {
      child.kill("SIGINT"); // fast shutdown
    } catch { /* exited already */ }
    const killer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
    }, 10_000);
    await child.status;
    clearTimeout(killer);
    await reading.catch(() => {});
  };
  if (outcome !== "ready") {
    await stop();
    throw new Error(
      `Cannot start PostgreSQL on 127.0.0.1:${port}: ${
        outcome === "exited"
          ? "the server exited"
          : `no "${READY}" within ${timeoutMs} ms`
      }; its log ends: ${log.trim().slice(-2000)}`,
    );
  }
  let closed: Promise<void> | undefined;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    close() {
      closed ??= (async () => {
        await stop();
        await Deno.remove(dir, { recursive: true });
      })();
      return closed;
    },
  };
}

/** A port that was free a moment ago (bound to port 0, then closed). */
async function freePort(): Promise<number> {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  await Promise.resolve();
  return port;
}

/** The uid and gid of `nobody`, from `/etc/passwd`. */
async function nobody(): Promise<{ uid: number; gid: number }> {
  const passwd = await Deno.readTextFile("/etc/passwd");
  for (const line of passwd.split("\n")) {
    const [name, , uid, gid] = line.split(":");
    if (name === "nobody" && uid !== undefined && gid !== undefined) {
      return { uid: Number(uid), gid: Number(gid) };
    }
  }
  throw new Error(
    `Cannot start PostgreSQL as root: no user "nobody" in "/etc/passwd" to run it as`,
  );
}
