/**
 * The upgrade relay: a passive middlebox for `Connection: Upgrade` requests
 * (WebSocket and SPDY). It sends the rewritten request head upstream, reads
 * the answer's head, and then
 *
 * - on `101`, writes the answer to the client verbatim and relays raw bytes
 *   both ways with TCP back-pressure, showing a copy of each direction to an
 *   optional {@linkcode RelayTap} (which may hold upstream bytes back until
 *   they are recorded, or abort the session);
 * - on anything else (RBAC 403, 404, …), passes the answer through unchanged,
 *   status, headers and body, and closes: no second request may ride on a
 *   connection the proxy did not authorise. The tap then ends `refused` with
 *   the upstream's status and the `message` of its `Status` body (read from
 *   at most the first 64 KiB of the body) or its reason phrase.
 *
 * The sockets are typed structurally (a subset of Node's `net.Socket`), so the
 * relay itself imports no runtime module.
 *
 * @module
 */

import { failureStatus } from "../k8s/status.ts";
import type { EndReason, UpstreamRefusal } from "../recording/wire.ts";
import {
  headerOf,
  type ResponseHead,
  ResponseHeadParser,
} from "./http_head.ts";
import type { RelayTap } from "./relay_tap.ts";

/** The part of a Node socket the relay uses. */
export interface RelaySocket {
  write(chunk: Uint8Array): boolean;
  end(cb?: () => void): void;
  destroy(): void;
  pause(): void;
  resume(): void;
  on(event: "data", fn: (chunk: Uint8Array) => void): unknown;
  on(event: "drain" | "end" | "close", fn: () => void): unknown;
  on(event: "error", fn: (err: Error) => void): unknown;
  once(event: "drain", fn: () => void): unknown;
}

/** Options of {@linkcode relayUpgrade}. */
export interface RelayOptions {
  /** The client's socket, positioned after its request head. */
  client: RelaySocket;
  /** Bytes the client sent after its request head (Node's `head`). */
  clientHead: Uint8Array;
  /** The request head to send upstream (request line + headers + CRLF CRLF). */
  requestHead: Uint8Array;
  /** Opens the connection to the upstream. */
  connect: () => Promise<RelaySocket>;
  /** Optional observer of the upgraded session. */
  tap?: RelayTap;
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

function writeHttp(
  socket: RelaySocket,
  status: number,
  contentType: string,
  body: Uint8Array,
): void {
  socket.write(enc.encode(
    `HTTP/1.1 ${status} ${
      REASON_PHRASES[status] ?? "Error"
    }\r\nContent-Type: ${contentType}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
  ));
  socket.write(body);
  socket.end();
}

/**
 * Writes a complete HTTP response to a raw socket and ends it.
 * @param socket The client socket.
 * @param status Status code.
 * @param body JSON body (a Kubernetes `Status`).
 */
export function writeRawResponse(
  socket: RelaySocket,
  status: number,
  body: unknown,
): void {
  writeHttp(
    socket,
    status,
    "application/json",
    enc.encode(JSON.stringify(body)),
  );
}

/**
 * Writes a `Response` (status, content type and body) to a raw socket as a
 * complete HTTP/1.1 answer and ends it: how an upgrade request that was
 * refused before the relay is answered.
 * @param socket The client socket.
 * @param res The answer.
 */
export async function writeResponse(
  socket: RelaySocket,
  res: Response,
): Promise<void> {
  const body = new Uint8Array(await res.arrayBuffer());
  writeHttp(
    socket,
    res.status,
    res.headers.get("content-type") ?? "application/json",
    body,
  );
}

/**
 * Relays one upgrade request. Resolves when both sides are closed (and the
 * tap has ended).
 * @param opts Sockets, request head, tap.
 * @returns How it went.
 */
export function relayUpgrade(opts: RelayOptions): Promise<RelayResult> {
  return new Relay(opts).run();
}

class Relay {
  #o: RelayOptions;
  #up?: RelaySocket;
  #status = 0;
  #upPauses = 0;
  #done = false;
  #aborted = false;
  #reason?: EndReason;
  #detail?: string;
  #chain: Promise<void> = Promise.resolve();
  #resolve!: (r: RelayResult) => void;
  #clientClosed = false;
  #upClosed = false;
  #refusal?: { head: ResponseHead; body: Uint8Array[]; size: number };

  constructor(o: RelayOptions) {
    this.#o = o;
  }

  run(): Promise<RelayResult> {
    const p = new Promise<RelayResult>((r) => (this.#resolve = r));
    const { client } = this.#o;
    client.pause();
    client.on("error", (e) => this.#fail("client-gone", e.message));
    client.on("close", () => {
      this.#clientClosed = true;
      this.#reason ??= "client-gone";
      if (this.#up && !this.#upClosed) endGracefully(this.#up);
      this.#maybeFinish();
    });
    this.#o.connect().then((up) => this.#start(up), (e: Error) => {
      if (!this.#clientClosed) {
        writeRawResponse(
          client,
          502,
          failureStatus(
            502,
            `the upstream API server could not be reached: ${e.message}`,
          ),
        );
      }
      this.#upClosed = true;
      this.#reason ??= "upstream-gone";
      this.#detail ??= e.message;
      this.#maybeFinish();
    });
    return p;
  }

  #start(up: RelaySocket): void {
    this.#up = up;
    if (this.#done) {
      up.destroy();
      return;
    }
    const parser = new ResponseHeadParser();
    let phase: "head" | "open" | "passthrough" = "head";
    let remaining = -1; // passthrough: body bytes left, -1 = until close
    const chunked = new ChunkedEnd();
    up.on("error", (e) => this.#fail("upstream-gone", e.message));
    const upDone = () => {
      if (this.#upClosed) return;
      this.#upClosed = true;
      this.#reason ??= "upstream-gone";
      // Release whatever the tap still holds before ending the client.
      this.#chain = this.#chain.then(() => {
        if (!this.#clientClosed) endGracefully(this.#o.client);
      });
      this.#chain.then(() => this.#maybeFinish());
    };
    up.on("end", upDone);
    up.on("close", upDone);
    up.on("data", (chunk) => {
      if (phase === "open") return this.#fromUpstream(chunk);
      if (phase === "passthrough") {
        this.#keepRefusalBody(chunk);
        this.#o.client.write(chunk);
        if (remaining >= 0) remaining -= chunk.length;
        if (remaining === 0 || (remaining < 0 && chunked.feed(chunk))) {
          this.#endPassthrough();
        }
        return;
      }
      let got;
      try {
        got = parser.push(chunk);
      } catch (e) {
        writeRawResponse(
          this.#o.client,
          502,
          failureStatus(502, (e as Error).message),
        );
        this.#fail("protocol-error", (e as Error).message);
        return;
      }
      if (!got) return;
      this.#status = got.head.status;
      if (got.head.status === 101) {
        phase = "open";
        this.#open(
          got.head,
          got.raw.subarray(0, got.head.headLength),
          got.rest,
        );
      } else {
        phase = "passthrough";
        this.#reason = "refused";
        this.#detail =
          `the upstream answered ${got.head.status} ${got.head.statusText}`
            .trim();
        this.#refusal = { head: got.head, body: [], size: 0 };
        this.#keepRefusalBody(got.rest);
        this.#o.client.write(got.raw);
        const len = bodyLength(got.head);
        if (len === "chunked") {
          remaining = -1;
          if (chunked.feed(got.rest)) this.#endPassthrough();
        } else if (len !== undefined) {
          remaining = len - got.rest.length;
          if (remaining <= 0) this.#endPassthrough();
        }
      }
    });
    try {
      up.write(this.#o.requestHead);
    } catch (e) {
      this.#fail("upstream-gone", (e as Error).message);
    }
  }

  #keepRefusalBody(chunk: Uint8Array): void {
    const r = this.#refusal;
    if (!r || r.size >= MAX_REFUSAL_BODY_BYTES || chunk.length === 0) return;
    const part = chunk.subarray(0, MAX_REFUSAL_BODY_BYTES - r.size);
    r.body.push(part.slice());
    r.size += part.length;
  }

  #endPassthrough(): void {
    this.#reason ??= "normal";
    endGracefully(this.#o.client);
    this.#up?.destroy();
  }

  #open(head: ResponseHead, raw: Uint8Array, rest: Uint8Array): void {
    const { client, tap } = this.#o;
    const up = this.#up!;
    if (tap) {
      tap.abort = (toClient, detail) => this.#abort(toClient, detail);
      tap.upgraded(
        headerOf(head, "sec-websocket-protocol") ??
          headerOf(head, "x-stream-protocol-version") ?? "",
      );
    }
    client.write(raw);
    if (rest.length > 0) this.#fromUpstream(rest);
    client.on("data", (chunk) => {
      if (this.#aborted) return;
      if (!up.write(chunk)) {
        client.pause();
        up.once("drain", () => client.resume());
      }
      if (tap) {
        try {
          tap.fromClient(chunk);
        } catch (e) {
          this.#fail("protocol-error", (e as Error).message);
        }
      }
    });
    client.on("end", () => {
      if (!this.#upClosed) up.end();
    });
    if (this.#o.clientHead.length > 0) {
      const first = this.#o.clientHead;
      up.write(first);
      try {
        tap?.fromClient(first);
      } catch (e) {
        this.#fail("protocol-error", (e as Error).message);
      }
    }
    client.resume();
  }

  #pauseUp(): void {
    if (this.#upPauses++ === 0) this.#up?.pause();
  }

  #resumeUp(): void {
    if (--this.#upPauses === 0 && !this.#done) this.#up?.resume();
  }

  #toClient(bytes: Uint8Array): void {
    if (this.#aborted || bytes.length === 0) return;
    if (!this.#o.client.write(bytes)) {
      this.#pauseUp();
      this.#o.client.once("drain", () => this.#resumeUp());
    }
  }

  #fromUpstream(chunk: Uint8Array): void {
    const tap = this.#o.tap;
    if (!tap) return this.#toClient(chunk);
    this.#pauseUp();
    this.#chain = this.#chain.then(async () => {
      if (this.#aborted) return;
      try {
        this.#toClient(await tap.fromUpstream(chunk));
      } catch (e) {
        this.#fail("protocol-error", (e as Error).message);
      }
    }).finally(() => this.#resumeUp());
  }

  #abort(toClient: Uint8Array, detail: string): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = "recording-failed";
    this.#detail = detail;
    const { client } = this.#o;
    this.#up?.destroy();
    if (!this.#clientClosed) {
      client.write(toClient);
      endGracefully(client);
    }
  }

  #fail(reason: EndReason, detail?: string): void {
    this.#reason ??= reason;
    this.#detail ??= detail;
    this.#o.client.destroy();
    this.#up?.destroy();
  }

  #maybeFinish(): void {
    if (this.#clientClosed && (this.#upClosed || !this.#up)) {
      this.#finish(this.#reason ?? "normal", this.#detail);
    }
  }

  #finish(reason: EndReason, detail?: string): void {
    if (this.#done) return;
    this.#done = true;
    this.#reason ??= reason;
    this.#detail ??= detail;
    const upstream = this.#refusal ? refusalOf(this.#refusal) : undefined;
    const result: RelayResult = {
      status: this.#status,
      reason: this.#reason,
      ...(this.#detail ? { detail: this.#detail } : {}),
      ...(upstream ? { upstream } : {}),
    };
    const tap = this.#o.tap;
    const ended = tap && this.#status === 101
      ? this.#chain.then(() => tap.end(result.reason, result.detail))
      : tap && upstream
      ? tap.end("refused", result.detail, upstream)
      : tap
      ? tap.end(result.reason, result.detail)
      : Promise.resolve();
    ended.catch(() => {}).then(() => this.#resolve(result));
  }
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

/** Ends a socket's writing side, then closes it once everything is flushed. */
function endGracefully(s: RelaySocket): void {
  s.end(() => s.destroy());
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
