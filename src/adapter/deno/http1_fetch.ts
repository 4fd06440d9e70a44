/**
 * Adapter: a `fetch` for the proxy's recording uploads, written over one
 * `Deno.connect`/`Deno.startTls` connection per request with HTTP/1.1
 * chunked encoding.
 *
 * Why not the global `fetch`: a recording upload is a long-lived duplex
 * request (the body streams while the acknowledgement lines stream back), one
 * per session. Measured on 2 cores, 1,000 such uploads through Deno's `fetch`
 * needed 10.8 s before the last header was acknowledged (at most 128 moved at
 * a time, and no body past the header moved until most headers had), against
 * 5.8 s for the same uploads written on raw connections; the bench's 1,000
 * recorded sessions ended 920 times with `no acknowledgement for 10000 ms`
 * over `fetch`. Here the body is pulled only as the socket takes it (TCP
 * back-pressure), Nagle is off, and the connection is the request's own.
 *
 * It does what the upload needs and no more: any method, a body that is a
 * `ReadableStream`, bytes, a string or none; a response body framed by
 * `Content-Length`, `chunked` or the connection's end; `signal` closes the
 * connection. No redirects, no pooling, no compression.
 *
 * @module
 */

import { concatBytes } from "../../bytes.ts";
import { headerOf, ResponseHeadParser } from "../../proxy/http_head.ts";
import { connDuplex } from "../../proxy/deno_socket.ts";

/** Options of {@linkcode http1Fetch}. */
export interface Http1FetchOptions {
  /** PEM CA certificates to trust for `https:` URLs. @default {the system's} */
  caCerts?: string[];
}

const enc = new TextEncoder();
const CRLF = enc.encode("\r\n");
const LAST_CHUNK = enc.encode("0\r\n\r\n");

/**
 * Makes the `fetch`.
 * @param options TLS trust.
 * @returns A function with `fetch`'s signature.
 * @example
 * ```ts ignore
 * import { http1Fetch } from "./http1_fetch.ts";
 * const f = http1Fetch();
 * const res = await f("http://127.0.0.1:8080/v2/recordings", { method: "POST", body: "x" });
 * ```
 */
export function http1Fetch(options: Http1FetchOptions = {}): typeof fetch {
  return (async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const secure = url.protocol === "https:";
    if (!secure && url.protocol !== "http:") {
      throw new TypeError(
        `Cannot fetch ${
          JSON.stringify(url.href)
        }: only http and https are supported`,
      );
    }
    const signal = init.signal ?? undefined;
    signal?.throwIfAborted();
    const hostname = url.hostname.replace(/^\[|\]$/g, "");
    const port = Number(url.port || (secure ? 443 : 80));
    const tcp = await Deno.connect({ hostname, port });
    tcp.setNoDelay(true);
    let conn: Deno.Conn = tcp;
    const close = () => {
      try {
        conn.close();
      } catch { /* closed already */ }
    };
    const onAbort = () => close();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      if (secure) {
        const tls = await Deno.startTls(tcp, {
          hostname,
          alpnProtocols: ["http/1.1"],
          ...(options.caCerts ? { caCerts: options.caCerts } : {}),
        });
        conn = tls;
        await tls.handshake();
      }
      const body = init.body;
      const headers = new Headers(init.headers);
      const method = (init.method ?? "GET").toUpperCase();
      let fixed: Uint8Array | undefined;
      if (typeof body === "string") fixed = enc.encode(body);
      else if (body instanceof Uint8Array) fixed = body;
      else if (body instanceof ArrayBuffer) fixed = new Uint8Array(body);
      else if (body != null && !(body instanceof ReadableStream)) {
        throw new TypeError(
          "Cannot fetch: the body must be a ReadableStream, bytes or a string",
        );
      }
      headers.delete("transfer-encoding");
      headers.delete("content-length");
      if (fixed) headers.set("content-length", String(fixed.length));
      else if (body) headers.set("transfer-encoding", "chunked");
      let head =
        `${method} ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n`;
      for (const [k, v] of headers) {
        if (/[\r\n\0]/.test(k + v)) {
          throw new TypeError(
            `Cannot fetch: header ${JSON.stringify(k)} contains CR, LF or NUL`,
          );
        }
        head += `${k}: ${v}\r\n`;
      }
      // Reads sized to what arrives (acknowledgement lines are small).
      const duplex = connDuplex(conn);
      const writer = duplex.writable.getWriter();
      await writer.write(enc.encode(head + "\r\n"));
      const sending = fixed
        ? writer.write(fixed)
        : body instanceof ReadableStream
        ? sendChunked(body, writer)
        : Promise.resolve();
      // The answer may come while the body is still streaming (the recorder
      // accepts, then acknowledges as bytes arrive).
      const reader = duplex.readable.getReader();
      sending.catch(() => close());
      const parser = new ResponseHeadParser();
      let got;
      while (!got) {
        const r = await reader.read();
        if (r.done) {
          throw new TypeError(
            `Cannot fetch ${url.href}: the connection closed before an answer`,
          );
        }
        got = parser.push(r.value);
      }
      const { head: answer, rest } = got;
      const responseHeaders = new Headers();
      for (const [k, v] of answer.rawHeaders) {
        try {
          responseHeaders.append(k, v);
        } catch { /* not a valid header for Headers: dropped */ }
      }
      const te = headerOf(answer, "transfer-encoding")?.toLowerCase();
      const cl = headerOf(answer, "content-length");
      const noBody = method === "HEAD" || answer.status === 204 ||
        answer.status === 304;
      const framing: Framing = noBody
        ? { kind: "length", left: 0 }
        : te === "chunked"
        ? { kind: "chunked" }
        : cl !== undefined
        ? { kind: "length", left: Number(cl) }
        : { kind: "close" };
      const stream = responseBody(reader, rest, framing, close);
      return new Response(stream, {
        status: answer.status,
        statusText: answer.statusText,
        headers: responseHeaders,
      });
    } catch (e) {
      close();
      signal?.removeEventListener("abort", onAbort);
      if (signal?.aborted) throw signal.reason;
      throw e;
    }
  }) as typeof fetch;
}

/** Writes a stream as chunked encoding, pulling only as the socket takes it. */
async function sendChunked(
  body: ReadableStream<Uint8Array>,
  writer: WritableStreamDefaultWriter<Uint8Array>,
): Promise<void> {
  for await (const chunk of body) {
    if (chunk.length === 0) continue;
    // Size line, data and CRLF in one write (one op, no Nagle delay) up to
    // 256 KiB: the copy costs less than two more writes; larger data goes
    // uncopied after its size line.
    const size = enc.encode(chunk.length.toString(16) + "\r\n");
    if (chunk.length <= 256 * 1024) {
      await writer.write(concatBytes([size, chunk, CRLF]));
    } else {
      await writer.write(size);
      await writer.write(chunk);
      await writer.write(CRLF);
    }
  }
  await writer.write(LAST_CHUNK);
}

type Framing =
  | { kind: "length"; left: number }
  | { kind: "chunked" }
  | { kind: "close" };

/**
 * The response body: decoded from the connection as it is read. Chunked
 * decoding is linear: bytes are consumed from the front of the current piece.
 */
function responseBody(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  first: Uint8Array,
  framing: Framing,
  close: () => void,
): ReadableStream<Uint8Array> {
  let piece = first;
  // Chunked state: bytes left in the current chunk; -1 before a size line;
  // -2 after the last chunk.
  let left = -1;
  let line = "";
  let needCrlf = false;
  const more = async (): Promise<boolean> => {
    const r = await reader.read();
    if (r.done) return false;
    piece = r.value;
    return true;
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        if (piece.length === 0 && !(await more())) {
          if (framing.kind === "close") {
            controller.close();
            close();
            return;
          }
          throw new TypeError(
            "Cannot read the response: the connection closed inside the body",
          );
        }
        if (framing.kind === "close") {
          controller.enqueue(piece);
          piece = new Uint8Array(0);
          return;
        }
        if (framing.kind === "length") {
          if (framing.left === 0) {
            controller.close();
            close();
            return;
          }
          const n = Math.min(piece.length, framing.left);
          framing.left -= n;
          controller.enqueue(piece.subarray(0, n));
          piece = piece.subarray(n);
          if (framing.left === 0) {
            controller.close();
            close();
          }
          return;
        }
        // chunked
        if (needCrlf) {
          const k = Math.min(piece.length, 2 - line.length);
          line += new TextDecoder().decode(piece.subarray(0, k));
          piece = piece.subarray(k);
          if (line.length < 2) continue;
          if (line !== "\r\n") {
            throw new TypeError(
              "Cannot read the response: a chunk does not end with CRLF",
            );
          }
          line = "";
          needCrlf = false;
          continue;
        }
        if (left < 0) {
          const lf = piece.indexOf(10);
          const take = lf < 0 ? piece.length : lf + 1;
          line += new TextDecoder().decode(piece.subarray(0, take));
          piece = piece.subarray(take);
          if (line.length > 4096) {
            throw new TypeError(
              "Cannot read the response: a chunk size line is over 4096 bytes",
            );
          }
          if (lf < 0) continue;
          const size = parseInt(line.trim().split(";")[0]!, 16);
          line = "";
          if (!Number.isFinite(size) || size < 0) {
            throw new TypeError(
              "Cannot read the response: a chunk size is not hexadecimal",
            );
          }
          if (size === 0) {
            // Trailers are not read: the answer is complete.
            controller.close();
            close();
            return;
          }
          left = size;
          continue;
        }
        const n = Math.min(piece.length, left);
        controller.enqueue(piece.subarray(0, n));
        piece = piece.subarray(n);
        left -= n;
        if (left === 0) {
          left = -1;
          needCrlf = true;
        }
        return;
      }
    },
    cancel() {
      close();
    },
  }, { highWaterMark: 0 });
}
