/**
 * A byte stream carried in WebSocket binary messages, server side, shaped
 * like the socket `spdy_server.ts` and `portforward_spdy.ts` read
 * ({@linkcode SpdySocket}): what kube-apiserver's tunnelling handler does
 * for `SPDY/3.1+portforward.k8s.io` (kubectl ≥ 1.31), where the SPDY session
 * of a port-forward runs inside a WebSocket.
 *
 * Inbound: the payload of every binary frame (and its continuations) is
 * handed on as `data`, message boundaries ignored, as client-go's
 * `TunnelingConnection.Read` does; a text message is a protocol error (it
 * answers "invalid message type received"); pings are answered; a close
 * frame is answered with a close and is the end of the stream. Outbound:
 * each `write` is one unmasked binary message; `end` sends a normal close
 * (1000) and ends the socket. Back-pressure is the socket's: `write`
 * returns false when its buffer is full and `drain` follows.
 *
 * Sources: kubernetes `staging/src/k8s.io/client-go/tools/portforward/tunneling_connection.go`,
 * `staging/src/k8s.io/apiserver/pkg/util/proxy/streamtunnel.go`; RFC 6455.
 *
 * @module
 */

import { EventEmitter } from "node:events";
import type { Duplex } from "node:stream";
import {
  OPCODE_BINARY,
  OPCODE_CLOSE,
  OPCODE_CONTINUATION,
  OPCODE_PING,
  OPCODE_PONG,
} from "../k8s/constants.ts";
import { encodeWsFrame, WsFrameParser } from "../k8s/ws_frame.ts";
import type { SpdySocket } from "./spdy_server.ts";

/** A byte stream over a WebSocket (after the 101), server side. */
export class WebSocketLink extends EventEmitter implements SpdySocket {
  #socket: Duplex;
  #parser = new WsFrameParser();
  #closeSent = false;
  #ended = false;

  /**
   * Takes over a socket whose 101 answer was written.
   * @param socket The raw socket.
   * @param head Bytes that came with the upgrade request (read on the next
   * microtask, once the caller listens).
   * @example
   * ```ts ignore
   * import { WebSocketLink } from "./websocket_link.ts";
   * const link = new WebSocketLink(socket, head);
   * link.on("data", (bytes) => console.log(bytes.length));
   * link.write(new Uint8Array([1, 2, 3])); // one binary message
   * ```
   */
  constructor(socket: Duplex, head: Uint8Array) {
    super();
    this.#socket = socket;
    (socket as Duplex & { setNoDelay?: (b: boolean) => void }).setNoDelay?.(
      true,
    );
    socket.on("data", (chunk: Uint8Array) => this.#onData(chunk));
    socket.on("drain", () => this.emit("drain"));
    socket.on("end", () => this.#onEnd());
    socket.on("error", (err: Error) => this.emit("error", err));
    socket.on("close", () => {
      this.#onEnd();
      this.emit("close");
    });
    if (head.length > 0) queueMicrotask(() => this.#onData(head));
  }

  /**
   * Sends bytes as one binary message.
   * @param chunk Bytes.
   * @returns false when the socket buffer is full: wait for `drain`.
   */
  write(chunk: Uint8Array): boolean {
    if (this.#closeSent || this.#socket.destroyed) return true;
    return this.#socket.write(
      encodeWsFrame({ opcode: OPCODE_BINARY, payload: chunk }),
    );
  }

  /** Sends a normal close (1000) and ends the socket. */
  end(): void {
    this.#close(1000);
  }

  /** Drops the connection. */
  destroy(): void {
    this.#socket.destroy();
  }

  /** Stops reading from the client. */
  pause(): void {
    this.#socket.pause();
  }

  /** Reads from the client again. */
  resume(): void {
    this.#socket.resume();
  }

  #close(code: number): void {
    if (this.#closeSent) return;
    this.#closeSent = true;
    if (this.#socket.destroyed) return;
    this.#socket.end(
      encodeWsFrame({
        opcode: OPCODE_CLOSE,
        payload: new Uint8Array([code >> 8, code & 0xff]),
      }),
    );
  }

  #onEnd(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.emit("end");
  }

  #onData(chunk: Uint8Array): void {
    if (this.#ended) return;
    let frames;
    try {
      frames = this.#parser.push(chunk);
    } catch (err) {
      this.#close(1002);
      this.emit("error", err as Error);
      return;
    }
    for (const f of frames) {
      if (f.opcode === OPCODE_BINARY || f.opcode === OPCODE_CONTINUATION) {
        if (f.payload.length > 0) this.emit("data", f.payload);
      } else if (f.opcode === OPCODE_PING) {
        if (!this.#closeSent) {
          this.#socket.write(
            encodeWsFrame({ opcode: OPCODE_PONG, payload: f.payload }),
          );
        }
      } else if (f.opcode === OPCODE_CLOSE) {
        this.#close(1000);
        this.#onEnd();
        return;
      } else if (f.opcode !== OPCODE_PONG) {
        // A text message: client-go's tunnel reads binary messages only.
        this.#close(1003);
        this.emit(
          "error",
          new TypeError(
            `Cannot read the tunnel: message opcode ${f.opcode} is not binary`,
          ),
        );
        return;
      }
    }
  }
}
