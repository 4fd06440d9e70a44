/**
 * The asciicast v2 encoder: turns a session's channel output into the lines of
 * the upload body (see `wire.ts`). It knows nothing of sockets or recorders.
 *
 * ```
 * {"version":2,"width":80,"height":24,"timestamp":1764201600,...}     header, at start
 * [0.012345,"r","100x30"]                                              every resize, as sent
 * [0.0125,"o","$ "]                                                    stdout/stderr
 * [0.3,"m","resize \"{bad\"\u0000\" is not a terminal size"]              what could not be parsed
 * {"execgate.end":{"sessionId":"...","reason":"normal",...}}           manifest
 * ```
 *
 * - The header is the first thing written ({@linkcode CastEncoder.begin}),
 *   before the session reaches upstream, so it holds only what is known then:
 *   every field the client controls, and the default size. The terminal's
 *   sizes are `"r"` events (the first one included), the negotiated
 *   protocol goes into the manifest.
 * - stdout and stderr become `"o"` events, each channel decoded by its own
 *   streaming `TextDecoder`, so a character split across frames stays whole.
 *   Output is cut into events of at most {@linkcode MAX_EVENT_RAW_BYTES} raw
 *   bytes, so no event line exceeds {@linkcode MAX_EVENT_LINE_BYTES}
 *   whatever the bytes are. Without a TTY the local terminal turned `\n`
 *   into `\r\n` (`onlcr`); the encoder does the same so the cast replays as
 *   kubectl's user saw it.
 * - stdin is never recorded.
 * - Every free-text field of the manifest and every marker is cut to a
 *   bounded length, so the manifest line stays under
 *   {@linkcode MAX_MANIFEST_LINE_BYTES}.
 *
 * @module
 */

import type { Identity } from "../identity/identity.ts";
import { exitCodeOf, type K8sStatus } from "../k8s/status.ts";
import type { TerminalSize } from "../k8s/terminal_size.ts";
import { Sha256 } from "./sha256.ts";
import { shellQuote } from "./shell_quote.ts";
import { channelDigests, cutText, sessionEnd } from "./session_end.ts";
import {
  type CastHeader,
  END_KEY,
  type EndReason,
  MAX_EVENT_RAW_BYTES,
  MAX_STATUS_CHARS,
  type UpstreamRefusal,
} from "./wire.ts";

/**
 * Size of the header: the terminal's size is not known when the header is
 * written (asciinema's own default, and the size of a VT100).
 */
export const DEFAULT_TERMINAL_SIZE: TerminalSize = { width: 80, height: 24 };

/** What the cast header says about a session. */
export interface CastSessionInfo {
  /** Session id (`[A-Za-z0-9_-]{1,64}`). */
  sessionId: string;
  /** The command's argv. */
  argv: string[];
  /** Whether the session has a TTY. */
  tty: boolean;
  /** The caller. */
  identity: Identity;
  /** Pod, namespace, container and exec/attach. */
  kubernetes: CastHeader["kubernetes"];
  /** Hostname of this proxy. */
  proxy: string;
  /**
   * Negotiated channel protocol, e.g. `v5.channel.k8s.io`, when known at
   * construction; else set by {@linkcode CastEncoder.upgraded}. It goes into
   * the manifest.
   */
  protocol?: string;
  /** A port-forward session's header facts. @default {undefined} */
  portforward?: CastHeader["portforward"];
}

/** Options of {@linkcode CastEncoder}. */
export interface CastEncoderOptions extends CastSessionInfo {
  /** Session start, Unix milliseconds: the header timestamp and time zero. */
  startMs: number;
  /** Size written in the header. @default {80x24} */
  defaultSize?: TerminalSize;
  /**
   * Makes the incremental SHA-256 of the raw stdout and stderr bytes. The
   * default is our own TypeScript one (any runtime, ~100 MB/s); a proxy on
   * Deno or Node passes a native one (`node:crypto`, ~1.6 GB/s).
   * @default {() => new Sha256()}
   */
  digest?: () => IncrementalDigest;
}

/** An incremental SHA-256: the part of {@linkcode Sha256} the encoder uses. */
export interface IncrementalDigest {
  /**
   * Adds bytes to the digest, in order; what it returns is ignored.
   * @param data The next bytes.
   */
  update(data: Uint8Array): unknown;
  /** Lower-case hex of the digest; called once, at the end. */
  hex(): string;
}

/**
 * Builds the header identity fields: tags when the device is tagged, else the
 * user id and login name.
 * @param identity The caller.
 * @returns The `srcNode*` fields of {@linkcode CastHeader}.
 */
export function identityFields(
  identity: Identity,
): Pick<
  CastHeader,
  "srcNode" | "srcNodeID" | "srcNodeTags" | "srcNodeUserID" | "srcNodeUser"
> {
  const base = { srcNode: identity.hostname, srcNodeID: identity.nodeId };
  if (identity.tags !== undefined && identity.tags.length > 0) {
    return { ...base, srcNodeTags: [...identity.tags] };
  }
  return {
    ...base,
    ...(identity.userId !== undefined
      ? { srcNodeUserID: identity.userId }
      : {}),
    ...(identity.loginName !== undefined
      ? { srcNodeUser: identity.loginName }
      : {}),
  };
}

/**
 * Encodes one session as asciicast v2 lines plus the end manifest. Each method
 * returns the bytes to append to the upload body (possibly empty).
 *
 * @example
 * ```ts
 * import { CastEncoder } from "./cast_encoder.ts";
 * const enc = new CastEncoder({
 *   sessionId: "s1", argv: ["sh"], tty: true, startMs: 1_000_000,
 *   identity: { hostname: "laptop", nodeId: "n1", userId: "u1", loginName: "a@b", groups: [] },
 *   kubernetes: { podName: "p", namespace: "default", container: "c", sessionType: "exec" },
 *   proxy: "execgate-0",
 * });
 * const header = new TextDecoder().decode(enc.begin());
 * const resize = new TextDecoder().decode(enc.resize({ width: 0, height: 0 }, 1_000_010));
 * const event = new TextDecoder().decode(enc.output(1, new TextEncoder().encode("hi"), 1_000_500));
 * if (!header.includes('"width":80')) throw new Error(header);
 * if (resize !== '[0.01,"r","0x0"]\n') throw new Error(resize);
 * if (event !== '[0.5,"o","hi"]\n') throw new Error(event);
 * ```
 */
export class CastEncoder {
  #info: CastSessionInfo;
  #startMs: number;
  #defaultSize: TerminalSize;
  #headerWritten = false;
  #decoders = new Map<number, TextDecoder>();
  #digests: { stdout: IncrementalDigest; stderr: IncrementalDigest };
  #counts = { stdout: 0, stderr: 0 };
  #castBytes = 0;
  #status: unknown;
  #statusTruncated = false;
  #protocol: string | undefined;
  #exitCode: number | undefined;
  #ended = false;
  #enc = new TextEncoder();

  /**
   * Creates an encoder for one session; it returns the header line from the
   * first call that produces output.
   * @param options The session and its start time.
   */
  constructor(options: CastEncoderOptions) {
    const { startMs, defaultSize, digest, ...info } = options;
    const make = digest ?? (() => new Sha256());
    this.#digests = { stdout: make(), stderr: make() };
    this.#info = info;
    this.#protocol = info.protocol;
    this.#startMs = startMs;
    this.#defaultSize = defaultSize ?? DEFAULT_TERMINAL_SIZE;
  }

  /** Bytes of the body returned so far (header and events). */
  get castBytes(): number {
    return this.#castBytes;
  }

  /** Whether the header was written. */
  get headerWritten(): boolean {
    return this.#headerWritten;
  }

  /**
   * The header line: call it first, before the session reaches upstream.
   * @returns Body bytes: the header, or nothing if it was written already.
   */
  begin(): Uint8Array {
    return this.#lines([]);
  }

  /**
   * Notes the negotiated protocol (it goes into the manifest).
   * @param protocol E.g. `v5.channel.k8s.io`.
   */
  upgraded(protocol: string): void {
    this.#protocol = protocol;
  }

  /**
   * Records output, cut into events of at most
   * {@linkcode MAX_EVENT_RAW_BYTES} raw bytes each.
   * @param channel 1 (stdout) or 2 (stderr).
   * @param data Raw bytes, as they came.
   * @param nowMs When they came, Unix milliseconds.
   * @returns Body bytes.
   */
  output(channel: 1 | 2, data: Uint8Array, nowMs: number): Uint8Array {
    const which = channel === 1 ? "stdout" : "stderr";
    this.#digests[which].update(data);
    this.#counts[which] += data.length;
    let decoder = this.#decoders.get(channel);
    if (decoder === undefined) {
      decoder = new TextDecoder("utf-8", { fatal: false });
      this.#decoders.set(channel, decoder);
    }
    const events: string[] = [];
    for (let off = 0; off < data.length; off += MAX_EVENT_RAW_BYTES) {
      const piece = data.subarray(off, off + MAX_EVENT_RAW_BYTES);
      const text = decoder.decode(piece, { stream: true });
      if (text !== "") events.push(this.#event(nowMs, "o", text));
    }
    return this.#lines(events);
  }

  /**
   * Records a terminal size the client sent, as an `"r"` event `COLSxROWS`
   * exactly as sent (`0x0` included).
   * @param size The size.
   * @param nowMs When, Unix milliseconds.
   * @returns Body bytes.
   */
  resize(size: TerminalSize, nowMs: number): Uint8Array {
    return this.#lines([
      this.#event(nowMs, "r", `${size.width}x${size.height}`),
    ]);
  }

  /**
   * Records a marker (`"m"` event), e.g. a resize message that is not a
   * terminal size. The label is cut to {@linkcode MAX_TEXT_FIELD_CHARS}.
   * @param label The text.
   * @param nowMs When, Unix milliseconds.
   * @returns Body bytes.
   */
  marker(label: string, nowMs: number): Uint8Array {
    return this.#lines([this.#event(nowMs, "m", cutText(label))]);
  }

  /**
   * Records the error channel's message (a `Status` JSON on v4/v5). It goes
   * into the manifest, not into the cast.
   * @param data The whole message payload.
   */
  status(data: Uint8Array): void {
    const text = new TextDecoder().decode(data);
    this.#statusTruncated = text.length > MAX_STATUS_CHARS;
    try {
      const status = JSON.parse(text) as K8sStatus;
      this.#status = this.#statusTruncated
        ? text.slice(0, MAX_STATUS_CHARS)
        : status;
      this.#exitCode = typeof status === "object" && status !== null
        ? exitCodeOf(status)
        : undefined;
    } catch {
      this.#status = text.slice(0, MAX_STATUS_CHARS);
      this.#exitCode = undefined;
    }
  }

  /**
   * Ends the cast: the header if still missing, what the decoders held back,
   * then the manifest line.
   * @param reason How the session ended.
   * @param nowMs When, Unix milliseconds.
   * @param detail Free text (cut to {@linkcode MAX_TEXT_FIELD_CHARS}).
   * @param upstream What the upstream answered instead of `101`, when
   * `reason` is `refused`.
   * @returns Body bytes.
   * @throws {TypeError} Called twice.
   */
  end(
    reason: EndReason,
    nowMs: number,
    detail?: string,
    upstream?: UpstreamRefusal,
  ): Uint8Array {
    if (this.#ended) throw new TypeError("Cannot end the cast twice");
    const events: string[] = [];
    for (const decoder of this.#decoders.values()) {
      const rest = decoder.decode();
      if (rest !== "") events.push(this.#event(nowMs, "o", rest));
    }
    const body = this.#lines(events);
    this.#ended = true;
    const end = sessionEnd({
      sessionId: this.#info.sessionId,
      nowMs,
      reason,
      detail,
      upstream,
      protocol: this.#protocol,
      exitCode: this.#exitCode,
      status: this.#status,
      statusTruncated: this.#statusTruncated,
      channels: channelDigests(this.#counts, this.#digests),
      castBytes: this.#castBytes,
    });
    const manifest = this.#enc.encode(
      JSON.stringify({ [END_KEY]: end }) + "\n",
    );
    const out = new Uint8Array(body.length + manifest.length);
    out.set(body, 0);
    out.set(manifest, body.length);
    return out;
  }

  #event(nowMs: number, kind: "o" | "r" | "m", text: string): string {
    const t = Math.max(0, Math.round(nowMs - this.#startMs)) / 1000;
    const shown = kind === "o" && !this.#info.tty
      ? text.replaceAll("\n", "\r\n")
      : text;
    return JSON.stringify([t, kind, shown]);
  }

  #lines(events: string[]): Uint8Array {
    if (this.#ended) {
      throw new TypeError("Cannot add to the cast after its end");
    }
    let text = "";
    if (!this.#headerWritten) {
      text += JSON.stringify(this.#header(this.#defaultSize)) + "\n";
      this.#headerWritten = true;
    }
    for (const e of events) text += e + "\n";
    const bytes = this.#enc.encode(text);
    this.#castBytes += bytes.length;
    return bytes;
  }

  #header(size: TerminalSize): CastHeader {
    return castHeader(this.#info, this.#startMs, size);
  }
}

/**
 * The header of a session (the asciicast v2 header fields execgate writes):
 * the v1 cast's first line and the v2 `HEADER` record's JSON.
 * @param info The session.
 * @param startMs Session start, Unix milliseconds.
 * @param size Size written in the header.
 * @returns The header.
 */
export function castHeader(
  info: CastSessionInfo,
  startMs: number,
  size: TerminalSize = DEFAULT_TERMINAL_SIZE,
): CastHeader {
  return {
    version: 2,
    width: size.width,
    height: size.height,
    timestamp: Math.floor(startMs / 1000),
    command: shellQuote(info.argv),
    argv: [...info.argv],
    tty: info.tty,
    ...identityFields(info.identity),
    kubernetes: { ...info.kubernetes },
    proxy: info.proxy,
    sessionId: info.sessionId,
    ...(info.portforward ? { portforward: info.portforward } : {}),
  };
}
