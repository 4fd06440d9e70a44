/**
 * The benchmark's load client: a lean channel-protocol WebSocket client (a
 * copy of `src/testing/ws_exec_client.ts` trimmed for load, on Deno's native
 * TCP and TLS sockets). Server frames
 * are scanned in place, payloads are never copied, so one process can drive
 * a GiB stream or a thousand sessions without being the bottleneck.
 *
 * @module
 */

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
  /** Size of the session's read buffer. @default {65536} */
  readBytes?: number;
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
  /** Sends stdin bytes; resolves once the socket took them (back-pressure). */
  stdinAsync(data: Uint8Array): Promise<void>;
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
 * Opens an exec session and resolves once it is upgraded. The socket is
 * Deno's own (`Deno.connect` with `TCP_NODELAY`, then `Deno.startTls` for
 * https), read into
 * one reused buffer of `readBytes`: the client must not be what limits a
 * GiB-per-second stream.
 * @param target Server and credentials.
 * @param opts Path and stdout callback.
 * @returns The session.
 * @throws {Error} The server answered something other than 101, or the
 * connection failed first.
 */
export async function openSession(
  target: ExecTarget,
  opts: OpenOptions,
): Promise<Session> {
  const u = new URL(target.url);
  const port = Number(u.port || (u.protocol === "https:" ? 443 : 80));
  const sentAt = performance.now();
  // TCP first with Nagle off, then TLS: a `Deno.TlsConn` has no setNoDelay,
  // and the request head would wait ~40 ms for the ACK of the handshake's
  // last flight (delayed ACK).
  const tcp = await Deno.connect({ hostname: u.hostname, port });
  tcp.setNoDelay(true);
  const conn: Deno.Conn = u.protocol === "https:"
    ? await Deno.startTls(tcp, {
      hostname: u.hostname,
      caCerts: target.caPem ? [target.caPem] : undefined,
      alpnProtocols: ["http/1.1"],
    })
    : tcp;
  let head = `GET ${opts.path} HTTP/1.1\r\nHost: ${u.host}\r\n` +
    "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
    "Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n";
  if (target.token) head += `Authorization: Bearer ${target.token}\r\n`;

  let broken = false;
  let writing: Promise<void> = Promise.resolve();
  const write = (b: Uint8Array): Promise<void> => {
    writing = writing.then(async () => {
      if (broken) return;
      try {
        let off = 0;
        while (off < b.length) off += await conn.write(b.subarray(off));
      } catch {
        broken = true;
      }
    });
    return writing;
  };
  const send = (channel: number, data: Uint8Array) => {
    const payload = new Uint8Array(data.length + 1);
    payload[0] = channel;
    payload.set(data, 1);
    return write(encodeWsFrame({ opcode: 2, payload, mask: MASK }));
  };
  let closed = false;
  const closeConn = () => {
    if (closed) return;
    closed = true;
    try {
      conn.close();
    } catch { /* closed */ }
  };
  await write(enc.encode(head + "\r\n"));

  const scanner = new FrameScanner();
  const session: Session = {
    sentAt,
    openedAt: NaN,
    firstStdoutAt: NaN,
    stdin: (d) => void send(0, d),
    stdinAsync: (d) => send(0, d),
    resize: (w, h) =>
      void send(4, enc.encode(JSON.stringify({ Width: w, Height: h }))),
    closeStdin: () => void send(255, new Uint8Array([0])),
    done: undefined as unknown as Promise<SessionResult>,
    close: closeConn,
  };
  scanner.onStdout = (data) => {
    if (scanner.stdoutBytes === data.length) {
      session.firstStdoutAt = performance.now();
    }
    opts.onStdout?.(data);
  };
  scanner.onClose = () => {
    writing = writing.then(() => conn.closeWrite()).catch(() => {});
  };

  // The head, read in small steps so that no stream byte is lost.
  const buf = new Uint8Array(opts.readBytes ?? 64 * 1024);
  let headBuf = new Uint8Array(0);
  let rest: Uint8Array;
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) throw new Error(`${target.url}: closed before a 101`);
      const all = new Uint8Array(headBuf.length + n);
      all.set(headBuf);
      all.set(buf.subarray(0, n), headBuf.length);
      headBuf = all;
      const end = headEnd(all);
      if (end < 0) continue;
      const status = Number(dec.decode(all.subarray(0, end)).slice(9, 12));
      if (status !== 101) {
        throw new Error(
          `${target.url}${opts.path}: answered ${
            JSON.stringify(dec.decode(all).slice(0, 400))
          }`,
        );
      }
      rest = all.subarray(end);
      break;
    }
  } catch (e) {
    closeConn();
    throw e;
  }
  session.openedAt = performance.now();
  session.done = (async () => {
    try {
      if (rest.length) scanner.push(rest);
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        scanner.push(buf.subarray(0, n));
      }
    } catch { /* reset or closed by close() */ }
    const closedAt = performance.now();
    closeConn();
    return {
      stdoutBytes: scanner.stdoutBytes,
      stderr: scanner.stderr,
      status: scanner.status,
      closedAt,
    };
  })();
  return session;
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
