/**
 * Test harness for SPDY sessions with the real kubectl: a minimal API server
 * (node:https, discovery, one pod, exec upgrades handed to a callback), a
 * backend running real processes, and a kubectl runner with a fresh HOME.
 * Used by the SPDY server and tap tests only.
 *
 * @module
 */

import { createServer, type Server } from "node:https";
import { createServer as createNetServer, type Socket } from "node:net";
import type { IncomingMessage } from "node:http";
import { generateCa, issueCert } from "../../devcluster/certs.ts";
import {
  type ExecBackend,
  type ExecOptions,
  type ExecProcess,
  serveSpdyExec,
  type SpdySocket,
} from "../../devcluster/spdy_server.ts";

/** kubectl binaries with SPDY: 1.29 only speaks SPDY. */
export const KUBECTL_129 = "/usr/lib/google-cloud-sdk/bin/kubectl.1.29";
/** The dispatcher: runs kubectl.1.<minor> for the server's `/version`. */
export const KUBECTL = "/usr/bin/kubectl";

/** A running fake API server. */
export interface FakeApiServer {
  port: number;
  caPem: string;
  /** Upgrade requests seen (method and url). */
  upgrades: string[];
  close(): Promise<void>;
}

/** What the fake server does with an upgrade request. */
export type UpgradeHandler = (
  req: IncomingMessage,
  socket: Socket,
  head: Uint8Array,
) => void;

const POD = (ns: string, name: string) => ({
  kind: "Pod",
  apiVersion: "v1",
  metadata: {
    name,
    namespace: ns,
    uid: "00000000-0000-0000-0000-000000000001",
  },
  spec: { containers: [{ name: "main", image: "busybox" }] },
  status: { phase: "Running" },
});

/**
 * Starts an https API server on 127.0.0.1 with a random port.
 * @param minor Server minor version reported by `/version`.
 * @param onUpgrade Upgrade handler.
 * @returns The server.
 */
export async function startFakeApiServer(
  minor: string,
  onUpgrade: UpgradeHandler,
): Promise<FakeApiServer> {
  const ca = await generateCa("spdy-test-ca");
  const leaf = await issueCert(ca, {
    commonName: "apiserver",
    usage: "server",
  });
  const upgrades: string[] = [];
  const server: Server = createServer(
    { cert: leaf.certPem, key: leaf.keyPem },
    (req, res) => {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      const json = (code: number, body: unknown) => {
        res.writeHead(code, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (path === "/version") {
        return json(200, {
          major: "1",
          minor,
          gitVersion: `v1.${minor}.0`,
          platform: "linux/amd64",
        });
      }
      if (path === "/api") {
        return json(200, {
          kind: "APIVersions",
          versions: ["v1"],
          serverAddressByClientCIDRs: [{
            clientCIDR: "0.0.0.0/0",
            serverAddress: "127.0.0.1",
          }],
        });
      }
      if (path === "/apis") {
        return json(200, {
          kind: "APIGroupList",
          apiVersion: "v1",
          groups: [],
        });
      }
      if (path === "/api/v1") {
        return json(200, {
          kind: "APIResourceList",
          groupVersion: "v1",
          resources: [
            {
              name: "pods",
              singularName: "pod",
              namespaced: true,
              kind: "Pod",
              verbs: ["get", "list"],
              shortNames: ["po"],
            },
            {
              name: "pods/exec",
              singularName: "",
              namespaced: true,
              kind: "PodExecOptions",
              verbs: ["create", "get"],
            },
          ],
        });
      }
      const m = path.match(/^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/);
      if (m) return json(200, POD(m[1]!, m[2]!));
      json(404, {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message:
          `the server could not find the requested resource (${req.method} ${path})`,
        reason: "NotFound",
        code: 404,
      });
    },
  );
  server.on("upgrade", (req: IncomingMessage, socket: Socket, head) => {
    upgrades.push(`${req.method} ${req.url}`);
    onUpgrade(req, socket, new Uint8Array(head));
  });
  const { promise, resolve } = Promise.withResolvers<void>();
  server.listen(0, "127.0.0.1", () => resolve());
  await promise;
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    port,
    caPem: ca.certPem,
    upgrades,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections?.();
      }),
  };
}

/** What a kubectl run produced. */
export interface KubectlResult {
  code: number;
  stdout: Uint8Array;
  stderr: string;
}

/**
 * Runs kubectl against a server with a fresh HOME and kubeconfig.
 * @param bin kubectl binary.
 * @param port Server port.
 * @param caPem CA of the server.
 * @param args kubectl arguments.
 * @param options Extra environment and stdin bytes.
 * @returns Exit code and output.
 */
export async function runKubectl(
  bin: string,
  port: number,
  caPem: string,
  args: string[],
  options: { env?: Record<string, string>; stdin?: Uint8Array } = {},
): Promise<KubectlResult> {
  const home = await Deno.makeTempDir({ prefix: "spdy-kubectl-" });
  try {
    const kubeconfig = `${home}/kubeconfig`;
    await Deno.writeTextFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{
          name: "c",
          cluster: {
            server: `https://127.0.0.1:${port}`,
            "certificate-authority-data": btoa(caPem),
          },
        }],
        users: [{ name: "u", user: { token: "test-token" } }],
        contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
        "current-context": "x",
      }),
    );
    const child = new Deno.Command(bin, {
      args: ["--kubeconfig", kubeconfig, ...args],
      env: {
        HOME: home,
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        ...options.env,
      },
      clearEnv: true,
      stdin: options.stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (options.stdin) {
      const w = child.stdin.getWriter();
      const write = w.write(options.stdin).then(() => w.close()).catch(
        () => {},
      );
      const out = await child.output();
      await write;
      return {
        code: out.code,
        stdout: out.stdout,
        stderr: new TextDecoder().decode(out.stderr),
      };
    }
    const out = await child.output();
    return {
      code: out.code,
      stdout: out.stdout,
      stderr: new TextDecoder().decode(out.stderr),
    };
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

/**
 * A backend that runs the command as a real local process (stdin, stdout and
 * stderr piped; no TTY).
 * @param started Called with each start's options.
 * @returns The backend.
 */
export function processBackend(
  started: (o: ExecOptions) => void = () => {},
): ExecBackend {
  return {
    start(options: ExecOptions): ExecProcess {
      started(options);
      const [cmd, ...args] = options.argv;
      const child = new Deno.Command(cmd!, {
        args,
        stdin: options.stdin ? "piped" : "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const writer = options.stdin ? child.stdin.getWriter() : undefined;
      let exited = false;
      const exit = child.status.then((s) => {
        exited = true;
        return s.code;
      });
      return {
        stdout: child.stdout,
        stderr: child.stderr,
        writeStdin: async (chunk) => {
          await writer?.write(chunk);
        },
        closeStdin: () => {
          writer?.close().catch(() => {});
        },
        resize: () => {},
        kill: () => {
          if (!exited) child.kill();
        },
        exit,
      };
    },
  };
}

/** Bytes an upstream SPDY server read and wrote after its `101`. */
export interface UpstreamCapture {
  /** Bytes received from the client after the request head. */
  received: Uint8Array[];
  /** Bytes written after the `101` head. */
  written: Uint8Array[];
}

/**
 * A plain-TCP upstream that reads one request head per connection and serves
 * it with {@linkcode serveSpdyExec}, capturing the bytes of each direction.
 * @param backend Runs the commands.
 * @returns Port, captures (one per connection), sessions and `close`.
 */
export async function startSpdyUpstream(backend: ExecBackend): Promise<{
  port: number;
  captures: UpstreamCapture[];
  sessions: Promise<void>[];
  close(): Promise<void>;
}> {
  const captures: UpstreamCapture[] = [];
  const sessions: Promise<void>[] = [];
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    const capture: UpstreamCapture = { received: [], written: [] };
    captures.push(capture);
    let head = new Uint8Array();
    const onHead = (chunk: Uint8Array) => {
      const joined = new Uint8Array(head.length + chunk.length);
      joined.set(head);
      joined.set(chunk, head.length);
      head = joined;
      const text = new TextDecoder("latin1").decode(head);
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) return;
      socket.off("data", onHead);
      const [line, ...lines] = text.slice(0, end).split("\r\n");
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(":");
        const k = l.slice(0, i).trim().toLowerCase();
        const v = l.slice(i + 1).trim();
        headers[k] = headers[k] ? `${headers[k]}, ${v}` : v;
      }
      const rest = head.slice(end + 4);
      if (rest.length) capture.received.push(rest);
      socket.on("data", (c: Uint8Array) => capture.received.push(c.slice()));
      let upgraded = false;
      const wrapped: SpdySocket = {
        write(c: Uint8Array) {
          if (upgraded) capture.written.push(c.slice());
          upgraded = true; // the first write is the 101 head
          return socket.write(c);
        },
        end: () => socket.end(),
        destroy: () => socket.destroy(),
        pause: () => socket.pause(),
        resume: () => socket.resume(),
        on: ((event: string, fn: (...args: unknown[]) => void) =>
          socket.on(event, fn)) as SpdySocket["on"],
      };
      sessions.push(serveSpdyExec({
        socket: wrapped,
        head: rest,
        request: { url: line!.split(" ")[1]!, headers },
        backend,
      }));
    };
    socket.on("data", onHead);
  });
  const { promise, resolve } = Promise.withResolvers<void>();
  server.listen(0, "127.0.0.1", () => resolve());
  await promise;
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    captures,
    sessions,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
