/**
 * The kubelet's side of `kubectl port-forward` over SPDY/3.1 (protocol
 * `portforward.k8s.io`), after the 101: the same session whether the SPDY
 * bytes run on the upgraded TCP socket (kubectl ≤ 1.30, or
 * `KUBECTL_PORT_FORWARD_WEBSOCKETS=false`) or tunnelled in WebSocket binary
 * messages (`SPDY/3.1+portforward.k8s.io`, kubectl ≥ 1.31; see
 * `websocket_link.ts`).
 *
 * ```
 * kubectl                                   simulated kubelet
 * SYN_STREAM 1 streamtype=error port=80 requestid=0  → SYN_REPLY 1
 * DATA 1 FIN (kubectl never writes on it)
 * SYN_STREAM 3 streamtype=data  port=80 requestid=0  → SYN_REPLY 3, dial pod:80
 * DATA 3 …  ⇄  DATA 3 …          (bytes of one TCP connection, both ways)
 * DATA 3 FIN (local side done)  → FIN to the pod's server
 *                               ← DATA 3 FIN (the pod's server closed)
 * RST_STREAM 3 (kubectl, once its copy ended)
 *                               ← DATA 1 "error forwarding port …" (on failure)
 *                               ← DATA 1 FIN
 * ```
 *
 * Each local connection kubectl accepts is a pair of streams, error and
 * data, joined by their `requestid` header (or, for clients that send none,
 * by stream id as the kubelet guesses: error id, data id - 2). A stream with
 * a missing or bad `port` or `streamtype` is reset, as the kubelet's
 * `httpStreamReceived` rejects it. Flow control: every DATA byte received is
 * credited back at once (WINDOW_UPDATE); a pod that reads slowly pauses the
 * whole link, as the kubelet's SPDY reader blocks. The client's receive
 * window is not enforced (client-go never sends WINDOW_UPDATE; see
 * `spdy_server.ts`).
 *
 * Sources: kubernetes `pkg/kubelet/cri/streaming/portforward/httpstream.go`,
 * `staging/src/k8s.io/client-go/tools/portforward/portforward.go`
 * (`handleConnection`), `moby/spdystream` (`Reset` sends CANCEL).
 *
 * @module
 */

import { SpdyFrameDecoder } from "../k8s/spdy/frame_decoder.ts";
import { SpdyFrameEncoder } from "../k8s/spdy/frame_encoder.ts";
import { headerValue, type SpdyHeaders } from "../k8s/spdy/header_block.ts";
import { PodConnection, type PodIdentity } from "./pod_connection.ts";
import type { PortTarget } from "./pod_ports.ts";
import type { SpdySocket } from "./spdy_server.ts";

/** The port-forward protocol over SPDY (`X-Stream-Protocol-Version`). */
export const PORTFORWARD_PROTOCOL_V1 = "portforward.k8s.io";

/** What a port-forward session forwards to. */
export interface PortForwardBackend {
  /** The pod (for the kubelet's error messages). */
  pod: PodIdentity;
  /**
   * The local address behind a pod port.
   * @param port The pod port.
   * @returns The address, or undefined when nothing listens there.
   */
  lookup(port: number): Required<PortTarget> | undefined;
}

/** RST_STREAM status of spdystream's `Reset`. */
const RST_CANCEL = 5;
/** RST_STREAM status for a stream id a client may not use. */
const RST_PROTOCOL_ERROR = 1;
/** Largest DATA payload written. */
const MAX_DATA = 32 * 1024;

/** The error and data streams of one forwarded connection. */
interface Pair {
  requestId: string;
  error?: number;
  data?: number;
  conn?: PodConnection;
  /** Client bytes that came before the connection was dialled. */
  early: Uint8Array[];
  earlyEnd: boolean;
  dataReset: boolean;
  errorReset: boolean;
  dataFinSent: boolean;
}

/**
 * Reads a `port` stream header as `strconv.ParseUint(s, 10, 16)` and the
 * kubelet's `> 0` check do.
 * @param text The header value.
 * @returns The port, or undefined when the kubelet would reject it.
 */
function streamPort(text: string | undefined): number | undefined {
  if (text === undefined || !/^[0-9]+$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/**
 * Serves port-forward streams on a link until the client goes away.
 * @param link The upgraded connection (a socket, or a WebSocket tunnel).
 * @param backend The pod and its ports.
 * @param head Bytes that came with the upgrade request. @default {none}
 * @returns Resolves when the link is closed; every pod connection is closed
 * by then or being closed.
 * @example
 * ```ts ignore
 * import { serveSpdyPortForward } from "./portforward_spdy.ts";
 * socket.write("HTTP/1.1 101 Switching Protocols\r\n…\r\n\r\n");
 * await serveSpdyPortForward(socket, { pod, lookup: (p) => ports.lookup(ns, name, p) }, head);
 * ```
 */
export function serveSpdyPortForward(
  link: SpdySocket,
  backend: PortForwardBackend,
  head?: Uint8Array,
): Promise<void> {
  return new SpdyPortForwardSession(link, backend).run(head);
}

class SpdyPortForwardSession {
  #link: SpdySocket;
  #backend: PortForwardBackend;
  #decoder = new SpdyFrameDecoder();
  #encoder = new SpdyFrameEncoder();
  #pairs = new Map<string, Pair>();
  #streams = new Map<number, { pair: Pair; type: "error" | "data" }>();
  /** The `port` header of each open stream. */
  #ports = new Map<number, number>();
  #lastStream = 0;
  #closed = false;
  /** Pod connections whose TCP buffer is full (the link is paused). */
  #blocked = new Set<PodConnection>();
  /** Pod connections paused because the link's buffer is full. */
  #waiting = new Set<PodConnection>();
  #gone = Promise.withResolvers<void>();

  constructor(link: SpdySocket, backend: PortForwardBackend) {
    this.#link = link;
    this.#backend = backend;
  }

  run(head: Uint8Array | undefined): Promise<void> {
    const l = this.#link;
    l.on("data", (chunk) => this.#onData(chunk));
    l.on("drain", () => {
      const waiting = [...this.#waiting];
      this.#waiting.clear();
      for (const c of waiting) c.resume();
    });
    l.on("error", () => this.#onGone());
    l.on("end", () => this.#onGone());
    l.on("close", () => this.#onGone());
    if (head && head.length > 0) this.#onData(head);
    return this.#gone.promise;
  }

  #onGone(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of this.#pairs.values()) p.conn?.destroy();
    this.#pairs.clear();
    this.#streams.clear();
    this.#ports.clear();
    this.#link.end();
    this.#gone.resolve();
  }

  #send(frame: Parameters<SpdyFrameEncoder["encode"]>[0]): boolean {
    if (this.#closed) return true;
    return this.#link.write(this.#encoder.encode(frame));
  }

  #onData(chunk: Uint8Array): void {
    if (this.#closed) return;
    let frames;
    try {
      frames = this.#decoder.push(chunk);
    } catch {
      // A malformed session is ended, as the kubelet's SPDY reader does.
      this.#send({
        kind: "goaway",
        lastGoodStreamId: this.#lastStream,
        status: 1,
      });
      this.#onGone();
      return;
    }
    for (const { frame: f } of frames) {
      switch (f.kind) {
        case "syn_stream":
          this.#onStream(f.streamId, f.headers, f.fin);
          break;
        case "data":
          this.#onStreamData(f.streamId, f.data, f.fin);
          break;
        case "rst_stream":
          this.#onReset(f.streamId);
          break;
        case "ping":
          this.#send(f);
          break;
        default:
          break; // SETTINGS, WINDOW_UPDATE, GOAWAY: the socket's end ends us
      }
    }
  }

  #onStream(id: number, headers: SpdyHeaders, fin: boolean): void {
    if (id % 2 === 0 || id <= this.#lastStream) {
      this.#send({
        kind: "rst_stream",
        streamId: id,
        status: RST_PROTOCOL_ERROR,
      });
      return;
    }
    this.#lastStream = id;
    const type = headerValue(headers, "streamtype");
    const port = streamPort(headerValue(headers, "port"));
    if (
      port === undefined ||
      (type !== "error" && type !== "data")
    ) {
      this.#send({ kind: "rst_stream", streamId: id, status: RST_CANCEL });
      return;
    }
    const requestId = headerValue(headers, "requestid") ||
      String(type === "error" ? id : id - 2);
    let pair = this.#pairs.get(requestId);
    if (!pair) {
      pair = {
        requestId,
        early: [],
        earlyEnd: false,
        dataReset: false,
        errorReset: false,
        dataFinSent: false,
      };
      this.#pairs.set(requestId, pair);
    }
    this.#send({ kind: "syn_reply", streamId: id, fin: false, headers: [] });
    if (pair[type] !== undefined) {
      const message = new TextEncoder().encode(
        `error processing stream for request ${requestId}: ${type} stream already assigned`,
      );
      if (pair.error !== undefined && !pair.errorReset) {
        this.#send({
          kind: "data",
          streamId: pair.error,
          data: message,
          fin: false,
        });
      }
      return;
    }
    pair[type] = id;
    this.#ports.set(id, port);
    this.#streams.set(id, { pair, type });
    if (type === "data" && fin) pair.earlyEnd = true;
    if (pair.error !== undefined && pair.data !== undefined) {
      // The kubelet forwards to the port named by the data stream.
      this.#start(pair, this.#ports.get(pair.data)!);
    }
  }

  #start(pair: Pair, port: number): void {
    const conn: PodConnection = new PodConnection(
      this.#backend.lookup(port),
      port,
      this.#backend.pod,
      {
        data: (chunk) => this.#toClient(pair, conn, chunk),
        end: () => this.#finData(pair),
        done: (error) => this.#done(pair, error),
      },
    );
    pair.conn = conn;
    for (const c of pair.early.splice(0)) this.#toPod(pair, c);
    if (pair.earlyEnd) conn.end();
  }

  #toClient(pair: Pair, conn: PodConnection, chunk: Uint8Array): boolean {
    if (this.#closed || pair.dataReset || pair.data === undefined) return true;
    let ok = true;
    for (let off = 0; off < chunk.length; off += MAX_DATA) {
      ok = this.#send({
        kind: "data",
        streamId: pair.data,
        data: chunk.subarray(off, off + MAX_DATA),
        fin: false,
      }) && ok;
    }
    if (!ok) this.#waiting.add(conn);
    return ok;
  }

  #finData(pair: Pair): void {
    if (pair.dataFinSent || pair.dataReset || pair.data === undefined) return;
    pair.dataFinSent = true;
    this.#send({
      kind: "data",
      streamId: pair.data,
      data: new Uint8Array(),
      fin: true,
    });
  }

  #done(pair: Pair, error: string | undefined): void {
    if (this.#closed) return;
    if (pair.error !== undefined && !pair.errorReset) {
      if (error !== undefined) {
        this.#send({
          kind: "data",
          streamId: pair.error,
          data: new TextEncoder().encode(error),
          fin: false,
        });
      }
      this.#send({
        kind: "data",
        streamId: pair.error,
        data: new Uint8Array(),
        fin: true,
      });
    }
    this.#finData(pair);
    this.#pairs.delete(pair.requestId);
    for (const id of [pair.error, pair.data]) {
      if (id === undefined) continue;
      this.#streams.delete(id);
      this.#ports.delete(id);
    }
    if (pair.conn) this.#unblock(pair.conn);
    if (pair.conn) this.#waiting.delete(pair.conn);
  }

  #onStreamData(id: number, data: Uint8Array, fin: boolean): void {
    const s = this.#streams.get(id);
    if (data.length > 0) {
      this.#send({ kind: "window_update", streamId: id, delta: data.length });
      this.#send({ kind: "window_update", streamId: 0, delta: data.length });
    }
    if (!s || s.type !== "data") return; // kubectl never writes on the error stream
    if (data.length > 0) this.#toPod(s.pair, data);
    if (fin) {
      if (s.pair.conn) s.pair.conn.end();
      else s.pair.earlyEnd = true;
    }
  }

  #toPod(pair: Pair, data: Uint8Array): void {
    const conn = pair.conn;
    if (!conn) {
      pair.early.push(data.slice());
      return;
    }
    if (conn.write(data)) return;
    // The pod reads slowly: stop reading the link until it caught up.
    if (this.#blocked.has(conn)) return;
    this.#blocked.add(conn);
    this.#link.pause();
    conn.onDrain(() => this.#unblock(conn));
  }

  #unblock(conn: PodConnection): void {
    if (!this.#blocked.delete(conn)) return;
    if (this.#blocked.size === 0 && !this.#closed) this.#link.resume();
  }

  #onReset(id: number): void {
    const s = this.#streams.get(id);
    if (!s) return;
    if (s.type === "error") {
      s.pair.errorReset = true;
      return;
    }
    s.pair.dataReset = true;
    if (s.pair.conn) s.pair.conn.destroy();
    else s.pair.earlyEnd = true;
  }
}
