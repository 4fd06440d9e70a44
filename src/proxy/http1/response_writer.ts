/**
 * Writes a web `Response` to an HTTP/1.x connection: status line, headers
 * (every `Set-Cookie` on its own line), and the body pulled one chunk at a
 * time, each written before the next is read, so a client that stops reading
 * stops the producer (the upstream). Framing is ours: `Content-Length` when
 * the response says it, else `chunked` (HTTP/1.1) or close-delimited
 * (HTTP/1.0); no body for HEAD, 1xx, 204 and 304.
 *
 * @module
 */

import { failureStatus } from "../../k8s/status.ts";

/** How the request asked to be answered. */
export interface ResponseContext {
  /** Request method (HEAD answers carry no body). */
  method: string;
  /** Request version. */
  version: "1.0" | "1.1";
  /** Whether the connection may stay open after this response. */
  keepAlive: boolean;
  /** Stops pulling the body (the client is gone, or the server stops). */
  signal?: AbortSignal;
}

const REASONS: Record<number, string> = {
  100: "Continue",
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  417: "Expectation Failed",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

/** Hop-by-hop and framing headers: ours to set, never passed through. */
const DROPPED = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "content-length",
  "upgrade",
  "set-cookie",
]);

/** Header values are octets: one byte per char. */
function latin1Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

function join(a: Uint8Array, b: Uint8Array, c?: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length + (c?.length ?? 0));
  out.set(a, 0);
  out.set(b, a.length);
  if (c) out.set(c, a.length + b.length);
  return out;
}

const CRLF = new Uint8Array([13, 10]);
const LAST_CHUNK = latin1Bytes("0\r\n\r\n");

/**
 * The bytes of a short final answer (a refusal of the request head): a
 * Kubernetes `Status` body naming what was wrong, `Connection: close`.
 * @param status HTTP status.
 * @param message The message.
 * @returns The whole response.
 */
export function refusalBytes(status: number, message: string): Uint8Array {
  const body = new TextEncoder().encode(
    JSON.stringify(failureStatus(status, message)),
  );
  const head = latin1Bytes(
    `HTTP/1.1 ${status} ${REASONS[status] ?? "Unknown"}\r\n` +
      `Date: ${new Date().toUTCString()}\r\n` +
      "Content-Type: application/json\r\n" +
      `Content-Length: ${body.length}\r\n` +
      "Connection: close\r\n\r\n",
  );
  return join(head, body);
}

/** `HTTP/1.1 100 Continue`. */
export const CONTINUE_BYTES: Uint8Array = latin1Bytes(
  "HTTP/1.1 100 Continue\r\n\r\n",
);

/**
 * Writes a response.
 * @param writer The connection's writer.
 * @param res The answer (its body is consumed or cancelled).
 * @param ctx The request's method, version and keep-alive wish.
 * @returns Whether the connection may carry another request: false when the
 * request asked to close, the body was close-delimited or did not match its
 * `Content-Length`.
 * @throws {Error} The connection failed, or the body stream errored (the
 * connection must then be closed: the client saw a truncated answer).
 */
export async function writeResponse(
  writer: WritableStreamDefaultWriter<Uint8Array>,
  res: Response,
  ctx: ResponseContext,
): Promise<boolean> {
  const status = res.status;
  const noBody = ctx.method === "HEAD" || status < 200 || status === 204 ||
    status === 304;
  const declared = res.headers.get("content-length");
  const length = declared !== null && /^\d{1,15}$/.test(declared.trim())
    ? Number(declared.trim())
    : undefined;
  let keepAlive = ctx.keepAlive;
  let framing: "none" | "length" | "chunked" | "close";
  if (noBody) framing = "none";
  else if (length !== undefined) framing = "length";
  else if (ctx.version === "1.1") framing = "chunked";
  else {
    framing = "close";
    keepAlive = false;
  }

  let head = `HTTP/1.1 ${status} ${
    (res.statusText || REASONS[status] || "Unknown").replace(/[\r\n]/g, "")
  }\r\n`;
  for (const [k, v] of res.headers) {
    if (!DROPPED.has(k)) head += `${k}: ${v}\r\n`;
  }
  for (const c of res.headers.getSetCookie()) head += `set-cookie: ${c}\r\n`;
  if (!res.headers.has("date")) head += `date: ${new Date().toUTCString()}\r\n`;
  if (framing === "length" || (framing === "none" && length !== undefined)) {
    if (status !== 204 && status >= 200) {
      head += `content-length: ${length}\r\n`;
    }
  } else if (framing === "chunked") {
    head += "transfer-encoding: chunked\r\n";
  }
  if (!keepAlive) head += "connection: close\r\n";
  else if (ctx.version === "1.0") head += "connection: keep-alive\r\n";
  head += "\r\n";
  const headBytes = latin1Bytes(head);

  if (framing === "none" || res.body === null) {
    await res.body?.cancel().catch(() => {});
    await writer.write(
      framing === "chunked" ? join(headBytes, LAST_CHUNK) : headBytes,
    );
    // A length promised and no body to send: the client would wait.
    return framing === "length" && length !== 0 ? false : keepAlive;
  }

  const reader = res.body.getReader();
  let sent = 0;
  const stop = () => {
    reader.cancel().catch(() => {});
  };
  if (ctx.signal?.aborted) stop();
  ctx.signal?.addEventListener("abort", stop, { once: true });
  try {
    // The first chunk rides with the head when it is there at once (no
    // small write waiting for an ACK under Nagle).
    const first = reader.read();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ready = await Promise.race([
      first,
      new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), 0)),
    ]);
    clearTimeout(timer);
    let pending: Uint8Array | undefined = headBytes;
    let next: Promise<ReadableStreamReadResult<Uint8Array>> = first;
    if (ready === undefined) {
      await writer.write(headBytes);
      pending = undefined;
    }
    for (;;) {
      const r = await next;
      if (r.done) break;
      let chunk = r.value;
      if (chunk.length === 0) {
        next = reader.read();
        continue;
      }
      if (framing === "length") {
        if (sent + chunk.length > length!) {
          chunk = chunk.subarray(0, length! - sent);
          keepAlive = false;
        }
        sent += chunk.length;
        await writer.write(pending ? join(pending, chunk) : chunk);
        pending = undefined;
        if (sent === length) {
          if (!keepAlive) break;
          // Anything more would be a body longer than it said.
          next = reader.read();
          const more = await next;
          if (!more.done) keepAlive = false;
          break;
        }
      } else if (framing === "chunked") {
        const size = latin1Bytes(chunk.length.toString(16) + "\r\n");
        const framed = join(size, chunk, CRLF);
        await writer.write(pending ? join(pending, framed) : framed);
      } else {
        await writer.write(pending ? join(pending, chunk) : chunk);
      }
      pending = undefined;
      next = reader.read();
    }
    if (ctx.signal?.aborted) {
      throw new Error("Cannot write response: the connection was closed");
    }
    if (pending) await writer.write(pending);
    if (framing === "chunked") await writer.write(LAST_CHUNK);
    if (framing === "length" && sent !== length) keepAlive = false;
    return keepAlive;
  } finally {
    ctx.signal?.removeEventListener("abort", stop);
    reader.cancel().catch(() => {});
  }
}
