/**
 * The end-of-session manifest, built in one place for every encoder of a
 * session (the v2 records the proxy sends, and the reference cast encoder).
 *
 * @module
 */

import {
  type ChannelDigest,
  type EndReason,
  MAX_TEXT_FIELD_CHARS,
  type SessionEnd,
  type UpstreamRefusal,
} from "./wire.ts";

/** What an encoder knows when a session ends. */
export interface SessionEndFacts {
  /** Session id. */
  sessionId: string;
  /** When it ended, Unix milliseconds. */
  nowMs: number;
  /** How it ended, as the relay saw it. */
  reason: EndReason;
  /** Free text detail (cut to `MAX_TEXT_FIELD_CHARS`). */
  detail?: string;
  /** What the upstream answered instead of `101`. */
  upstream?: UpstreamRefusal;
  /** Negotiated subprotocol. */
  protocol?: string;
  /** Exit code read from the final `Status`. */
  exitCode?: number;
  /** The final `Status` (or its cut text). */
  status?: unknown;
  /** Whether `status` was cut. */
  statusTruncated: boolean;
  /** Raw output bytes and digests. */
  channels: { stdout: ChannelDigest; stderr: ChannelDigest };
  /** Bytes of the upload body before the manifest. */
  castBytes: number;
}

/**
 * Builds the manifest. Once the server has sent the session's final
 * `Status`, the session ended normally, whichever side then closed the
 * connection first.
 * @param f The facts.
 * @returns The manifest.
 * @example
 * ```ts
 * import { sessionEnd } from "./session_end.ts";
 * const d = { bytes: 0, sha256: "" };
 * const e = sessionEnd({ sessionId: "s", nowMs: 1000, reason: "client-gone", status: {}, statusTruncated: false, channels: { stdout: d, stderr: d }, castBytes: 0 });
 * if (e.reason !== "normal" || e.endTime !== 1) throw new Error();
 * ```
 */
export function sessionEnd(f: SessionEndFacts): SessionEnd {
  const closedAfterStatus = f.status !== undefined &&
    (f.reason === "upstream-gone" || f.reason === "client-gone");
  return {
    sessionId: f.sessionId,
    endTime: f.nowMs / 1000,
    reason: closedAfterStatus ? "normal" : f.reason,
    ...(f.detail !== undefined ? { detail: cutText(f.detail) } : {}),
    ...(f.upstream !== undefined
      ? {
        upstream: {
          status: f.upstream.status,
          message: cutText(String(f.upstream.message)),
        },
      }
      : {}),
    ...(f.protocol !== undefined ? { protocol: f.protocol } : {}),
    ...(f.exitCode !== undefined ? { exitCode: f.exitCode } : {}),
    ...(f.status !== undefined ? { status: f.status } : {}),
    ...(f.statusTruncated ? { statusTruncated: true } : {}),
    channels: f.channels,
    castBytes: f.castBytes,
  };
}

/**
 * The per-channel part of the manifest, from an encoder's byte counts and
 * digests.
 * @param counts Raw bytes seen per channel.
 * @param digests Running SHA-256 per channel.
 * @returns `channels` of the manifest.
 */
export function channelDigests(
  counts: { stdout: number; stderr: number },
  digests: { stdout: { hex(): string }; stderr: { hex(): string } },
): SessionEndFacts["channels"] {
  return {
    stdout: { bytes: counts.stdout, sha256: digests.stdout.hex() },
    stderr: { bytes: counts.stderr, sha256: digests.stderr.hex() },
  };
}

/**
 * Cuts free text to {@linkcode MAX_TEXT_FIELD_CHARS}, saying so.
 * @param text The text.
 * @returns It, or its start and its length.
 */
export function cutText(text: string): string {
  if (text.length <= MAX_TEXT_FIELD_CHARS) return text;
  return `${text.slice(0, MAX_TEXT_FIELD_CHARS)}… (${text.length} characters)`;
}
