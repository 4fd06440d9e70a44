/**
 * A minimal, fast exec server for the benchmark: TLS (`node:tls` with
 * `TCP_NODELAY`, or `Deno.listenTls`), HTTP/1.1 read by hand, and `pods/exec` over the
 * WebSocket channel protocol (`v5.channel.k8s.io`, `v4.channel.k8s.io`).
 * It does nothing else, so the cost the benchmark sees through a proxy is the
 * proxy's own, not the simulated cluster's.
 *
 * Commands (`command=` query values; the devcluster's names work too):
 *
 * | command | does |
 * | --- | --- |
 * | `gen BYTES` (`execgate-gen`) | writes BYTES bytes of `x` to stdout as fast as the reader takes them (every write awaited: TCP back-pressure), then `Success` |
 * | `echo` (`execgate-echo`) | copies each stdin message to stdout; `Success` when stdin closes |
 * | `sink BYTES_PER_SEC [SECONDS]` | reads stdin at that rate (the socket is read no faster, so the sender is back-pressured); `Success` when stdin closes or after SECONDS, reading or not |
 *
 * `gen` starts at the client's first message (as the devcluster with
 * `startDelayMs` does), so a client can open many sessions and release them
 * together. Stdout goes out in frames of `frameBytes` (like the kubelet's
 * 32 KiB copies), several frames per TLS write.
 *
 * For real kubectl: `GET /version`, `/api`, `/apis`, `/api/v1` and
 * `GET …/pods/NAME` answer minimal objects. Any bearer token is accepted.
 *
 * @module
 */

import tls from "node:tls";
import { encodeWsFrame, WsFrameParser } from "../../src/k8s/ws_frame.ts";

/** Options of {@linkcode startFastUpstream}. */
export interface FastUpstreamOptions {
  /** Serving certificate, PEM (a leaf issued by a CA: rustls refuses a self-signed CA as a leaf). */
  certPem: string;
  /** Its private key, PEM. */
  keyPem: string;
  /** Address. @default {"127.0.0.1"} */
  hostname?: string;
  /** Port. @default {0} (a free one) */
  port?: number;
  /** Stdout payload per WebSocket frame (channel byte excluded). @default {32768} */
  frameBytes?: number;
  /** Stdout bytes per TLS write (whole frames). @default {1048576} */
  writeBytes?: number;
  /**
   * TLS server: `node` (`node:tls`, with `TCP_NODELAY`) or `deno`
   * (`Deno.listenTls`, faster, but its connections cannot turn Nagle off:
   * a 101 written while the session ticket is unacknowledged waits ~40 ms
   * for the client's delayed ACK, measured on every other Deno client
   * connection, while a Go client is not delayed).
   * @default {"node"}
   */
  tls?: "node" | "deno";
}

/** The few socket operations the server needs, over either TLS stack. */
interface ByteConn {
  /** Reads into `buf`; null at EOF. */
  read(buf: Uint8Array): Promise<number | null>;
  /** Writes all or part of `b`; resolves with the count once taken. */
  write(b: Uint8Array): Promise<number>;
  /** Closes; never throws. */
  close(): void;
}

function denoConn(conn: Deno.Conn): ByteConn {
  return {
    read: (buf) => conn.read(buf),
    write: (b) => conn.write(b),
    close() {
      try {
        conn.close();
      } catch { /* closed */ }
    },
  };
}

/** A `node:tls` socket as a {@linkcode ByteConn}, paused while nobody reads. */
function nodeConn(socket: tls.TLSSocket): ByteConn {
  const queue: Uint8Array[] = [];
  let ended = false;
  let failed: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  socket.on("data", (d: Uint8Array) => {
    queue.push(d);
    socket.pause(); // one chunk ahead at most: back-pressure
    notify();
  });
  socket.on("end", () => {
    ended = true;
    notify();
  });
  socket.on("close", () => {
    ended = true;
    notify();
  });
  socket.on("error", (e: Error) => {
    failed = e;
    notify();
  });
  return {
    async read(buf) {
      while (queue.length === 0) {
        if (failed) throw failed;
        if (ended) return null;
        socket.resume();
        await new Promise<void>((r) => (wake = r));
      }
      const head = queue[0]!;
      const n = Math.min(buf.length, head.length);
      buf.set(head.subarray(0, n));
      if (n === head.length) queue.shift();
      else queue[0] = head.subarray(n);
      return n;
    },
    write(b) {
      if (failed) return Promise.reject(failed);
      if (socket.destroyed) {
        return Promise.reject(new Error("Cannot write: socket closed"));
      }
      return new Promise<number>((resolve, reject) => {
        const ok = socket.write(b, (e?: Error | null) => {
          if (e) reject(e);
        });
        if (ok) return resolve(b.length);
        const onDrain = () => {
          socket.off("close", onClose);
          resolve(b.length);
        };
        const onClose = () => {
          socket.off("drain", onDrain);
          reject(new Error("Cannot write: socket closed"));
        };
        socket.once("drain", onDrain);
        socket.once("close", onClose);
      });
    },
    close() {
      socket.destroy();
    },
  };
}

/** A running fast upstream. */
export interface FastUpstream {
  /** `https://127.0.0.1:PORT`. */
  url: string;
  /** Sessions served so far. */
  readonly sessions: number;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const SUCCESS = enc.encode('{"metadata":{},"status":"Success"}');
const HEAD_LIMIT = 64 * 1024;

/**
 * Starts the server.
 * @param o Certificate and tuning.
 * @returns The running server.
 * @example
 * ```ts ignore
 * import { startFastUpstream } from "./fast_upstream.ts";
 * const up = await startFastUpstream({ certPem, keyPem });
 * // wss://…/api/v1/namespaces/default/pods/demo/exec?command=gen&command=1048576&stdout=true
 * await up.close();
 * ```
 */
export async function startFastUpstream(
  o: FastUpstreamOptions,
): Promise<FastUpstream> {
  const frameBytes = o.frameBytes ?? 32 * 1024;
  const writeBytes = Math.max(frameBytes, o.writeBytes ?? 1024 * 1024);
  const conns = new Set<ByteConn>();
  let sessions = 0;
  const handle = (conn: ByteConn) => {
    conns.add(conn);
    serveConn(conn, { frameBytes, writeBytes, onSession: () => sessions++ })
      .catch(() => {})
      .finally(() => {
        conns.delete(conn);
        conn.close();
      });
  };
  let port: number;
  let stop: () => Promise<void>;
  if ((o.tls ?? "node") === "deno") {
    const listener = Deno.listenTls({
      hostname: o.hostname ?? "127.0.0.1",
      port: o.port ?? 0,
      cert: o.certPem,
      key: o.keyPem,
      alpnProtocols: ["http/1.1"],
    });
    port = (listener.addr as Deno.NetAddr).port;
    const loop = (async () => {
      for await (const conn of listener) handle(denoConn(conn));
    })().catch(() => {});
    stop = async () => {
      listener.close();
      await loop;
    };
  } else {
    const server = tls.createServer({
      cert: o.certPem,
      key: o.keyPem,
      ALPNProtocols: ["http/1.1"],
    }, (socket) => {
      socket.setNoDelay(true);
      handle(nodeConn(socket));
    });
    server.on("tlsClientError", () => {});
    await new Promise<void>((resolve) =>
      server.listen(o.port ?? 0, o.hostname ?? "127.0.0.1", resolve)
    );
    port = (server.address() as { port: number }).port;
    stop = () => new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return {
    url: `https://127.0.0.1:${port}`,
    get sessions() {
      return sessions;
    },
    async close() {
      for (const c of conns) c.close();
      await stop();
    },
  };
}

interface ConnSettings {
  frameBytes: number;
  writeBytes: number;
  onSession: () => void;
}

interface Request {
  method: string;
  target: string;
  headers: Map<string, string>;
}

async function writeAll(conn: ByteConn, b: Uint8Array): Promise<void> {
  let off = 0;
  while (off < b.length) off += await conn.write(b.subarray(off));
}

/** Reads one request head; returns it and the bytes after it. */
async function readHead(
  conn: ByteConn,
  carry: Uint8Array,
): Promise<{ req: Request; rest: Uint8Array } | undefined> {
  let buf = carry;
  const chunk = new Uint8Array(16 * 1024);
  for (;;) {
    const end = headEnd(buf);
    if (end >= 0) {
      const lines = dec.decode(buf.subarray(0, end - 4)).split("\r\n");
      const [method = "", target = ""] = (lines[0] ?? "").split(" ");
      const headers = new Map<string, string>();
      for (const l of lines.slice(1)) {
        const i = l.indexOf(":");
        if (i > 0) {
          const k = l.slice(0, i).trim().toLowerCase();
          const v = l.slice(i + 1).trim();
          headers.set(k, headers.has(k) ? `${headers.get(k)}, ${v}` : v);
        }
      }
      return { req: { method, target, headers }, rest: buf.slice(end) };
    }
    if (buf.length > HEAD_LIMIT) return undefined;
    const n = await conn.read(chunk);
    if (n === null) return undefined;
    const next = new Uint8Array(buf.length + n);
    next.set(buf);
    next.set(chunk.subarray(0, n), buf.length);
    buf = next;
  }
}

function headEnd(b: Uint8Array): number {
  for (let i = 3; i < b.length; i++) {
    if (b[i] === 10 && b[i - 1] === 13 && b[i - 2] === 10 && b[i - 3] === 13) {
      return i + 1;
    }
  }
  return -1;
}

async function serveConn(conn: ByteConn, s: ConnSettings): Promise<void> {
  let carry: Uint8Array = new Uint8Array(0);
  for (;;) {
    const got = await readHead(conn, carry);
    if (!got) return;
    const { req } = got;
    carry = got.rest;
    const url = new URL(req.target, "https://upstream.invalid");
    const exec = /^\/api\/v1\/namespaces\/[^/]+\/pods\/[^/]+\/(exec|attach)$/
      .test(
        url.pathname,
      );
    const upgrade = (req.headers.get("upgrade") ?? "").toLowerCase();
    if (exec && upgrade === "websocket" && req.method === "GET") {
      s.onSession();
      await execSession(conn, req, url, carry, s);
      return;
    }
    // Request bodies are not expected here; skip a declared one.
    const length = Number(req.headers.get("content-length") ?? 0);
    if (length > 0) carry = carry.subarray(Math.min(length, carry.length));
    const [status, body] = answer(req.method, url.pathname);
    const bytes = enc.encode(JSON.stringify(body));
    await writeAll(
      conn,
      enc.encode(
        `HTTP/1.1 ${status}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${bytes.length}\r\n\r\n`,
      ),
    );
    await writeAll(conn, bytes);
    if ((req.headers.get("connection") ?? "").toLowerCase() === "close") {
      return;
    }
  }
}

/** Minimal answers for kubectl's discovery and pod lookup. */
function answer(method: string, path: string): [string, unknown] {
  if (method !== "GET") return ["405 Method Not Allowed", status(405, "")];
  if (path === "/version") {
    return ["200 OK", {
      major: "1",
      minor: "33",
      gitVersion: "v1.33.0-fast-upstream",
      platform: "linux/amd64",
    }];
  }
  if (path === "/api") {
    return ["200 OK", {
      kind: "APIVersions",
      versions: ["v1"],
      serverAddressByClientCIDRs: [],
    }];
  }
  if (path === "/apis") {
    return ["200 OK", { kind: "APIGroupList", apiVersion: "v1", groups: [] }];
  }
  if (path === "/api/v1") {
    return ["200 OK", {
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
    }];
  }
  const pod = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(path);
  if (pod) {
    return ["200 OK", {
      kind: "Pod",
      apiVersion: "v1",
      metadata: { name: pod[2], namespace: pod[1] },
      spec: { containers: [{ name: "main", image: "fast-upstream" }] },
      status: { phase: "Running" },
    }];
  }
  return ["404 Not Found", status(404, `${path} not found`)];
}

function status(code: number, message: string) {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    code,
  };
}

async function acceptKey(key: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-1", enc.encode(key + WS_GUID));
  return btoa(String.fromCharCode(...new Uint8Array(d)));
}

function channelFrame(channel: number, data: Uint8Array): Uint8Array {
  const payload = new Uint8Array(data.length + 1);
  payload[0] = channel;
  payload.set(data, 1);
  return encodeWsFrame({ opcode: 2, payload });
}

async function execSession(
  conn: ByteConn,
  req: Request,
  url: URL,
  carry: Uint8Array,
  s: ConnSettings,
): Promise<void> {
  const offered = (req.headers.get("sec-websocket-protocol") ?? "")
    .split(",").map((p) => p.trim());
  const protocol = offered.includes("v5.channel.k8s.io")
    ? "v5.channel.k8s.io"
    : "v4.channel.k8s.io";
  const accept = await acceptKey(req.headers.get("sec-websocket-key") ?? "");
  await writeAll(
    conn,
    enc.encode(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" +
        `Connection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n` +
        `Sec-WebSocket-Protocol: ${protocol}\r\n\r\n`,
    ),
  );
  const argv = url.searchParams.getAll("command");
  const name = (argv[0] ?? "").replace(/^execgate-/, "");
  const arg = Number(argv[1] ?? 0);

  // One writer at a time; each write awaited (TCP back-pressure).
  let writing: Promise<void> = Promise.resolve();
  const write = (
    b: Uint8Array,
  ) => (writing = writing.then(() => writeAll(conn, b)));
  let finished = false;
  const finish = async (
    statusBody: Uint8Array = SUCCESS,
  ): Promise<void> => {
    if (finished) return;
    finished = true;
    await write(channelFrame(3, statusBody));
    await write(
      encodeWsFrame({ opcode: 8, payload: new Uint8Array([0x03, 0xe8]) }),
    );
  };

  let started!: () => void;
  const start = new Promise<void>((r) => (started = r));
  let stdinClosed!: () => void;
  const stdinEnd = new Promise<void>((r) => (stdinClosed = r));
  let gotClose = false;

  const onStdin = name === "echo"
    ? (d: Uint8Array) => write(channelFrame(1, d))
    : undefined;
  const rate = name === "sink" ? Math.max(1, arg) : 0;

  const reader = (async () => {
    const parser = new WsFrameParser({ maxFramePayload: 64 * 1024 * 1024 });
    const buf = new Uint8Array(
      rate ? Math.max(1024, Math.min(65536, Math.floor(rate / 10))) : 65536,
    );
    const t0 = performance.now();
    let readBytes = 0;
    let data = carry;
    for (;;) {
      for (const f of parser.push(data)) {
        started();
        if (f.opcode === 8) {
          gotClose = true;
          stdinClosed();
          return;
        }
        if (f.opcode !== 2 && f.opcode !== 0) continue;
        const ch = f.payload[0];
        if (ch === 0 && onStdin) await onStdin(f.payload.subarray(1));
        else if (ch === 255) stdinClosed();
      }
      if (rate) {
        const due = t0 + (readBytes / rate) * 1000;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      const n = await conn.read(buf);
      if (n === null) {
        stdinClosed();
        started();
        return;
      }
      readBytes += n;
      data = buf.subarray(0, n);
    }
  })().catch(() => {
    stdinClosed();
    started();
  });

  try {
    if (name === "gen") {
      await start;
      await genStdout(write, arg, s);
      await finish();
    } else if (name === "echo" || name === "sink") {
      const limit = name === "sink" ? Number(argv[2] ?? 0) : 0;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        stdinEnd,
        ...(limit > 0
          ? [new Promise((r) => (timer = setTimeout(r, limit * 1000)))]
          : []),
      ]);
      clearTimeout(timer);
      if (!gotClose) await finish();
    } else {
      await finish(
        enc.encode(JSON.stringify({
          ...status(
            400,
            `fast upstream: unknown command ${JSON.stringify(argv)}`,
          ),
          reason: "BadRequest",
        })),
      );
    }
    await writing;
  } catch {
    return; // the client went away
  }
  // Wait for the client's close (or EOF), briefly.
  await Promise.race([
    reader,
    new Promise((r) => setTimeout(r, 5000)),
  ]);
}

const buffers = new Map<string, GenBuffers>();

interface GenBuffers {
  frame: Uint8Array;
  batch: Uint8Array;
  perWrite: number;
}

/** One frame and one batch of frames, shared read-only by every session. */
function genBuffers(s: ConnSettings): GenBuffers {
  const key = `${s.frameBytes}/${s.writeBytes}`;
  let b = buffers.get(key);
  if (!b) {
    const frame = channelFrame(1, new Uint8Array(s.frameBytes).fill(0x78));
    const perWrite = Math.max(1, Math.floor(s.writeBytes / s.frameBytes));
    const batch = new Uint8Array(frame.length * perWrite);
    for (let i = 0; i < perWrite; i++) batch.set(frame, i * frame.length);
    b = { frame, batch, perWrite };
    buffers.set(key, b);
  }
  return b;
}

/** Writes `total` bytes of `x` on stdout in frames, several per write. */
async function genStdout(
  write: (b: Uint8Array) => Promise<void>,
  total: number,
  s: ConnSettings,
): Promise<void> {
  const { frame, batch, perWrite } = genBuffers(s);
  let left = total;
  while (left >= s.frameBytes * perWrite) {
    await write(batch);
    left -= s.frameBytes * perWrite;
  }
  while (left >= s.frameBytes) {
    await write(frame);
    left -= s.frameBytes;
  }
  if (left > 0) await write(channelFrame(1, new Uint8Array(left).fill(0x78)));
}
