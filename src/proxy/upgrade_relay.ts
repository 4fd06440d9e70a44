/**
 * The upgrade relay: a passive middlebox for `Connection: Upgrade` requests
 * (WebSocket and SPDY), over web streams ({@linkcode ByteDuplex}). It sends
 * the rewritten request head upstream, reads the answer's head, and then
 *
 * - on `101`, writes the answer to the client verbatim and pipes both
 *   directions with the streams' own back-pressure:
 *   ```
 *   upstream.readable ─▶ tap.upstreamGate()   ─▶ client.writable
 *   client.readable   ─▶ tap.clientObserver() ─▶ upstream.writable
 *   ```
 *   A reader that stops reading stops the other side: nothing here counts
 *   chunks, pauses or waits per chunk. A tap that ends the session (fail
 *   closed) terminates its gate after its final bytes; the pipes carry that
 *   on (upstream cancelled, client closed).
 * - on anything else (RBAC 403, 404, …), passes the answer through unchanged,
 *   status, headers and body, and closes: no second request may ride on a
 *   connection the proxy did not authorise. The tap then ends `refused` with
 *   the upstream's status and the `message` of its `Status` body (read from
 *   at most the first 64 KiB of the body) or its reason phrase.
 *
 * Runtime-neutral: it sees only streams.
 *
 * @module
 */

import { failureStatus } from "../k8s/status.ts";
import type { EndReason, UpstreamRefusal } from "../recording/wire.ts";
import type { ByteDuplex } from "./duplex.ts";
import {
  headerOf,
  type ResponseHead,
  ResponseHeadParser,
} from "./http_head.ts";
import type { RelayTap } from "../recording/relay_tap.ts";

/** Options of {@linkcode relayUpgrade}. */
export interface RelayOptions {
  /** The client's connection, positioned after its request head. */
  client: ByteDuplex;
  /** Bytes the client sent after its request head. */
  clientHead: Uint8Array;
  /** The request head to send upstream (request line + headers + CRLF CRLF). */
  requestHead: Uint8Array;
  /** Opens the connection to the upstream. */
  connect: () => Promise<ByteDuplex>;
  /** Optional observer of the upgraded session. */
  tap?: RelayTap;
  /**
   * Told how many bytes each side sent once upgraded (read off its
   * connection, before any tap). @default {none}
   */
  counters?: {
    clientToUpstream: ByteCounter;
    upstreamToClient: ByteCounter;
  };
}

/** Something bytes are added to (a metrics counter child). */
export interface ByteCounter {
  /**
   * Adds bytes relayed.
   * @param n Bytes.
   */
  inc(n: number): void;
}

/** How the relay went. */
export interface RelayResult {
  /** The upstream's status code (0 when it could not be reached or read). */
  status: number;
  /** Why the relay ended. */
  reason: EndReason;
  /** Error detail, if any. */
  detail?: string;
  /** When the upstream answered anything but `101`: what it answered. */
  upstream?: UpstreamRefusal;
}

/** How much of a refusal's body is kept to read its `Status` message. */
export const MAX_REFUSAL_BODY_BYTES = 64 * 1024;

const enc = new TextEncoder();

/**
 * Serialises a request head, refusing header values that could split it.
 * @param method Request method.
 * @param target Request target (path and query).
 * @param headers Header pairs.
 * @returns The head's bytes.
 * @throws {TypeError} A name or value contains CR, LF or NUL.
 */
export function encodeRequestHead(
  method: string,
  target: string,
  headers: [string, string][],
): Uint8Array {
  const bad = /[\r\n\0]/;
  if (bad.test(method) || bad.test(target) || /\s/.test(target)) {
    throw new TypeError(
      `Cannot build request head: target "${target}" is invalid`,
    );
  }
  let s = `${method} ${target} HTTP/1.1\r\n`;
  for (const [k, v] of headers) {
    if (bad.test(k) || bad.test(v) || k.includes(":")) {
      throw new TypeError(
        `Cannot build request head: header "${k}" has a forbidden character`,
      );
    }
    s += `${k}: ${v}\r\n`;
  }
  return enc.encode(s + "\r\n");
}

const REASON_PHRASES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
};

async function writeHttp(
  conn: ByteDuplex,
  status: number,
  contentType: string,
  body: Uint8Array,
): Promise<void> {
  const head = enc.encode(
    `HTTP/1.1 ${status} ${
      REASON_PHRASES[status] ?? "Error"
    }\r\nContent-Type: ${contentType}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
  );
  const w = conn.writable.getWriter();
  try {
    await w.write(head);
    await w.write(body);
    await w.close();
  } catch {
    /* the client is gone */
  } finally {
    closeQuietly(conn);
  }
}

/**
 * Writes a complete HTTP response to a raw connection and closes it.
 * @param conn The client connection.
 * @param status Status code.
 * @param body JSON body (a Kubernetes `Status`).
 */
export function writeRawResponse(
  conn: ByteDuplex,
  status: number,
  body: unknown,
): Promise<void> {
  return writeHttp(
    conn,
    status,
    "application/json",
    enc.encode(JSON.stringify(body)),
  );
}

/**
 * Writes a `Response` (status, content type and body) to a raw connection as
 * a complete HTTP/1.1 answer and closes it: how an upgrade request that was
 * refused before the relay is answered.
 * @param conn The client connection.
 * @param res The answer.
 */
export async function writeResponse(
  conn: ByteDuplex,
  res: Response,
): Promise<void> {
  const body = new Uint8Array(await res.arrayBuffer());
  await writeHttp(
    conn,
    res.status,
    res.headers.get("content-type") ?? "application/json",
    body,
  );
}

/**
 * Relays one upgrade request. Resolves when both directions are closed and
 * the tap has ended.
 * @param opts Connections, request head, tap.
 * @returns How it went.
 */
export async function relayUpgrade(opts: RelayOptions): Promise<RelayResult> {
  const { client, tap } = opts;
  let up: ByteDuplex;
  try {
    up = await opts.connect();
  } catch (e) {
    const detail = (e as Error).message;
    await writeRawResponse(
      client,
      502,
      failureStatus(
        502,
        `the upstream API server could not be reached: ${detail}`,
      ),
    );
    return ended(tap, { status: 0, reason: "upstream-gone", detail });
  }
  const reader = up.readable.getReader();
  let answer;
  try {
    answer = await sendHead(up, reader, opts.requestHead);
  } catch (e) {
    const err = e as Error & { reason?: EndReason };
    await writeRawResponse(client, 502, failureStatus(502, err.message));
    closeQuietly(up);
    return ended(tap, {
      status: 0,
      reason: err.reason ?? "upstream-gone",
      detail: err.message,
    });
  }
  if (answer.head.status !== 101) {
    return ended(tap, await passThrough(client, up, reader, answer));
  }
  return ended(tap, await relayOpen(opts, up, reader, answer));
}

type Reader = ReadableStreamDefaultReader<Uint8Array>;
type Answer = { head: ResponseHead; raw: Uint8Array; rest: Uint8Array };

/** Sends the request head and reads the answer's head. */
async function sendHead(
  up: ByteDuplex,
  reader: Reader,
  requestHead: Uint8Array,
): Promise<Answer> {
  const w = up.writable.getWriter();
  await w.write(requestHead);
  w.releaseLock();
  const parser = new ResponseHeadParser();
  while (true) {
    const { value, done } = await reader.read();
    if (done) {
      throw new Error("the upstream closed the connection before answering");
    }
    let got;
    try {
      got = parser.push(value);
    } catch (e) {
      throw Object.assign(e as Error, { reason: "protocol-error" });
    }
    if (got) return got;
  }
}

/** A non-101 answer: pass it through verbatim, then close both sides. */
async function passThrough(
  client: ByteDuplex,
  up: ByteDuplex,
  reader: Reader,
  got: Answer,
): Promise<RelayResult> {
  const refusal = { head: got.head, body: [] as Uint8Array[], size: 0 };
  const keep = (chunk: Uint8Array) => {
    if (refusal.size >= MAX_REFUSAL_BODY_BYTES || chunk.length === 0) return;
    const part = chunk.subarray(0, MAX_REFUSAL_BODY_BYTES - refusal.size);
    refusal.body.push(part.slice());
    refusal.size += part.length;
  };
  const w = client.writable.getWriter();
  const len = bodyLength(got.head);
  const chunked = new ChunkedEnd();
  let remaining = typeof len === "number" ? len : -1;
  const isEnd = (chunk: Uint8Array) => {
    if (len === "chunked") return chunked.feed(chunk);
    if (remaining >= 0) remaining -= chunk.length;
    return remaining <= 0 && len !== undefined;
  };
  try {
    keep(got.rest);
    await w.write(got.raw);
    let end = isEnd(got.rest);
    while (!end) {
      const { value, done } = await reader.read();
      if (done) break;
      keep(value);
      await w.write(value);
      end = isEnd(value);
    }
    await w.close();
  } catch { /* either side went away: the answer is what got through */ }
  closeQuietly(client);
  closeQuietly(up);
  return {
    status: got.head.status,
    reason: "refused",
    detail: `the upstream answered ${got.head.status} ${got.head.statusText}`
      .trim(),
    upstream: refusalOf(refusal),
  };
}

/** A `101`: the answer to the client, then the two pipes. */
async function relayOpen(
  opts: RelayOptions,
  up: ByteDuplex,
  upReader: Reader,
  got: Answer,
): Promise<RelayResult> {
  const { client, tap } = opts;
  let reason: EndReason | undefined;
  let detail: string | undefined;
  const note = (r: EndReason, e?: unknown) => {
    if (reason !== undefined) return;
    reason = r;
    if (e !== undefined) detail = e instanceof Error ? e.message : String(e);
  };
  tap?.upgraded(
    headerOf(got.head, "sec-websocket-protocol") ??
      headerOf(got.head, "x-stream-protocol-version") ?? "",
  );
  const w = client.writable.getWriter();
  try {
    await w.write(got.raw.subarray(0, got.head.headLength));
    w.releaseLock();
  } catch (e) {
    note("client-gone", e);
    upReader.cancel().catch(() => {});
    closeQuietly(up);
    closeQuietly(client);
    return { status: 101, reason: reason!, ...(detail ? { detail } : {}) };
  }
  const fromUpstream = prefixed(
    got.rest,
    upReader,
    (e) => note("upstream-gone", e),
    opts.counters?.upstreamToClient,
  );
  const fromClient = prefixed(
    opts.clientHead,
    client.readable.getReader(),
    (e) => note("client-gone", e),
    opts.counters?.clientToUpstream,
  );
  const down =
    (tap ? fromUpstream.pipeThrough(tap.upstreamGate()) : fromUpstream)
      .pipeTo(client.writable)
      .catch((e) => note("client-gone", e))
      .finally(() => {
        // The session is over for the client: close both sides.
        closeQuietly(client);
        closeQuietly(up);
      });
  // preventCancel: an upstream that is done (it closed after its last
  // frame) must not cancel the client's side, which closes the client's
  // connection while the gate still holds output waiting for the recorder's
  // acknowledgement (seen under load: clients cut off at 768 KiB of 1 MiB,
  // recordings complete). `down` closes both sides once the client has it all.
  const toUp = (tap ? fromClient.pipeThrough(tap.clientObserver()) : fromClient)
    .pipeTo(up.writable, { preventCancel: true })
    .catch((e) => note("upstream-gone", e))
    .finally(() => {
      // The client is done sending (or gone): end the upstream too; what it
      // still sends can no longer be answered.
      note("client-gone");
      closeQuietly(up);
    });
  await Promise.all([down, toUp]);
  if (tap?.abortedWith !== undefined) {
    reason = "recording-failed";
    detail = tap.abortedWith;
  }
  return {
    status: 101,
    reason: reason ?? "normal",
    ...(detail ? { detail } : {}),
  };
}

/**
 * A pull-only stream of `first`, then what `reader` yields (no read-ahead:
 * a chunk is read only when the consumer asks for one).
 */
function prefixed(
  first: Uint8Array,
  reader: Reader,
  onEnd: (e?: unknown) => void,
  count?: ByteCounter,
): ReadableStream<Uint8Array> {
  let pending: Uint8Array | undefined = first.length > 0 ? first : undefined;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      if (pending) {
        count?.inc(pending.length);
        c.enqueue(pending);
        pending = undefined;
        return;
      }
      let r;
      try {
        r = await reader.read();
      } catch (e) {
        // A connection that broke (e.g. closed without TLS close_notify)
        // ends its byte stream like an EOF: what came before still goes
        // through the gate and reaches the other side once recorded. An
        // error here would abort the pipe and drop the gate's held output
        // (seen under load: clients cut off at 600–800 KiB of 1 MiB while
        // the recordings were complete).
        onEnd(e);
        c.close();
        return;
      }
      if (r.done) {
        onEnd();
        c.close();
      } else {
        count?.inc(r.value.length);
        c.enqueue(r.value);
      }
    },
    cancel(why) {
      return reader.cancel(why).catch(() => {});
    },
  }, { highWaterMark: 0 });
}

/** Ends the tap as the relay ended, then returns the result. */
async function ended(
  tap: RelayTap | undefined,
  result: RelayResult,
): Promise<RelayResult> {
  if (!tap) return result;
  try {
    if (result.upstream) {
      await tap.end("refused", result.detail, result.upstream);
    } else await tap.end(result.reason, result.detail);
  } catch { /* the tap logs its own failures */ }
  return result;
}

/** Closes a connection, ignoring that it may be closed already. */
function closeQuietly(conn: ByteDuplex): void {
  try {
    conn.close();
  } catch { /* closed already */ }
}

/**
 * What a non-101 answer says: the `message` of its JSON `Status` body when it
 * is one, else the reason phrase.
 */
function refusalOf(
  r: { head: ResponseHead; body: Uint8Array[]; size: number },
): UpstreamRefusal {
  const fallback = { status: r.head.status, message: r.head.statusText };
  let bytes = concatAll(r.body, r.size);
  const te = headerOf(r.head, "transfer-encoding");
  if (te && te.toLowerCase().includes("chunked")) bytes = dechunk(bytes);
  try {
    const body = JSON.parse(new TextDecoder().decode(bytes));
    if (
      body && typeof body === "object" && body.kind === "Status" &&
      typeof body.message === "string"
    ) {
      return { status: r.head.status, message: body.message };
    }
  } catch { /* not JSON, or cut at 64 KiB */ }
  return fallback;
}

function concatAll(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The data of a (possibly cut) chunked body, best effort. */
function dechunk(b: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let size = 0;
  let i = 0;
  while (i < b.length) {
    let n = 0;
    let j = i;
    let digits = 0;
    while (j < b.length && hexVal(b[j]!) >= 0) {
      n = n * 16 + hexVal(b[j]!);
      j++;
      digits++;
    }
    if (digits === 0) break;
    while (j < b.length && b[j] !== 10) j++;
    j++;
    if (n === 0) break;
    const part = b.subarray(j, Math.min(j + n, b.length));
    parts.push(part);
    size += part.length;
    i = j + n + 2;
  }
  return concatAll(parts, size);
}

/** Body length of a non-101 answer: bytes, "chunked", or undefined (until close). */
function bodyLength(head: ResponseHead): number | "chunked" | undefined {
  if (head.status === 204 || head.status === 304) return 0;
  const te = headerOf(head, "transfer-encoding");
  if (te && te.toLowerCase().includes("chunked")) return "chunked";
  const cl = headerOf(head, "content-length");
  if (cl !== undefined && /^\d+$/.test(cl)) return Number(cl);
  return undefined;
}

/** Detects the end of a chunked body (the `0\r\n…\r\n\r\n` terminator) incrementally. */
class ChunkedEnd {
  #state: "size" | "ext" | "sizeLf" | "data" | "dataCr" | "dataLf" | "trailer" =
    "size";
  #size = 0;
  #left = 0;
  #lineLen = 0;
  #last = false;

  /** @returns true once the terminator has been seen. */
  feed(b: Uint8Array): boolean {
    for (let i = 0; i < b.length; i++) {
      const c = b[i]!;
      switch (this.#state) {
        case "size": {
          const h = hexVal(c);
          if (h >= 0) this.#size = this.#size * 16 + h;
          else if (c === 13) this.#state = "sizeLf";
          else this.#state = "ext";
          break;
        }
        case "ext":
          if (c === 13) this.#state = "sizeLf";
          break;
        case "sizeLf":
          if (this.#size === 0) {
            this.#last = true;
            this.#state = "trailer";
            this.#lineLen = 0;
          } else {
            this.#left = this.#size;
            this.#state = "data";
          }
          this.#size = 0;
          break;
        case "data": {
          const n = Math.min(this.#left, b.length - i);
          this.#left -= n;
          i += n - 1;
          if (this.#left === 0) this.#state = "dataCr";
          break;
        }
        case "dataCr":
          this.#state = "dataLf";
          break;
        case "dataLf":
          this.#state = "size";
          break;
        case "trailer":
          if (c === 10) {
            if (this.#lineLen === 0 && this.#last) return true;
            this.#lineLen = 0;
          } else if (c !== 13) this.#lineLen++;
          break;
      }
    }
    return false;
  }
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}
