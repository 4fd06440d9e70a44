/**
 * The server side of the Kubernetes remote-command protocol over SPDY/3.1,
 * for the simulated cluster: what the kubelet does when kubectl sends
 * `POST …/exec` (or `…/attach`) with `Upgrade: SPDY/3.1`.
 *
 * 1. Negotiate `X-Stream-Protocol-Version` (v5 or v4, in the client's order)
 *    and answer `101 Switching Protocols`.
 * 2. Accept the client's streams (SYN_STREAM → SYN_REPLY), one per channel,
 *    named by `streamtype`, until every stream the query asks for is open.
 * 3. Start the command through an {@linkcode ExecBackend}; copy stdout and
 *    stderr into DATA frames (with socket back-pressure), stdin DATA and
 *    resize JSON into the process, and return flow-control credit
 *    (WINDOW_UPDATE, stream and session) for every DATA byte consumed.
 * 4. At exit: FIN on stdout and stderr, the `Status` JSON with FIN on the
 *    error stream, GOAWAY, close.
 *
 * The peer's receive window is not enforced: client-go's SPDY library
 * (`moby/spdystream`) never sends WINDOW_UPDATE, so a server that waited for
 * credit would stall after 64 KiB.
 *
 * The socket is typed structurally (a subset of Node's `net.Socket`), so this
 * module imports no runtime module.
 *
 * @module
 */

import {
  CHANNEL_ERROR,
  CHANNEL_RESIZE,
  CHANNEL_STDERR,
  CHANNEL_STDIN,
  CHANNEL_STDOUT,
  PROTOCOL_V4,
  PROTOCOL_V5,
} from "../k8s/constants.ts";
import {
  exitCodeStatus,
  type K8sStatus,
  SUCCESS_STATUS,
} from "../k8s/status.ts";
import { SpdyFrameDecoder } from "../k8s/spdy/frame_decoder.ts";
import { SpdyFrameEncoder } from "../k8s/spdy/frame_encoder.ts";
import { headerValue } from "../k8s/spdy/header_block.ts";
import { STREAM_TYPES } from "../k8s/spdy/spdy_channel_tap.ts";
import { goTarget } from "./go_request.ts";
import { matchRoute } from "./route_target.ts";

/** What to run, from the exec request's path and query. */
export interface ExecOptions {
  /** Namespace of the pod. */
  namespace: string;
  /** Pod name. */
  pod: string;
  /** Container name ("" when not given). */
  container: string;
  /** The command (`command=` query values). */
  argv: string[];
  /** The client sends stdin. */
  stdin: boolean;
  /** The client wants stdout. */
  stdout: boolean;
  /** The client wants stderr (never with a TTY). */
  stderr: boolean;
  /** The client has a terminal: stderr is merged into stdout, resizes come. */
  tty: boolean;
}

/** A running command, transport-neutral (SPDY or WebSocket). */
export interface ExecProcess {
  /** The command's stdout (with a TTY: the terminal output). */
  stdout: ReadableStream<Uint8Array>;
  /** The command's stderr (empty with a TTY). */
  stderr: ReadableStream<Uint8Array>;
  /** Writes to the command's stdin; resolves when it was taken. */
  writeStdin(chunk: Uint8Array): Promise<void>;
  /** Closes the command's stdin. */
  closeStdin(): void;
  /** The terminal was resized. */
  resize(width: number, height: number): void;
  /** Ends the command (the client went away). */
  kill(): void;
  /** Resolves with the exit code. */
  exit: Promise<number>;
}

/** Starts commands in simulated containers. */
export interface ExecBackend {
  /**
   * Starts a command.
   * @param options What to run.
   * @returns The running command.
   */
  start(options: ExecOptions): ExecProcess;
}

/** The part of a Node socket the server uses. */
export interface SpdySocket {
  write(chunk: Uint8Array): boolean;
  end(): void;
  destroy(): void;
  pause(): void;
  resume(): void;
  on(event: "data", fn: (chunk: Uint8Array) => void): unknown;
  on(event: "end" | "close" | "drain", fn: () => void): unknown;
  on(event: "error", fn: (err: Error) => void): unknown;
}

/** The request that asked for the upgrade. */
export interface SpdyExecRequest {
  /** Request target: path and query, e.g. `/api/v1/namespaces/…/exec?…`. */
  url: string;
  /**
   * Request headers (Node's `IncomingMessage.headers`: lower-case names,
   * repeated headers joined with ", " or given as an array).
   */
  headers: Record<string, string | string[] | undefined>;
}

/** Options of {@linkcode serveSpdyExec}. */
export interface ServeSpdyExecOptions {
  /** The upgraded socket, positioned after the request head. */
  socket: SpdySocket;
  /** Bytes the client sent after the request head (Node's `head`). */
  head?: Uint8Array;
  /** The request. */
  request: SpdyExecRequest;
  /** Runs the command. */
  backend: ExecBackend;
  /** What to run, when the caller has read the request already. @default {parseExecRequest(request.url)} */
  exec?: ExecOptions;
}

/** The protocols served, most preferred first. */
const SERVER_PROTOCOLS = [PROTOCOL_V5, PROTOCOL_V4];
/** Largest DATA payload written. */
const MAX_DATA = 32 * 1024;
/** Stdin bytes queued for the process before the socket is paused. */
const STDIN_QUEUE = 256 * 1024;

/**
 * Whether a request asks for a SPDY upgrade.
 * @param headers Request headers.
 * @returns True for `Upgrade: SPDY/3.1`.
 */
export function isSpdyUpgrade(
  headers: Record<string, string | string[] | undefined>,
): boolean {
  const up = headers["upgrade"];
  return typeof up === "string" && up.toLowerCase().startsWith("spdy/");
}

/**
 * Parses an exec or attach request target as kube-apiserver (or, for
 * `nodes/NODE/proxy/exec|attach/…`, the kubelet) reads it: routed on the
 * decoded path, options by the Kubernetes rules (see `route_target.ts`).
 * @param url Path and query, as received.
 * @returns The options.
 * @throws {SyntaxError} The target does not parse as Go would, the path is
 * not an exec/attach path, or no command was given for exec.
 */
export function parseExecRequest(url: string): ExecOptions {
  const route = matchRoute(goTarget(url));
  if (!route || !("kind" in route)) {
    throw new SyntaxError(
      `Cannot serve "${url}": not a pod exec or attach path, nor the kubelet's`,
    );
  }
  if (route.kind === "exec" && route.command.length === 0) {
    throw new SyntaxError(`Cannot serve "${url}": no command given`);
  }
  return {
    namespace: route.namespace,
    pod: route.pod,
    container: route.container,
    argv: route.command,
    stdin: route.stdin,
    stdout: route.stdout,
    stderr: route.stderr,
    tty: route.tty,
  };
}

/**
 * Picks the protocol: the client's first offer that the server speaks.
 * @param offered `X-Stream-Protocol-Version` values (repeated or joined).
 * @returns The protocol, or undefined.
 */
export function negotiateProtocol(
  offered: string | string[] | undefined,
): string | undefined {
  const list = (Array.isArray(offered) ? offered : [offered ?? ""])
    .flatMap((v) => v.split(","))
    .map((v) => v.trim());
  return list.find((p) => SERVER_PROTOCOLS.includes(p));
}

/** An HTTP/1.1 response head (and body): status line, headers, CRLF CRLF. */
function rawResponse(status: string, headers: string[], body = ""): Uint8Array {
  return new TextEncoder().encode(
    [`HTTP/1.1 ${status}`, ...headers, "", ""].join("\r\n") + body,
  );
}

/**
 * Serves one remote-command session over SPDY/3.1 on an upgraded socket:
 * answers the upgrade (101, or 400/403 with a `Status` when the request or
 * the protocol offer cannot be served), runs the command and ends the
 * session.
 * @param options Socket, request and backend.
 * @returns Resolves when the session is over and the socket ended.
 */
export async function serveSpdyExec(
  options: ServeSpdyExecOptions,
): Promise<void> {
  const { socket, request } = options;
  const fail = (code: number, reason: string, message: string) => {
    const body = JSON.stringify({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message,
      reason,
      code,
    });
    socket.write(
      rawResponse(`${code} ${reason}`, [
        "Content-Type: application/json",
        `Content-Length: ${new TextEncoder().encode(body).length}`,
        "Connection: close",
        `X-Accepted-Stream-Protocol-Versions: ${SERVER_PROTOCOLS.join(", ")}`,
      ], body),
    );
    socket.end();
  };
  let exec: ExecOptions;
  try {
    exec = options.exec ?? parseExecRequest(request.url);
  } catch (err) {
    return fail(400, "BadRequest", (err as Error).message);
  }
  const protocol = negotiateProtocol(
    request.headers["x-stream-protocol-version"],
  );
  if (!protocol) {
    return fail(
      403,
      "Forbidden",
      `unable to upgrade: none of the offered stream protocols ("${
        request.headers["x-stream-protocol-version"] ?? ""
      }") is supported: ${SERVER_PROTOCOLS.join(", ")}`,
    );
  }
  socket.write(rawResponse("101 Switching Protocols", [
    "Connection: Upgrade",
    "Upgrade: SPDY/3.1",
    `X-Stream-Protocol-Version: ${protocol}`,
  ]));
  await new SpdyExecSession(socket, exec, options.backend).run(options.head);
}

/** One SPDY exec session after the 101. */
class SpdyExecSession {
  #socket: SpdySocket;
  #exec: ExecOptions;
  #backend: ExecBackend;
  #decoder = new SpdyFrameDecoder();
  #encoder = new SpdyFrameEncoder();
  #streams = new Map<number, number>(); // channel → stream id
  #expected: number[];
  #process: ExecProcess | undefined;
  #stdinChain: Promise<void> = Promise.resolve();
  #stdinQueued = 0;
  #resizeLine = "";
  #closed = false;
  #drainWaiters: (() => void)[] = [];
  #started = Promise.withResolvers<ExecProcess | undefined>();
  #gone = false;
  #lastStream = 0;

  constructor(socket: SpdySocket, exec: ExecOptions, backend: ExecBackend) {
    this.#socket = socket;
    this.#exec = exec;
    this.#backend = backend;
    this.#expected = [CHANNEL_ERROR];
    if (exec.stdin) this.#expected.push(CHANNEL_STDIN);
    if (exec.stdout) this.#expected.push(CHANNEL_STDOUT);
    if (exec.stderr) this.#expected.push(CHANNEL_STDERR);
    if (exec.tty) this.#expected.push(CHANNEL_RESIZE);
  }

  async run(head: Uint8Array | undefined): Promise<void> {
    const s = this.#socket;
    s.on("data", (chunk) => this.#onData(chunk));
    s.on("drain", () => this.#drained());
    s.on("error", () => this.#onGone());
    s.on("end", () => this.#onGone());
    s.on("close", () => this.#onGone());
    if (head && head.length > 0) this.#onData(head);
    const proc = await this.#started.promise;
    if (!proc) return;
    const pumps = [
      this.#pump(proc.stdout, CHANNEL_STDOUT),
      this.#pump(proc.stderr, CHANNEL_STDERR),
    ];
    const code = await proc.exit;
    await Promise.all(pumps);
    if (this.#closed) return;
    const status: K8sStatus = code === 0
      ? SUCCESS_STATUS
      : exitCodeStatus(code);
    for (const ch of [CHANNEL_STDOUT, CHANNEL_STDERR]) {
      const id = this.#streams.get(ch);
      if (id !== undefined) this.#data(id, new Uint8Array(), true);
    }
    this.#data(
      this.#streams.get(CHANNEL_ERROR)!,
      new TextEncoder().encode(JSON.stringify(status)),
      true,
    );
    this.#send({
      kind: "goaway",
      lastGoodStreamId: this.#lastStream,
      status: 0,
    });
    this.#closed = true;
    s.end();
  }

  #onGone(): void {
    if (this.#gone) return;
    this.#gone = true;
    const finished = this.#closed;
    this.#closed = true;
    this.#drained();
    if (!finished) this.#process?.kill();
    this.#started.resolve(undefined);
  }

  #send(frame: Parameters<SpdyFrameEncoder["encode"]>[0]): boolean {
    if (this.#closed) return true;
    return this.#socket.write(this.#encoder.encode(frame));
  }

  #data(streamId: number, data: Uint8Array, fin: boolean): boolean {
    return this.#send({ kind: "data", streamId, data, fin });
  }

  #drained(): void {
    for (const w of this.#drainWaiters.splice(0)) w();
  }

  async #pump(stream: ReadableStream<Uint8Array>, channel: number) {
    const id = this.#streams.get(channel);
    for await (const chunk of stream) {
      if (this.#closed) continue; // drain the process output
      if (id === undefined) continue; // the client did not ask for it
      for (let off = 0; off < chunk.length; off += MAX_DATA) {
        const ok = this.#data(id, chunk.subarray(off, off + MAX_DATA), false);
        if (!ok && !this.#closed) {
          await new Promise<void>((r) => this.#drainWaiters.push(r));
        }
      }
    }
  }

  #onData(chunk: Uint8Array): void {
    let frames;
    try {
      frames = this.#decoder.push(chunk);
    } catch (err) {
      this.#send({
        kind: "goaway",
        lastGoodStreamId: this.#lastStream,
        status: 1,
      });
      void err; // a malformed session is ended, as the kubelet does
      this.#socket.end();
      this.#onGone();
      return;
    }
    for (const { frame: f } of frames) {
      switch (f.kind) {
        case "syn_stream": {
          this.#lastStream = Math.max(this.#lastStream, f.streamId);
          const type = headerValue(f.headers, "streamtype") ?? "";
          const channel = STREAM_TYPES[type];
          if (channel === undefined || this.#streams.has(channel)) {
            this.#send({ kind: "rst_stream", streamId: f.streamId, status: 1 });
            break;
          }
          this.#streams.set(channel, f.streamId);
          this.#send({
            kind: "syn_reply",
            streamId: f.streamId,
            fin: false,
            headers: [],
          });
          if (f.fin) this.#clientFin(channel);
          this.#maybeStart();
          break;
        }
        case "data":
          this.#onStreamData(f.streamId, f.data, f.fin);
          break;
        case "ping":
          this.#send(f);
          break;
        case "goaway":
          break;
        default:
          break;
      }
    }
  }

  #maybeStart(): void {
    if (this.#process || this.#closed) return;
    if (!this.#expected.every((ch) => this.#streams.has(ch))) return;
    this.#process = this.#backend.start(this.#exec);
    this.#started.resolve(this.#process);
  }

  #channelOf(streamId: number): number | undefined {
    for (const [ch, id] of this.#streams) if (id === streamId) return ch;
    return undefined;
  }

  #credit(streamId: number, n: number): void {
    if (n === 0) return;
    this.#send({ kind: "window_update", streamId, delta: n });
    this.#send({ kind: "window_update", streamId: 0, delta: n });
  }

  #onStreamData(streamId: number, data: Uint8Array, fin: boolean): void {
    const channel = this.#channelOf(streamId);
    if (channel === CHANNEL_STDIN && data.length > 0) {
      const copy = data.slice();
      this.#stdinQueued += copy.length;
      if (this.#stdinQueued > STDIN_QUEUE) this.#socket.pause();
      this.#stdinChain = this.#stdinChain
        .then(async () => (await this.#started.promise)?.writeStdin(copy))
        .catch(() => {})
        .then(() => {
          this.#stdinQueued -= copy.length;
          if (this.#stdinQueued <= STDIN_QUEUE) this.#socket.resume();
          this.#credit(streamId, copy.length);
        });
    } else if (channel === CHANNEL_RESIZE) {
      this.#resizeLine += new TextDecoder().decode(data);
      const lines = this.#resizeLine.split("\n");
      this.#resizeLine = lines.pop()!;
      for (const line of lines) this.#resize(line);
      this.#credit(streamId, data.length);
    } else {
      this.#credit(streamId, data.length);
    }
    if (fin && channel !== undefined) this.#clientFin(channel);
  }

  #resize(line: string): void {
    if (line.trim() === "") return;
    try {
      const { Width, Height } = JSON.parse(line);
      if (Number.isInteger(Width) && Number.isInteger(Height)) {
        void this.#started.promise.then((p) => p?.resize(Width, Height));
      }
    } catch {
      // kubelet logs and ignores a bad resize message
    }
  }

  #clientFin(channel: number): void {
    if (channel === CHANNEL_STDIN) {
      this.#stdinChain = this.#stdinChain
        .then(async () => (await this.#started.promise)?.closeStdin());
    }
    if (channel === CHANNEL_RESIZE && this.#resizeLine !== "") {
      this.#resize(this.#resizeLine);
      this.#resizeLine = "";
    }
  }
}

/** The part of a Node `Readable` that {@linkcode execProcessFromNode} uses. */
export interface NodeReadableLike {
  on(event: "data", fn: (chunk: Uint8Array) => void): unknown;
  on(event: "end" | "close", fn: () => void): unknown;
  on(event: "error", fn: (err: Error) => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

/** The part of a Node `Writable` that {@linkcode execProcessFromNode} uses. */
export interface NodeWritableLike {
  write(chunk: Uint8Array): boolean;
  end(): unknown;
  once(event: "drain" | "close", fn: () => void): unknown;
  readonly writableEnded?: boolean;
  readonly destroyed?: boolean;
}

/**
 * A process with Node-style stdio (the devcluster's `ContainerProcess`, a
 * `ChildProcess` wrapper, …).
 */
export interface NodeStyleProcess {
  /** stdin, or null when the process has none. */
  readonly stdin: NodeWritableLike | null;
  /** stdout (with a TTY: the terminal output). */
  readonly stdout: NodeReadableLike;
  /** stderr, or null with a TTY. */
  readonly stderr: NodeReadableLike | null;
  /** Resizes the terminal. */
  resize(cols: number, rows: number): void;
  /** Resolves with the exit code once the process exited and its output ended. */
  readonly exited: Promise<number>;
  /** Ends the process. */
  kill(): void;
}

/** Largest output buffered in a web stream before the Node stream is paused. */
const OUTPUT_HIGH_WATER = 64 * 1024;

function webReadable(r: NodeReadableLike | null): ReadableStream<Uint8Array> {
  if (!r) return new ReadableStream({ start: (c) => c.close() });
  let done = false;
  return new ReadableStream<Uint8Array>({
    start(c) {
      r.on("data", (chunk) => {
        if (done) return;
        c.enqueue(new Uint8Array(chunk));
        if ((c.desiredSize ?? 1) <= 0) r.pause();
      });
      const close = () => {
        if (!done) (done = true, c.close());
      };
      r.on("end", close);
      r.on("close", close);
      r.on("error", (err) => {
        if (!done) (done = true, c.error(err));
      });
    },
    pull() {
      r.resume();
    },
  }, { highWaterMark: OUTPUT_HIGH_WATER, size: (c) => c.byteLength });
}

/**
 * Adapts a process with Node-style stdio to {@linkcode ExecProcess}, with
 * back-pressure both ways (a full web stream pauses the Node stream; a full
 * stdin pipe delays `writeStdin`).
 * @param p The process.
 * @returns The transport-neutral process.
 * @example
 * ```ts ignore
 * import { spawnContainerProcess } from "./container_process.ts";
 * const backend: ExecBackend = {
 *   start: (o) => execProcessFromNode(spawnContainerProcess({ ...o, cwd: "/tmp" })),
 * };
 * ```
 */
export function execProcessFromNode(p: NodeStyleProcess): ExecProcess {
  const stdin = p.stdin;
  return {
    stdout: webReadable(p.stdout),
    stderr: webReadable(p.stderr),
    writeStdin: (chunk) =>
      new Promise<void>((resolve) => {
        if (!stdin || stdin.writableEnded || stdin.destroyed) return resolve();
        if (stdin.write(chunk)) return resolve();
        stdin.once("drain", resolve);
        stdin.once("close", resolve);
      }),
    closeStdin: () => {
      if (stdin && !stdin.writableEnded) stdin.end();
    },
    resize: (w, h) => p.resize(w, h),
    kill: () => p.kill(),
    exit: p.exited,
  };
}
