/**
 * The {@linkcode ChannelTap} of a remote-command session over SPDY/3.1 (what
 * kubectl ≤ 1.29 speaks, and 1.30+ falls back to): one
 * {@linkcode SpdyFrameDecoder} per direction, streams mapped to channels by
 * the `streamtype` header of the client's SYN_STREAMs, and the frames that end
 * a session from the client's side.
 *
 * ```
 * client                                   server
 *   SYN_STREAM id=1 streamtype=error  ──▶
 *                                     ◀──  SYN_REPLY id=1
 *   SYN_STREAM id=3 streamtype=stdin  ──▶     (one stream per channel, the
 *   …  id=5 stdout, id=7 stderr, id=9 resize   client waits for each reply)
 *   DATA id=3 "input"                 ──▶  channel 0
 *   DATA id=9 {"Width":80,"Height":24}──▶  channel 4
 *                                     ◀──  DATA id=5 "output"   channel 1
 *                                     ◀──  DATA id=1 {Status} FIN channel 3
 * ```
 *
 * Source: kubernetes `staging/src/k8s.io/client-go/tools/remotecommand/v4.go`
 * and `…/kubelet/pkg/cri/streaming/remotecommand/httpstream.go`.
 *
 * @module
 */

import type { ChannelMessage, ChannelTap } from "../channel_tap.ts";
import {
  CHANNEL_CLOSE,
  CHANNEL_ERROR,
  CHANNEL_RESIZE,
  CHANNEL_STDERR,
  CHANNEL_STDIN,
  CHANNEL_STDOUT,
  PROTOCOL_V4,
  PROTOCOL_V5,
} from "../constants.ts";
import type { K8sStatus } from "../status.ts";
import { SPDY3_DICTIONARY_ID } from "./dictionary.ts";
import {
  encodeControlFrame,
  encodeDataFrame,
  TYPE_SYN_REPLY,
  u32s,
} from "./frame.ts";
import { type SpdyDecoded, SpdyFrameDecoder } from "./frame_decoder.ts";
import { headerValue } from "./header_block.ts";
import { concatBytes } from "../../bytes.ts";

/** The `streamtype` header values of remote-command streams, by channel. */
export const STREAM_TYPES: Readonly<Record<string, number>> = {
  stdin: CHANNEL_STDIN,
  stdout: CHANNEL_STDOUT,
  stderr: CHANNEL_STDERR,
  error: CHANNEL_ERROR,
  resize: CHANNEL_RESIZE,
};

/** Options of {@linkcode SpdyChannelTap}. */
export interface SpdyChannelTapOptions {
  /**
   * Largest frame payload, in bytes, either direction.
   * @default {16777215}
   */
  maxFramePayload?: number;
  /**
   * Largest decompressed header block, in bytes.
   * @default {262144}
   */
  maxHeaderBlock?: number;
  /**
   * Largest resize message (a JSON line), in bytes.
   * @default {65536}
   */
  maxResizeBytes?: number;
}

interface StreamState {
  id: number;
  channel: number;
  clientFin: boolean;
  replied: boolean;
  upstreamFin: boolean;
  reset: boolean;
  /** Error stream: a piece of the status was yielded. */
  started: boolean;
  /** Resize stream: bytes of an unfinished line. */
  pending: Uint8Array[];
  pendingBytes: number;
  /** State as of the last `released()`. */
  releasedReplied: boolean;
  releasedFin: boolean;
  releasedReset: boolean;
}

const NEWLINE = 0x0a;

/**
 * Decodes both directions of a `v4.channel.k8s.io` / `v5.channel.k8s.io`
 * session over SPDY/3.1.
 *
 * - Client → server: SYN_STREAMs name the streams; DATA on the stdin stream
 *   is channel 0 (one piece per frame), DATA on the resize stream is
 *   channel 4, one message per JSON line (kubectl writes one line per frame;
 *   a line split across frames is joined). On v5, the FIN of the stdin stream
 *   yields a channel-255 message `[0]`, as the WebSocket v5 close signal does.
 * - Server → client: DATA on the stdout and stderr streams is channels 1 and
 *   2 (one piece per frame); DATA on the error stream is channel 3, `first`
 *   on its first piece and `last` on the frame with FIN.
 * - Everything else (SYN_REPLY, PING, SETTINGS, WINDOW_UPDATE, RST_STREAM,
 *   HEADERS, GOAWAY, unknown control frames) yields nothing.
 *
 * Malformed input throws a `SyntaxError` saying what and where: a stream
 * with a missing, unknown or repeated `streamtype`, DATA on a stream that was
 * not opened or after its FIN, payload in the wrong direction, a stream
 * opened by the server.
 *
 * @example
 * ```ts
 * import { SpdyChannelTap } from "./spdy_channel_tap.ts";
 * import { SpdyFrameEncoder } from "./frame_encoder.ts";
 * const client = new SpdyFrameEncoder();
 * const server = new SpdyFrameEncoder();
 * const tap = new SpdyChannelTap("v4.channel.k8s.io");
 * tap.client(client.encode({
 *   kind: "syn_stream", streamId: 1, associatedToStreamId: 0, priority: 0,
 *   fin: false, unidirectional: false, headers: [["streamtype", "stdout"]],
 * }));
 * const wire = server.encode({ kind: "data", streamId: 1, fin: false, data: new Uint8Array([104]) });
 * const [m] = tap.upstream(wire);
 * if (m?.channel !== 1 || tap.upstreamComplete !== wire.length) throw new Error();
 * ```
 */
export class SpdyChannelTap implements ChannelTap {
  #v5: boolean;
  #client: SpdyFrameDecoder;
  #upstream: SpdyFrameDecoder;
  #streams = new Map<number, StreamState>();
  #byChannel = new Map<number, StreamState>();
  #maxResize: number;
  #upstreamHeaderBlocks = 0;
  #releasedHeaderBlocks = 0;
  #lastClientStream = 0;

  /**
   * Creates a tap for one SPDY connection, one frame decoder per direction.
   * @param protocol The negotiated `X-Stream-Protocol-Version`.
   * @param options Limits.
   * @throws {RangeError} The protocol is not v4 or v5 of the channel protocol
   * (v1–v3 carry plain text on the error stream, not a `Status`).
   */
  constructor(protocol: string, options: SpdyChannelTapOptions = {}) {
    if (protocol !== PROTOCOL_V4 && protocol !== PROTOCOL_V5) {
      throw new RangeError(
        `Cannot decode SPDY channel protocol "${protocol}": only "${PROTOCOL_V5}" and "${PROTOCOL_V4}" are supported`,
      );
    }
    this.#v5 = protocol === PROTOCOL_V5;
    const limits = {
      maxFramePayload: options.maxFramePayload,
      maxHeaderBlock: options.maxHeaderBlock,
    };
    this.#client = new SpdyFrameDecoder(limits);
    this.#upstream = new SpdyFrameDecoder(limits);
    this.#maxResize = options.maxResizeBytes ?? 65536;
  }

  /** Stream id → channel, for the streams the client opened so far. */
  get streams(): ReadonlyMap<number, number> {
    return new Map([...this.#streams].map(([id, s]) => [id, s.channel]));
  }

  /**
   * Decodes a copy of client → server bytes: stdin (channel 0), resize
   * (channel 4) and, on v5, the close signal (channel 255).
   * @param chunk Bytes as they came off the wire.
   * @returns The channel message pieces the chunk completes.
   * @throws {SyntaxError} The bytes are not a valid SPDY channel stream.
   * @throws {RangeError} A frame, header block or resize line exceeds a limit.
   */
  client(chunk: Uint8Array): ChannelMessage[] {
    const out: ChannelMessage[] = [];
    for (const d of this.#client.push(chunk)) this.#fromClient(d, out);
    return out;
  }

  /**
   * Decodes a copy of server → client bytes: stdout, stderr and error
   * (channels 1, 2, 3).
   * @param chunk Bytes as they came off the wire.
   * @returns The channel message pieces the chunk completes.
   * @throws {SyntaxError} The bytes are not a valid SPDY channel stream.
   * @throws {RangeError} A frame or header block exceeds a limit.
   */
  upstream(chunk: Uint8Array): ChannelMessage[] {
    const out: ChannelMessage[] = [];
    for (const d of this.#upstream.push(chunk)) this.#fromUpstream(d, out);
    return out;
  }

  /**
   * Server → client bytes consumed into whole SPDY frames so far: the prefix
   * that may be released to the client once its messages are recorded.
   */
  get upstreamComplete(): number {
    return this.#upstream.consumed;
  }

  /**
   * Records that the server → client prefix up to
   * {@linkcode SpdyChannelTap.upstreamComplete} was released to the client
   * (its header blocks, SYN_REPLYs, FINs and resets), so that
   * {@linkcode SpdyChannelTap.abortBytes} knows what the client has seen.
   */
  released(): void {
    this.#releasedHeaderBlocks = this.#upstreamHeaderBlocks;
    for (const s of this.#streams.values()) {
      s.releasedReplied = s.replied;
      s.releasedFin = s.upstreamFin;
      s.releasedReset = s.reset;
    }
  }

  /**
   * Frames, from server to client, that end the session: `message` as DATA
   * on the stderr stream (on the stdout stream when the client opened no
   * stderr stream, as with a TTY; nowhere when it opened neither), `status`
   * as DATA with FIN on the error stream, an empty DATA with FIN on every
   * other output stream still open, and a GOAWAY. kubectl prints the message
   * and the status and exits non-zero for a failure status.
   *
   * A stream whose SYN_REPLY the client has not received (in the released
   * prefix) first gets one, with a header block the client's inflater
   * accepts whatever the server's zlib stream said so far: a stored
   * (uncompressed) deflate block, preceded by the zlib header when the client
   * has received no header block yet. Streams the client has not opened yet
   * cannot be written to: an abort while kubectl is still opening its
   * streams ends with a connection error on the client instead of the
   * message.
   * @param message Text for the client's stderr.
   * @param status The final `Status`.
   * @returns The bytes to write to the client after the released prefix.
   */
  abortBytes(message: string, status: K8sStatus): Uint8Array {
    const enc = new TextEncoder();
    const frames: Uint8Array[] = [];
    let headerBlocks = this.#releasedHeaderBlocks;
    const open = (s: StreamState | undefined): s is StreamState =>
      s !== undefined && !s.releasedFin && !s.releasedReset;
    // Reply to every stream the client waits on, in id order.
    for (const s of [...this.#streams.values()].sort((a, b) => a.id - b.id)) {
      if (s.releasedReplied || s.releasedReset) continue;
      frames.push(storedSynReply(s.id, headerBlocks++ === 0));
    }
    const finished = new Set<StreamState>();
    const stderr = this.#byChannel.get(CHANNEL_STDERR);
    const stdout = this.#byChannel.get(CHANNEL_STDOUT);
    const target = open(stderr) ? stderr : open(stdout) ? stdout : undefined;
    if (target && message !== "") {
      frames.push(encodeDataFrame(target.id, enc.encode(message)));
    }
    const error = this.#byChannel.get(CHANNEL_ERROR);
    if (open(error)) {
      frames.push(
        encodeDataFrame(error.id, enc.encode(JSON.stringify(status)), true),
      );
      finished.add(error);
    }
    for (const s of [stdout, stderr]) {
      if (open(s) && !finished.has(s)) {
        frames.push(encodeDataFrame(s.id, new Uint8Array(), true));
      }
    }
    frames.push(
      encodeControlFrame(7, /* GOAWAY */ 0, u32s(this.#lastClientStream, 0)),
    );
    return concatBytes(frames);
  }

  #stream(id: number, d: SpdyDecoded, who: string): StreamState {
    const s = this.#streams.get(id);
    if (!s) {
      throw new SyntaxError(
        `Cannot decode SPDY ${d.frame.kind} frame from the ${who} at offset ${d.offset}: stream ${id} was not opened`,
      );
    }
    return s;
  }

  #fromClient(d: SpdyDecoded, out: ChannelMessage[]): void {
    const f = d.frame;
    const where = `SPDY ${f.kind} frame from the client at offset ${d.offset}`;
    switch (f.kind) {
      case "syn_stream": {
        const type = headerValue(f.headers, "streamtype");
        const channel = type === undefined ? undefined : STREAM_TYPES[type];
        if (this.#streams.has(f.streamId) || f.streamId % 2 === 0) {
          throw new SyntaxError(
            `Cannot decode ${where}: stream id ${f.streamId} is ${
              f.streamId % 2 === 0 ? "even (a server id)" : "already open"
            }`,
          );
        }
        if (channel === undefined) {
          throw new SyntaxError(
            `Cannot decode ${where}: stream ${f.streamId} has ${
              type === undefined
                ? "no streamtype header"
                : `streamtype "${type}", expected one of "${
                  Object.keys(STREAM_TYPES).join('", "')
                }"`
            }`,
          );
        }
        if (this.#byChannel.has(channel)) {
          throw new SyntaxError(
            `Cannot decode ${where}: stream ${f.streamId} repeats streamtype "${type}" of stream ${
              this.#byChannel.get(channel)!.id
            }`,
          );
        }
        const s: StreamState = {
          id: f.streamId,
          channel,
          clientFin: false,
          replied: false,
          upstreamFin: false,
          reset: false,
          started: false,
          pending: [],
          pendingBytes: 0,
          releasedReplied: false,
          releasedFin: false,
          releasedReset: false,
        };
        this.#streams.set(f.streamId, s);
        this.#byChannel.set(channel, s);
        this.#lastClientStream = Math.max(this.#lastClientStream, f.streamId);
        if (f.fin) this.#clientFin(s, out);
        return;
      }
      case "data": {
        const s = this.#stream(f.streamId, d, "client");
        if (s.clientFin) {
          throw new SyntaxError(
            `Cannot decode ${where}: stream ${s.id} already ended (FIN)`,
          );
        }
        if (f.data.length > 0) {
          if (s.channel === CHANNEL_STDIN) {
            out.push({
              channel: CHANNEL_STDIN,
              data: f.data,
              first: true,
              last: true,
            });
          } else if (s.channel === CHANNEL_RESIZE) {
            this.#resize(s, f.data, out, where);
          } else {
            throw new SyntaxError(
              `Cannot decode ${where}: the client sent ${f.data.length} bytes on stream ${s.id}, channel ${s.channel}, which only the server writes`,
            );
          }
        }
        if (f.fin) this.#clientFin(s, out);
        return;
      }
      case "rst_stream":
        this.#stream(f.streamId, d, "client").reset = true;
        return;
      case "syn_reply":
        throw new SyntaxError(
          `Cannot decode ${where}: the server opens no streams in the remote-command protocol (stream ${f.streamId})`,
        );
      default:
        return;
    }
  }

  #clientFin(s: StreamState, out: ChannelMessage[]): void {
    s.clientFin = true;
    if (s.channel === CHANNEL_RESIZE && s.pendingBytes > 0) {
      out.push(resizeMessage(s.pending, s.pendingBytes));
      s.pending = [];
      s.pendingBytes = 0;
    }
    if (s.channel === CHANNEL_STDIN && this.#v5) {
      out.push({
        channel: CHANNEL_CLOSE,
        data: new Uint8Array([CHANNEL_STDIN]),
        first: true,
        last: true,
      });
    }
  }

  #resize(
    s: StreamState,
    data: Uint8Array,
    out: ChannelMessage[],
    where: string,
  ): void {
    let start = 0;
    for (let i = 0; i < data.length; i++) {
      if (data[i] !== NEWLINE) continue;
      s.pending.push(data.subarray(start, i + 1));
      out.push(resizeMessage(s.pending, s.pendingBytes + i + 1 - start));
      s.pending = [];
      s.pendingBytes = 0;
      start = i + 1;
    }
    if (start < data.length) {
      s.pending.push(data.subarray(start));
      s.pendingBytes += data.length - start;
      if (s.pendingBytes > this.#maxResize) {
        throw new RangeError(
          `Cannot decode ${where}: resize message exceeds ${this.#maxResize} bytes without a newline`,
        );
      }
    }
  }

  #fromUpstream(d: SpdyDecoded, out: ChannelMessage[]): void {
    const f = d.frame;
    const where = `SPDY ${f.kind} frame from the server at offset ${d.offset}`;
    switch (f.kind) {
      case "syn_reply": {
        this.#upstreamHeaderBlocks++;
        const s = this.#stream(f.streamId, d, "server");
        s.replied = true;
        if (f.fin) s.upstreamFin = true;
        return;
      }
      case "headers": {
        this.#upstreamHeaderBlocks++;
        const s = this.#stream(f.streamId, d, "server");
        if (f.fin) s.upstreamFin = true;
        return;
      }
      case "syn_stream":
        this.#upstreamHeaderBlocks++;
        throw new SyntaxError(
          `Cannot decode ${where}: the server opens no streams in the remote-command protocol (stream ${f.streamId})`,
        );
      case "data": {
        const s = this.#stream(f.streamId, d, "server");
        if (s.upstreamFin) {
          throw new SyntaxError(
            `Cannot decode ${where}: stream ${s.id} already ended (FIN)`,
          );
        }
        const ch = s.channel;
        if (
          f.data.length > 0 && ch !== CHANNEL_STDOUT && ch !== CHANNEL_STDERR &&
          ch !== CHANNEL_ERROR
        ) {
          throw new SyntaxError(
            `Cannot decode ${where}: the server sent ${f.data.length} bytes on stream ${s.id}, channel ${ch}, which only the client writes`,
          );
        }
        if (f.fin) s.upstreamFin = true;
        if (ch === CHANNEL_ERROR) {
          if (f.data.length > 0 || (f.fin && s.started)) {
            out.push({
              channel: ch,
              data: f.data,
              first: !s.started,
              last: f.fin,
            });
            s.started = true;
          }
        } else if (f.data.length > 0) {
          out.push({ channel: ch, data: f.data, first: true, last: true });
        }
        return;
      }
      case "rst_stream":
        this.#stream(f.streamId, d, "server").reset = true;
        return;
      default:
        return;
    }
  }
}

function resizeMessage(parts: Uint8Array[], size: number): ChannelMessage {
  const data = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    data.set(p, off);
    off += p.length;
  }
  return { channel: CHANNEL_RESIZE, data, first: true, last: true };
}

/**
 * A SYN_REPLY with an empty header block that continues any zlib stream: a
 * stored deflate block (BFINAL=0, BTYPE=00, byte-aligned after the previous
 * block's sync flush) holding the 4-byte pair count 0.
 * @param streamId The stream.
 * @param zlibHeader Start the zlib stream (no header block was sent yet).
 */
function storedSynReply(streamId: number, zlibHeader: boolean): Uint8Array {
  const stored = [0x00, 0x04, 0x00, 0xfb, 0xff, 0, 0, 0, 0];
  const head = zlibHeader
    ? [0x78, 0xbb, ...u32s(SPDY3_DICTIONARY_ID)] // CMF, FLG with FDICT, DICTID
    : [];
  return encodeControlFrame(
    TYPE_SYN_REPLY,
    0,
    new Uint8Array([...u32s(streamId), ...head, ...stored]),
  );
}
