/**
 * The HTTP/1.1 server side of one client connection, over any
 * {@linkcode ByteDuplex}: reads request heads strictly
 * ({@linkcode RequestHeadReader}), hands ordinary requests to
 * `proxy.fetch` as web `Request`s with a pulled body, writes the answers
 * with back-pressure, keeps the connection alive (pipelined requests are
 * answered in order, one at a time), and hands upgrade requests (WebSocket
 * and kubectl's SPDY `POST` with `Content-Length: 0`, which `Deno.serve`
 * refuses) to `proxy.upgrade` with the bytes read after the head.
 *
 * Timeouts, as Go's `net/http` has them: the first request head must be
 * complete within `headTimeoutMs` of the connection's start; after a
 * response, the connection may sit idle for `idleTimeoutMs`, and once the
 * next request's first byte arrives its head must be complete within
 * `headTimeoutMs`. A head that times out before anything was answered gets
 * a 408.
 *
 * @module
 */

import type { PeerInfo } from "../../identity/identity.ts";
import { statusResponse } from "../../k8s/status.ts";
import type { Logger } from "../../log.ts";
import type { ByteDuplex } from "../duplex.ts";
import type { Proxy } from "../proxy.ts";
import { ByteSource } from "./byte_source.ts";
import { requestBody } from "./request_body.ts";
import {
  HttpRefusal,
  type RequestHead,
  requestHeader,
  RequestHeadReader,
} from "./request_head.ts";
import {
  CONTINUE_BYTES,
  refusalBytes,
  writeResponse,
} from "./response_writer.ts";

/** Options of {@linkcode serveHttp1Connection}. */
export interface Http1ConnectionOptions {
  /** The client's address, `IP:PORT`. */
  remoteAddr: string;
  /** Whether the connection is TLS (the scheme of the `Request` URL). */
  secure: boolean;
  /** How long a request head may take. @default {10_000} */
  headTimeoutMs?: number;
  /** How long a kept-alive connection may wait for its next request. @default {120_000} */
  idleTimeoutMs?: number;
  /**
   * Half-closes the connection before the lingering close that lets a last
   * answer reach the client. @default {closing the writable (a
   * {@linkcode ByteDuplex} half-closes then; a bare `Deno.Conn` closes
   * altogether, so pass `() => conn.closeWrite()` for one)}
   */
  closeWrite?: () => Promise<void>;
  /** Aborted when the server shuts down: the connection is closed. */
  signal?: AbortSignal;
  /** Logger for connection-level failures. */
  logger?: Logger;
}

/** Default of {@linkcode Http1ConnectionOptions.headTimeoutMs}. */
export const DEFAULT_HEAD_TIMEOUT_MS = 10_000;
/** Default of {@linkcode Http1ConnectionOptions.idleTimeoutMs}. */
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;

/** Request body bytes read and dropped after an answer to keep a connection. */
const MAX_DRAIN_BYTES = 1024 * 1024;
/** How long a closing connection lingers reading what the client still sends. */
const LINGER_MS = 1_000;
const MAX_LINGER_BYTES = 256 * 1024;

function headersOf(raw: [string, string][]): Headers {
  const h = new Headers();
  for (const [k, v] of raw) {
    try {
      h.append(k, v);
    } catch { /* the raw pairs still carry it */ }
  }
  return h;
}

function urlOf(head: RequestHead, secure: boolean): string {
  const scheme = secure ? "https" : "http";
  try {
    if (head.target.startsWith("/")) {
      const host = requestHeader(head, "host") || "execgate.invalid";
      return new URL(`${scheme}://${host}${head.target}`).href;
    }
    return new URL(head.target).href;
  } catch {
    // The proxy core parses the raw target itself; this URL is a formality.
    return `${scheme}://execgate.invalid/`;
  }
}

/**
 * Serves one client connection until it closes, times out, is upgraded or
 * the signal aborts.
 * @param conn The connection (a `Deno.Conn` is one).
 * @param proxy The proxy core.
 * @param opts Peer address, timeouts, the upgrade socket.
 * @returns When the server is done with the connection (an upgraded one
 * belongs to the relay; once `proxy.upgrade` resolves it is closed after a
 * grace of `headTimeoutMs`, or at shutdown).
 */
export async function serveHttp1Connection(
  conn: ByteDuplex,
  proxy: Proxy,
  opts: Http1ConnectionOptions,
): Promise<void> {
  const headTimeout = opts.headTimeoutMs ?? DEFAULT_HEAD_TIMEOUT_MS;
  const idleTimeout = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const reader = conn.readable.getReader();
  const writer = conn.writable.getWriter();
  const source = new ByteSource(reader);
  let closed = false;
  let answered = false;
  let upgraded = false;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const close = () => {
    clearTimeout(timer);
    if (closed) return;
    closed = true;
    try {
      conn.close();
    } catch { /* already closed */ }
  };
  const arm = (ms: number, fire: () => void) => {
    clearTimeout(timer);
    timer = setTimeout(fire, ms);
  };
  const disarm = () => clearTimeout(timer);
  const onAbort = () => close();
  if (opts.signal?.aborted) {
    close();
    return;
  }
  opts.signal?.addEventListener("abort", onAbort, { once: true });

  /** Writes a last answer and closes, letting the client read it. */
  async function finish(bytes?: Uint8Array): Promise<void> {
    try {
      if (bytes) await writer.write(bytes);
      await (opts.closeWrite ? opts.closeWrite() : writer.close());
      arm(LINGER_MS, close);
      let n = 0;
      while (n < MAX_LINGER_BYTES) {
        const c = await source.read();
        if (c === null) break;
        n += c.length;
      }
    } catch { /* the client is gone */ }
    close();
  }

  function onHeadTimeout() {
    if (answered || closed) return close();
    // A 408 if it can be written at once; the connection closes either way.
    const bytes = refusalBytes(
      408,
      `Cannot read request head: it was not complete within ${headTimeout} ms`,
    );
    arm(LINGER_MS, close);
    writer.write(bytes).then(close, close);
  }

  /** The next request head, or undefined when the connection is done. */
  async function nextHead(first: boolean): Promise<RequestHead | undefined> {
    const reader = new RequestHeadReader();
    let started = first;
    arm(first ? headTimeout : idleTimeout, first ? onHeadTimeout : close);
    for (;;) {
      let chunk: Uint8Array | null;
      try {
        chunk = await source.read();
      } catch {
        return undefined;
      }
      if (chunk === null || closed) return undefined;
      if (!started) {
        started = true;
        arm(headTimeout, onHeadTimeout);
      }
      let done;
      try {
        done = reader.push(chunk);
      } catch (e) {
        if (!(e instanceof HttpRefusal)) throw e;
        disarm();
        opts.logger?.info("request refused", {
          status: e.status,
          reason: e.message,
          remote: opts.remoteAddr,
        });
        await finish(refusalBytes(e.status, e.message));
        return undefined;
      }
      if (done) {
        disarm();
        source.unread(done.rest);
        return done.head;
      }
    }
  }

  try {
    for (let first = true;; first = false) {
      const head = await nextHead(first);
      if (!head) return;
      const peer: PeerInfo = {
        remoteAddr: opts.remoteAddr,
        headers: headersOf(head.rawHeaders),
      };
      if (head.upgrade) {
        if (head.body.kind !== "none") {
          return await finish(refusalBytes(
            400,
            "Cannot read request head: an upgrade request cannot carry a body",
          ));
        }
        // The relay takes the connection over from here: the server lets
        // go of its streams (no read is in flight, so no byte is lost) and
        // hands on what the client sent after the head.
        const rest = source.takePending();
        reader.releaseLock();
        writer.releaseLock();
        await proxy.upgrade(
          {
            method: head.method,
            target: head.target,
            rawHeaders: head.rawHeaders,
          },
          conn,
          rest,
          peer,
        );
        upgraded = true;
        return;
      }
      if (!await exchange(head, peer)) return await finish();
    }
  } catch (e) {
    opts.logger?.warn("client connection failed", {
      remote: opts.remoteAddr,
      error: (e as Error).message,
    });
  } finally {
    if (upgraded) {
      // The relay is done, or has written its refusal to a socket that
      // flushes on its own: the connection closes after a grace period (or
      // at shutdown), whichever comes first, if the relay has not closed it.
      arm(headTimeout, () => {
        opts.signal?.removeEventListener("abort", onAbort);
        close();
      });
    } else {
      opts.signal?.removeEventListener("abort", onAbort);
      close();
    }
  }

  /** Answers one ordinary request; true when the connection may go on. */
  async function exchange(head: RequestHead, peer: PeerInfo): Promise<boolean> {
    let responding = false;
    const body = requestBody(
      source,
      head.body,
      head.expectContinue
        ? async () => {
          if (!responding) await writer.write(CONTINUE_BYTES);
        }
        : undefined,
    );
    const carriesBody = head.body.kind !== "none" &&
      !/^(GET|HEAD)$/i.test(head.method);
    let req: Request;
    try {
      req = new Request(urlOf(head, opts.secure), {
        method: head.method,
        headers: peer.headers,
        body: carriesBody ? body.stream : null,
        duplex: "half",
      } as RequestInit);
    } catch (e) {
      await writer.write(refusalBytes(
        400,
        `Cannot handle request: method ${
          JSON.stringify(head.method)
        } is not supported here (${(e as Error).message})`,
      ));
      return false;
    }
    let res: Response;
    try {
      res = await proxy.fetch(req, peer, head.target);
    } catch (e) {
      opts.logger?.error("request failed", { error: (e as Error).message });
      res = statusResponse(
        500,
        `execgate: the proxy failed on this request: ${(e as Error).message}`,
      );
    }
    responding = true;
    // A client gone in the middle of a long answer (a watch) stops it: the
    // upstream is not read for no one. Only once the request body is read,
    // so the look-ahead read takes nothing from it.
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    if (body.state === "done") source.ended().then(onAbort);
    let keep: boolean;
    try {
      keep = await writeResponse(writer, res, {
        method: head.method.toUpperCase(),
        version: head.version,
        keepAlive: head.keepAlive,
        signal: stop.signal,
      });
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
    }
    answered = true;
    if (keep && body.state === "reading") {
      // An answer before the whole body was read: the rest is read and
      // dropped (up to a bound) so the next request starts where it does.
      keep = !body.stream.locked && await drain(body.stream);
    }
    return keep && body.state === "done";
  }
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<boolean> {
  const r = stream.getReader();
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await r.read();
      if (done) return true;
      n += value.length;
      if (n > MAX_DRAIN_BYTES) {
        await r.cancel();
        return false;
      }
    }
  } catch {
    return false;
  }
}
