/**
 * The benchmark's load client: a lean channel-protocol WebSocket client (a
 * copy of `src/testing/ws_exec_client.ts` trimmed for load). Server frames
 * are scanned in place, payloads are never copied, so one process can drive
 * a GiB stream or a thousand sessions without being the bottleneck.
 *
 * @module
 */

import net from "node:net";
import tls from "node:tls";
import { encodeWsFrame } from "../../src/k8s/ws_frame.ts";

/** Where and how to open a session. */
export interface ExecTarget {
  /** Base URL, `https://…` or `http://…`. */
  url: string;
  /** CA to trust (https). */
  caPem?: string;
  /** Bearer token. */
  token?: string;
}

/** Options of {@linkcode openSession}. */
export interface OpenOptions {
  /** Request target, e.g. `/api/v1/namespaces/default/pods/demo/exec?…`. */
  path: string;
  /** Called with each stdout payload (a view: copy it to keep it). */
  onStdout?: (data: Uint8Array) => void;
}

/** How a session ended. */
export interface SessionResult {
  /** Stdout bytes received. */
  stdoutBytes: number;
  /** Stderr text. */
  stderr: string;
  /** Channel-3 text (the `Status`). */
  status: string;
  /** `performance.now()` when the socket closed. */
  closedAt: number;
}

/** An open (upgraded) session. */
export interface Session {
  /** `performance.now()` when the request was sent. */
  sentAt: number;
  /** `performance.now()` when the 101 arrived. */
  openedAt: number;
  /** `performance.now()` of the first stdout byte (NaN until then). */
  firstStdoutAt: number;
  /** Sends stdin bytes. */
  stdin(data: Uint8Array): void;
  /** Sends a resize. */
  resize(width: number, height: number): void;
  /** v5: closes stdin. */
  closeStdin(): void;
  /** Resolves when the connection closes. */
  done: Promise<SessionResult>;
  /** Destroys the connection. */
  close(): void;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const MASK = new Uint8Array([0x5a, 0x3c, 0x11, 0x7e]);

/**
 * A target path for `kubectl exec demo -- argv…`.
 * @param argv The command.
 * @param flags `stdin`, `tty` (stdout is always on; stderr unless tty).
 * @returns The request target.
 */
export function execPath(
  argv: string[],
  flags: { stdin?: boolean; tty?: boolean } = {},
): string {
  const q = new URLSearchParams();
  for (const a of argv) q.append("command", a);
  q.set("container", "main");
  if (flags.stdin) q.set("stdin", "true");
  q.set("stdout", "true");
  if (flags.tty) q.set("tty", "true");
  else q.set("stderr", "true");
  return `/api/v1/namespaces/default/pods/demo/exec?${q}`;
}

/**
 * Opens an exec session and resolves once it is upgraded.
 * @param target Server and credentials.
 * @param opts Path and stdout callback.
 * @returns The session.
 * @throws {Error} The server answered something other than 101, or the
 * connection failed first.
 */
export function openSession(
  target: ExecTarget,
  opts: OpenOptions,
): Promise<Session> {
  const u = new URL(target.url);
  const port = Number(u.port || (u.protocol === "https:" ? 443 : 80));
  const sentAt = performance.now();
  const socket: net.Socket = u.protocol === "https:"
    ? tls.connect({
      host: u.hostname,
      port,
      ca: target.caPem,
      ALPNProtocols: ["http/1.1"],
    })
    : net.connect({ host: u.hostname, port });
  socket.setNoDelay(true);
  let head = `GET ${opts.path} HTTP/1.1\r\nHost: ${u.host}\r\n` +
    "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
    "Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n";
  if (target.token) head += `Authorization: Bearer ${target.token}\r\n`;
  socket.write(enc.encode(head + "\r\n"));

  const send = (channel: number, data: Uint8Array) => {
    const payload = new Uint8Array(data.length + 1);
    payload[0] = channel;
    payload.set(data, 1);
    socket.write(encodeWsFrame({ opcode: 2, payload, mask: MASK }));
  };

  return new Promise((resolve, reject) => {
    const scanner = new FrameScanner();
    let headBuf = new Uint8Array(0);
    let opened = false;
    let finish!: (r: SessionResult) => void;
    const done = new Promise<SessionResult>((r) => (finish = r));
    const session: Session = {
      sentAt,
      openedAt: NaN,
      firstStdoutAt: NaN,
      stdin: (d) => send(0, d),
      resize: (w, h) =>
        send(4, enc.encode(JSON.stringify({ Width: w, Height: h }))),
      closeStdin: () => send(255, new Uint8Array([0])),
      done,
      close: () => socket.destroy(),
    };
    scanner.onStdout = (data) => {
      if (scanner.stdoutBytes === data.length) {
        session.firstStdoutAt = performance.now();
      }
      opts.onStdout?.(data);
    };
    scanner.onClose = () => socket.end();
    socket.on("data", (chunk: Uint8Array) => {
      if (opened) return scanner.push(chunk);
      const all = new Uint8Array(headBuf.length + chunk.length);
      all.set(headBuf);
      all.set(chunk, headBuf.length);
      headBuf = all;
      const end = headEnd(all);
      if (end < 0) return;
      const headText = dec.decode(all.subarray(0, end));
      const status = Number(headText.slice(9, 12));
      if (status !== 101) {
        reject(
          new Error(
            `${target.url}${opts.path}: answered ${
              JSON.stringify(dec.decode(all).slice(0, 400))
            }`,
          ),
        );
        socket.destroy();
        return;
      }
      opened = true;
      session.openedAt = performance.now();
      const rest = all.subarray(end);
      resolve(session);
      if (rest.length) scanner.push(rest);
    });
    socket.on("error", (e: Error) => {
      if (!opened) reject(e);
    });
    socket.on("close", () => {
      if (!opened) reject(new Error(`${target.url}: closed before a 101`));
      finish({
        stdoutBytes: scanner.stdoutBytes,
        stderr: scanner.stderr,
        status: scanner.status,
        closedAt: performance.now(),
      });
    });
  });
}

/** Offset just after `\r\n\r\n`, or -1. */
function headEnd(b: Uint8Array): number {
  for (let i = 3; i < b.length; i++) {
    if (
      b[i] === 10 && b[i - 1] === 13 && b[i - 2] === 10 && b[i - 3] === 13
    ) return i + 1;
  }
  return -1;
}

/**
 * Scans server-to-client WebSocket frames (unmasked) across chunk
 * boundaries, delivering payload views per channel without copying.
 */
export class FrameScanner {
  /** Stdout bytes so far. */
  stdoutBytes = 0;
  /** Stderr text. */
  stderr = "";
  /** Channel-3 text. */
  status = "";
  /** Stdout payload callback. */
  onStdout?: (data: Uint8Array) => void;
  /** Called on a close frame. */
  onClose?: () => void;

  #hdr = new Uint8Array(14);
  #hdrLen = 0;
  #remaining = 0;
  #opcode = 0;
  #inFrame = false;
  #channel = -1;
  #needChannel = false;

  /**
   * Feeds bytes.
   * @param chunk Bytes from the socket.
   * @throws {Error} A masked server frame.
   */
  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#inFrame) {
        const n = Math.min(this.#remaining, chunk.length - i);
        this.#deliver(chunk.subarray(i, i + n));
        i += n;
        this.#remaining -= n;
        if (this.#remaining === 0) this.#endFrame();
        continue;
      }
      this.#hdr[this.#hdrLen++] = chunk[i++]!;
      const need = this.#headerLength();
      if (need === 0 || this.#hdrLen < need) continue;
      this.#startFrame();
    }
  }

  /** Header length once known (0: not yet). */
  #headerLength(): number {
    if (this.#hdrLen < 2) return 0;
    const b1 = this.#hdr[1]!;
    if (b1 & 0x80) throw new Error("Cannot scan frame: server frame is masked");
    const len7 = b1 & 0x7f;
    return len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
  }

  #startFrame(): void {
    const h = this.#hdr;
    const len7 = h[1]! & 0x7f;
    let len = len7;
    if (len7 === 126) len = (h[2]! << 8) | h[3]!;
    else if (len7 === 127) {
      len = 0;
      for (let k = 2; k < 10; k++) len = len * 256 + h[k]!;
    }
    this.#opcode = h[0]! & 0x0f;
    this.#hdrLen = 0;
    if (this.#opcode === 2) this.#needChannel = true;
    this.#remaining = len;
    this.#inFrame = true;
    if (len === 0) this.#endFrame();
  }

  #endFrame(): void {
    this.#inFrame = false;
    if (this.#opcode === 8) this.onClose?.();
  }

  #deliver(data: Uint8Array): void {
    const op = this.#opcode;
    if (op !== 0 && op !== 2) return; // control frames
    if (this.#needChannel) {
      this.#needChannel = false;
      this.#channel = data[0]!;
      data = data.subarray(1);
      if (data.length === 0) return;
    }
    switch (this.#channel) {
      case 1:
        this.stdoutBytes += data.length;
        this.onStdout?.(data);
        break;
      case 2:
        this.stderr += dec.decode(data);
        break;
      case 3:
        this.status += dec.decode(data);
        break;
    }
  }
}
