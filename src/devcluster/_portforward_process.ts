/**
 * A running `kubectl port-forward` in a test: its output read in the
 * background (so its pipes never fill), the local port read from its
 * `Forwarding from 127.0.0.1:NNNN -> P` line, and a way to stop it and get
 * what it printed.
 *
 * @module
 */

/** What a stopped (or exited) port-forward printed. */
export interface PortForwardExit {
  /** Exit code. */
  code: number;
  /** Everything on stdout. */
  stdout: string;
  /** Everything on stderr. */
  stderr: string;
}

/** A port-forward that is listening. */
export interface PortForwardProcess {
  /** The local port kubectl listens on (127.0.0.1) for the first pod port. */
  localPort: number;
  /** Local port (127.0.0.1) of each pod port awaited. */
  localPorts: ReadonlyMap<number, number>;
  /** Stdout so far. */
  stdout(): string;
  /** Stderr so far. */
  stderr(): string;
  /** Resolves when kubectl exits by itself (or is stopped). */
  exited: Promise<PortForwardExit>;
  /** Ends kubectl (SIGTERM) and resolves with its output. */
  stop(): Promise<PortForwardExit>;
}

/**
 * Waits until a spawned `kubectl port-forward` listens on 127.0.0.1 for
 * every pod port given.
 * @param child The process (stdout and stderr piped).
 * @param podPorts The pod ports it forwards (the `:P` arguments).
 * @returns The running port-forward.
 * @throws {Error} kubectl exited before it printed every `Forwarding from`
 * line.
 */
export async function whenForwarding(
  child: Deno.ChildProcess,
  podPorts: readonly number[],
): Promise<PortForwardProcess> {
  let out = "";
  let err = "";
  const localPorts = new Map<number, number>();
  const listening = Promise.withResolvers<void>();
  const read = async (
    stream: ReadableStream<Uint8Array>,
    add: (t: string) => void,
  ) => {
    for await (const t of stream.pipeThrough(new TextDecoderStream())) add(t);
  };
  const reading = Promise.all([
    read(child.stdout, (t) => {
      out += t;
      for (
        const m of out.matchAll(
          /Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)\n/g,
        )
      ) {
        localPorts.set(Number(m[2]), Number(m[1]));
      }
      if (podPorts.every((p) => localPorts.has(p))) listening.resolve();
    }),
    read(child.stderr, (t) => (err += t)),
  ]);
  const exited = Promise.all([child.status, reading]).then(([s]) => {
    const exit = { code: s.code, stdout: out, stderr: err };
    listening.reject(
      new Error(
        `kubectl port-forward exited (${s.code}) before listening: ${err}`,
      ),
    );
    return exit;
  });
  await listening.promise;
  return {
    localPort: localPorts.get(podPorts[0]!)!,
    localPorts,
    stdout: () => out,
    stderr: () => err,
    exited,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // Exited already.
      }
      return await exited;
    },
  };
}
