/**
 * A small channel-protocol WebSocket client for tests and benchmarks: opens
 * an exec/attach session over a raw TLS socket (so a test can send any header
 * it likes, e.g. forged `Impersonate-*`), sends stdin and resizes, and
 * collects stdout, stderr and the final `Status`.
 *
 * @module
 */

import net from "node:net";
import tls from "node:tls";
import { type ResponseHead, ResponseHeadParser } from "../proxy/http_head.ts";
import { encodeWsFrame, WsFrameParser } from "../k8s/ws_frame.ts";
import type { K8sStatus } from "../k8s/status.ts";
import { concatBytes } from "../bytes.ts";

/** Options of {@linkcode openExec}. */
export interface ExecClientOptions {
  /** Base URL, e.g. `https://127.0.0.1:8443`. */
  url: string;
  /** Request target, e.g. `/api/v1/namespaces/default/pods/demo/exec?command=cat&stdin=true&stdout=true`. */
  target: string;
  /** CA PEM to trust. */
  caPem?: string;
  /** Bearer token. */
  token?: string;
  /** Client certificate and key. */
  certPem?: string;
  keyPem?: string;
  /** Extra request headers, sent as given. */
  headers?: [string, string][];
  /** Offered subprotocols. @default {["v5.channel.k8s.io"]} */
  protocols?: string[];
  /** Keep stdout bytes (false: only count them). @default {true} */
  collect?: boolean;
  /** Called with each stdout payload. */
  onStdout?: (data: Uint8Array) => void;
}

/** The outcome of a session. */
export interface ExecResult {
  stdout: Uint8Array;
  stderr: Uint8Array;
  stdoutBytes: number;
  status?: K8sStatus;
}

/** An open session. */
export interface ExecSession {
  /** The answer's head. */
  head: ResponseHead;
  /** For a non-101 answer: the body text. */
  body?: string;
  /** Negotiated subprotocol. */
  protocol: string;
  /** Sends stdin bytes. */
  stdin(data: Uint8Array | string): void;
  /** v5: tells the server stdin is closed. */
  closeStdin(): void;
  /** Sends a resize. */
  resize(width: number, height: number): void;
  /** Resolves when the server closes the session. */
  done: Promise<ExecResult>;
  /** Closes the connection. */
  close(): void;
}

const enc = new TextEncoder();

/**
 * Opens a session.
 * @param opts Where and how.
 * @returns The session once the server answered (101 or not).
 */
export function openExec(opts: ExecClientOptions): Promise<ExecSession> {
  const u = new URL(opts.url);
  const port = Number(u.port || (u.protocol === "https:" ? 443 : 80));
  const socket: net.Socket = u.protocol === "https:"
    ? tls.connect({
      host: u.hostname,
      port,
      ca: opts.caPem,
      cert: opts.certPem,
      key: opts.keyPem,
      ALPNProtocols: ["http/1.1"],
    })
    : net.connect({ host: u.hostname, port });
  socket.setNoDelay(true);
  const key = btoa(
    String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))),
  );
  const headers: [string, string][] = [
    ["Host", u.host],
    ["Connection", "Upgrade"],
    ["Upgrade", "websocket"],
    ["Sec-WebSocket-Version", "13"],
    ["Sec-WebSocket-Key", key],
    [
      "Sec-WebSocket-Protocol",
      (opts.protocols ?? ["v5.channel.k8s.io"]).join(", "),
    ],
    ...(opts.token
      ? [["Authorization", `Bearer ${opts.token}`] as [string, string]]
      : []),
    ...(opts.headers ?? []),
  ];
  let head = `GET ${opts.target} HTTP/1.1\r\n`;
  for (const [k, v] of headers) head += `${k}: ${v}\r\n`;
  socket.write(enc.encode(head + "\r\n"));

  const send = (channel: number, data: Uint8Array) => {
    const payload = new Uint8Array(data.length + 1);
    payload[0] = channel;
    payload.set(data, 1);
    socket.write(encodeWsFrame({
      opcode: 2,
      payload,
      mask: crypto.getRandomValues(new Uint8Array(4)),
    }));
  };

  return new Promise((resolve, reject) => {
    const headParser = new ResponseHeadParser();
    const frames = new WsFrameParser({ maxFramePayload: 64 * 1024 * 1024 });
    const stdout: Uint8Array[] = [];
    const stderr: Uint8Array[] = [];
    const errorParts: Uint8Array[] = [];
    let stdoutBytes = 0;
    let opened = false;
    let msgChannel = -1;
    let finish: (r: ExecResult) => void;
    const done = new Promise<ExecResult>((r) => (finish = r));
    const collect = opts.collect ?? true;
    const result = (): ExecResult => {
      const err = concatBytes(errorParts);
      let status: K8sStatus | undefined;
      if (err.length) {
        try {
          status = JSON.parse(new TextDecoder().decode(err));
        } catch { /* not JSON */ }
      }
      return {
        stdout: concatBytes(stdout),
        stderr: concatBytes(stderr),
        stdoutBytes,
        status,
      };
    };
    const onFrames = (chunk: Uint8Array) => {
      for (const f of frames.push(chunk)) {
        if (f.opcode === 8) {
          socket.end();
          continue;
        }
        if (f.opcode !== 0 && f.opcode !== 2) continue;
        let data = f.payload;
        if (f.opcode === 2) {
          msgChannel = data[0] ?? -1;
          data = data.subarray(1);
        }
        if (msgChannel === 1) {
          stdoutBytes += data.length;
          if (collect) stdout.push(data);
          opts.onStdout?.(data);
        } else if (msgChannel === 2) stderr.push(data);
        else if (msgChannel === 3) errorParts.push(data);
      }
    };
    let head: ResponseHead | undefined;
    const bodyParts: Uint8Array[] = [];
    socket.on("data", (chunk: Uint8Array) => {
      if (opened) return onFrames(chunk);
      if (head) {
        bodyParts.push(chunk);
        return;
      }
      let got;
      try {
        got = headParser.push(chunk);
      } catch (e) {
        reject(e);
        socket.destroy();
        return;
      }
      if (!got) return;
      head = got.head;
      if (head.status === 101) {
        opened = true;
        const proto = head.rawHeaders.find(([k]) =>
          k.toLowerCase() === "sec-websocket-protocol"
        )?.[1] ?? "";
        resolve({
          head,
          protocol: proto,
          stdin: (d) =>
            send(0, typeof d === "string" ? enc.encode(d) : d),
          closeStdin: () => send(255, new Uint8Array([0])),
          resize: (w, h) =>
            send(4, enc.encode(JSON.stringify({ Width: w, Height: h }))),
          done,
          close: () => socket.destroy(),
        });
        if (got.rest.length) onFrames(got.rest);
      } else {
        bodyParts.push(got.rest);
      }
    });
    socket.on("error", (e) => {
      if (!head) reject(e);
    });
    socket.on("close", () => {
      if (head && head.status !== 101) {
        resolve({
          head,
          body: new TextDecoder().decode(concatBytes(bodyParts)),
          protocol: "",
          stdin: () => {},
          closeStdin: () => {},
          resize: () => {},
          done: Promise.resolve(result()),
          close: () => {},
        });
      } else if (!head) {
        reject(new Error("connection closed before an answer"));
      }
      finish(result());
    });
  });
}
