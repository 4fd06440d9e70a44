/**
 * The server end of a Kubernetes channel-protocol WebSocket (`v4`/`v5`
 * `.channel.k8s.io`) on a raw socket, after the 101.
 *
 * Inbound: frames are decoded with {@linkcode WsFrameParser}; a message's
 * first byte is its channel, continuation frames carry raw payload (RFC 6455
 * fragmentation). Stdin bytes are handed on per frame; resize and close
 * messages once whole. Pings are answered. Messages that arrive before
 * {@linkcode ChannelSocket.start} are held, so a session can wait for the
 * client's first frame before it starts the process.
 *
 * Outbound: unmasked binary frames; {@linkcode ChannelSocket.send} returns
 * false when the socket's buffer is full and {@linkcode ChannelSocket.onDrain}
 * says when to go on: the caller pauses its source (TCP back-pressure).
 *
 * @module
 */

import type { Duplex } from "node:stream";
import {
  CHANNEL_CLOSE,
  CHANNEL_ERROR,
  CHANNEL_RESIZE,
  CHANNEL_STDIN,
  OPCODE_BINARY,
  OPCODE_CLOSE,
  OPCODE_CONTINUATION,
  OPCODE_PING,
  OPCODE_PONG,
  OPCODE_TEXT,
} from "../k8s/constants.ts";
import type { K8sStatus } from "../k8s/status.ts";
import { encodeWsFrame, WsFrameParser } from "../k8s/ws_frame.ts";
import { concatBytes } from "../bytes.ts";

/** What a session does with the client's messages. */
export interface ChannelHandlers {
  /** Stdin bytes (channel 0). */
  stdin(data: Uint8Array): void;
  /** A resize (channel 4). */
  resize(cols: number, rows: number): void;
  /** The client closed a channel (v5 channel 255); only stdin matters. */
  closeChannel(channel: number): void;
}

type Held =
  | { kind: "stdin"; data: Uint8Array }
  | { kind: "message"; channel: number; data: Uint8Array };

/** A channel-protocol WebSocket connection, server side. */
export class ChannelSocket {
  /** The negotiated subprotocol. */
  readonly protocol: string;
  #socket: Duplex;
  #parser = new WsFrameParser();
  #handlers: ChannelHandlers | undefined;
  #held: Held[] = [];
  #msgChannel: number | undefined;
  #msgParts: Uint8Array[] = [];
  #ended = false;
  #firstMessage: Promise<void>;
  #resolveFirst!: () => void;
  #firstResize: Promise<void>;
  #resolveFirstResize!: () => void;
  #closed: Promise<void>;
  #resolveClosed!: () => void;

  /**
   * Takes over a socket whose 101 answer was written.
   * @param socket The raw socket.
   * @param protocol The negotiated subprotocol.
   * @param head Bytes that arrived with the upgrade request.
   */
  constructor(socket: Duplex, protocol: string, head: Uint8Array) {
    this.#socket = socket;
    this.protocol = protocol;
    this.#firstMessage = new Promise((r) => (this.#resolveFirst = r));
    this.#firstResize = new Promise((r) => (this.#resolveFirstResize = r));
    this.#closed = new Promise((r) => (this.#resolveClosed = r));
    (socket as Duplex & { setNoDelay?: (b: boolean) => void }).setNoDelay?.(
      true,
    );
    socket.on("data", (chunk: Uint8Array) => this.#onData(chunk));
    socket.on("error", () => this.#onClosed());
    socket.on("close", () => this.#onClosed());
    if (head.length > 0) queueMicrotask(() => this.#onData(head));
  }

  /** Resolves on the client's first data message, or when the connection ends. */
  get firstMessage(): Promise<void> {
    return this.#firstMessage;
  }

  /** Resolves on the client's first resize message, or when the connection ends. */
  get firstResize(): Promise<void> {
    return this.#firstResize;
  }

  /** Resolves when the connection is over (either side). */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /** Whether the connection is over. */
  get isClosed(): boolean {
    return this.#ended;
  }

  /**
   * Starts delivering client messages: held resizes first, then the other
   * held messages in order, then new ones as they come.
   * @param handlers The session's handlers.
   */
  start(handlers: ChannelHandlers): void {
    this.#handlers = handlers;
    const held = this.#held;
    this.#held = [];
    // Resizes first: they describe the terminal the session starts with,
    // and kubectl may have sent stdin before its first resize.
    const isResize = (h: Held) =>
      h.kind === "message" && h.channel === CHANNEL_RESIZE;
    for (const h of held) if (isResize(h)) this.#deliver(h);
    for (const h of held) if (!isResize(h)) this.#deliver(h);
  }

  /** Stops reading from the client (stdin back-pressure). */
  pauseInput(): void {
    this.#socket.pause();
  }

  /** Resumes reading from the client. */
  resumeInput(): void {
    this.#socket.resume();
  }

  /**
   * Sends bytes on a channel as one binary frame.
   * @param channel Channel id (1 stdout, 2 stderr, ...).
   * @param data Payload.
   * @returns false when the socket buffer is full: wait for {@linkcode onDrain}.
   */
  send(channel: number, data: Uint8Array): boolean {
    if (this.#ended) return true;
    const payload = new Uint8Array(data.length + 1);
    payload[0] = channel;
    payload.set(data, 1);
    return this.#socket.write(
      encodeWsFrame({ opcode: OPCODE_BINARY, payload }),
    );
  }

  /**
   * Calls `fn` once the socket buffer has drained (or the connection ended).
   * @param fn Callback.
   */
  onDrain(fn: () => void): void {
    if (this.#ended) {
      queueMicrotask(fn);
      return;
    }
    const done = () => {
      this.#socket.off("drain", done);
      this.#socket.off("close", done);
      fn();
    };
    this.#socket.on("drain", done);
    this.#socket.on("close", done);
  }

  /**
   * Ends the session: the status on channel 3, a close frame, then the end of
   * the socket.
   * @param status The final status (Success or a failure).
   */
  finish(status: K8sStatus): void {
    if (this.#ended) return;
    this.send(CHANNEL_ERROR, new TextEncoder().encode(JSON.stringify(status)));
    this.#close(1000);
  }

  /** Ends the connection at once (no status). */
  destroy(): void {
    this.#socket.destroy();
    this.#onClosed();
  }

  #close(code: number): void {
    if (this.#ended) return;
    const payload = new Uint8Array([code >> 8, code & 0xff]);
    this.#socket.write(encodeWsFrame({ opcode: OPCODE_CLOSE, payload }));
    this.#socket.end();
    this.#onClosed();
  }

  #onClosed(): void {
    if (!this.#ended) this.#ended = true;
    this.#resolveFirst();
    this.#resolveFirstResize();
    this.#resolveClosed();
  }

  #onData(chunk: Uint8Array): void {
    if (this.#ended) return;
    let frames;
    try {
      frames = this.#parser.push(chunk);
    } catch {
      this.#close(1002);
      return;
    }
    for (const f of frames) {
      if (f.opcode === OPCODE_PING) {
        this.#socket.write(
          encodeWsFrame({ opcode: OPCODE_PONG, payload: f.payload }),
        );
        continue;
      }
      if (f.opcode === OPCODE_PONG) continue;
      if (f.opcode === OPCODE_CLOSE) {
        this.#close(1000);
        return;
      }
      let data = f.payload;
      if (f.opcode === OPCODE_BINARY || f.opcode === OPCODE_TEXT) {
        if (data.length === 0) continue;
        this.#msgChannel = data[0]!;
        data = data.subarray(1);
        this.#msgParts = [];
      } else if (
        f.opcode !== OPCODE_CONTINUATION || this.#msgChannel === undefined
      ) {
        continue;
      }
      const channel = this.#msgChannel;
      if (channel === CHANNEL_STDIN) {
        if (data.length > 0) this.#hold({ kind: "stdin", data });
      } else {
        this.#msgParts.push(data);
        if (f.fin) {
          this.#hold({
            kind: "message",
            channel,
            data: concatBytes(this.#msgParts),
          });
          this.#msgParts = [];
        }
      }
      if (f.fin) this.#msgChannel = undefined;
    }
  }

  #hold(h: Held): void {
    this.#resolveFirst();
    if (h.kind === "message" && h.channel === CHANNEL_RESIZE) {
      this.#resolveFirstResize();
    }
    if (this.#handlers) this.#deliver(h);
    else this.#held.push(h);
  }

  #deliver(h: Held): void {
    const handlers = this.#handlers!;
    if (h.kind === "stdin") {
      handlers.stdin(h.data);
    } else if (h.channel === CHANNEL_RESIZE) {
      try {
        const size = JSON.parse(new TextDecoder().decode(h.data));
        const cols = Number(size.Width);
        const rows = Number(size.Height);
        if (cols > 0 && rows > 0) handlers.resize(cols, rows);
      } catch {
        // A malformed resize is ignored, like the kubelet does.
      }
    } else if (h.channel === CHANNEL_CLOSE && h.data.length > 0) {
      handlers.closeChannel(h.data[0]!);
    }
  }
}
