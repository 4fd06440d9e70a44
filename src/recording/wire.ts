/**
 * The recording upload protocol between the proxy (uploader) and the recorder.
 *
 * One HTTP request per session:
 *
 * ```
 * POST /v1/recordings HTTP/1.1
 * Authorization: Bearer <uploader token>      (or an mTLS client certificate)
 * Content-Type: application/x-asciicast
 * X-Execgate-Session: <session id>            ([A-Za-z0-9_-]{1,64})
 * Transfer-Encoding: chunked
 *
 * {"version":2,"width":80,...}                 line 1: asciicast v2 header
 * [0.25,"o","hello\r\n"]                       event lines, as they happen
 * [1.5,"r","100x30"]
 * {"execgate.end":{...SessionEnd}}             last line: the end-of-session manifest
 * ```
 *
 * The recorder answers as soon as it has accepted the upload (authenticated,
 * storage opened): `200` with `Content-Type: application/x-ndjson`, and then
 * streams one JSON line per acknowledgement while the upload is still running:
 *
 * ```
 * {"ack":0}                       right away: accepted, nothing stored yet
 * {"ack":1234,"stored":1024}      after each write: body bytes taken into the
 *                                 storage writer (the uploader's flow-control
 *                                 window counts these), and bytes durably stored
 * {"ack":1234,"stored":1234}      repeated at least every `ackIntervalMs` even when idle
 * {"ack":2000,"stored":2000,"done":true,"id":"2026/11/27/<session id>","complete":true}
 * {"error":"..."}                 the recorder gave up on this upload
 * ```
 *
 * The stored `.cast` is pure asciicast v2: the manifest line is stripped and
 * stored beside it as JSON. A recording is `complete` only when the manifest
 * arrived and its `castBytes` equals the bytes stored before it; any other end
 * leaves it marked `partial`.
 *
 * @module
 */

/** Path of the upload endpoint. */
export const UPLOAD_PATH = "/v1/recordings";
/** Header carrying the session id on upload. */
export const SESSION_HEADER = "x-execgate-session";
/** Content type of the upload body. */
export const CAST_CONTENT_TYPE = "application/x-asciicast";
/** Content type of the acknowledgement stream. */
export const ACK_CONTENT_TYPE = "application/x-ndjson";
/** Key of the object on the final line of the upload body. */
export const END_KEY = "execgate.end";
/** Largest accepted session id. */
export const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** How a session ended. */
export type EndReason =
  | "normal"
  | "client-gone"
  | "upstream-gone"
  | "recording-failed"
  | "protocol-error"
  | "refused";

/**
 * The upstream's answer to a session it did not upgrade (no `101`): the
 * attempt is evidence and is stored with it.
 */
export interface UpstreamRefusal {
  /** HTTP status code the upstream answered (e.g. 403, 404). */
  status: number;
  /** The `message` of its `Status` body, or the reason phrase. */
  message: string;
}

/** Bytes and digest of one output channel's raw bytes. */
export interface ChannelDigest {
  /** Raw bytes seen on the channel. */
  bytes: number;
  /** Lower-case hex SHA-256 of those bytes. */
  sha256: string;
}

/** The end-of-session manifest (the object under {@linkcode END_KEY}). */
export interface SessionEnd {
  /** Session id, as in the header. */
  sessionId: string;
  /** Unix seconds (fractional) when the session ended. */
  endTime: number;
  /** How it ended. */
  reason: EndReason;
  /** Free text detail, e.g. the recording error. */
  detail?: string;
  /** Set when reason is `refused`: what the upstream answered instead of `101`. */
  upstream?: UpstreamRefusal;
  /** Exit code from the channel-3 `Status`, when one was seen. */
  exitCode?: number;
  /** The channel-3 `Status` as sent by the server, when one was seen. */
  status?: unknown;
  /** Raw stdout and stderr bytes and their SHA-256. */
  channels: { stdout: ChannelDigest; stderr: ChannelDigest };
  /** Bytes of the upload body before the manifest line. */
  castBytes: number;
}

/** One acknowledgement line from the recorder. */
export interface Ack {
  /**
   * Body bytes the recorder has validated and taken into its storage writer
   * (which holds a bounded buffer); the uploader's window counts these.
   */
  ack?: number;
  /** Body bytes durably stored (at most `ack`; S3 stores whole segments). */
  stored?: number;
  /** Set on the last line once the upload is finished. */
  done?: boolean;
  /** Recording id (storage key) once known. */
  id?: string;
  /** Whether the recording was finalised complete. */
  complete?: boolean;
  /** Set when the recorder gave up on the upload. */
  error?: string;
}

/** The asciicast v2 header that execgate writes (extra fields allowed by the spec). */
export interface CastHeader {
  version: 2;
  width: number;
  height: number;
  /** Session start, Unix seconds. */
  timestamp: number;
  /** The argv as a shell-quoted string. */
  command: string;
  /** The argv, never joined lossily. */
  argv: string[];
  /** Whether the session had a TTY. */
  tty: boolean;
  /** Source node (hostname) of the caller. */
  srcNode: string;
  /** Stable node id of the caller. */
  srcNodeID: string;
  /** Tags of the caller's device, when tagged. */
  srcNodeTags?: string[];
  /** User id of the caller, when not tagged. */
  srcNodeUserID?: string;
  /** Login name of the caller, when not tagged. */
  srcNodeUser?: string;
  /** Kubernetes facts of the session. */
  kubernetes: {
    podName: string;
    namespace: string;
    container: string;
    sessionType: "exec" | "attach";
  };
  /** Hostname of the proxy that recorded it. */
  proxy: string;
  /** Session id. */
  sessionId: string;
  /** Transport protocol (e.g. `v5.channel.k8s.io`). */
  protocol: string;
}
