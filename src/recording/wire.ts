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
 * [0.25,"r","100x30"]                          event lines, as they happen
 * [0.3,"o","hello\r\n"]
 * {"execgate.end":{...SessionEnd}}             last line: the end-of-session manifest
 * ```
 *
 * The proxy writes the header (every client-controlled fact: argv, pod,
 * namespace, container, TTY, session type) before the request goes upstream,
 * and starts the command only once the recorder acknowledged bytes covering
 * it ("accepted before started"). The header's size is the default 80×24:
 * every terminal size the client sends, the first one included, is an `"r"`
 * event, as sent (`0x0` stays `0x0`).
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
 * leaves it marked `partial`, and an upstream refusal (manifest reason
 * `refused`) is stored as `refused`. Once the header is accepted the recorder
 * never deletes the recording: a limit or an invalid line later finalises it
 * `partial` with every complete line before that point and sends `{"error"}`.
 *
 * The size bounds below are what the proxy can produce; the recorder refuses
 * a configuration whose limits are smaller, so no client input can make it
 * refuse an accepted upload on size.
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
/**
 * Header of a continued upload: the id of the session's first part (as the
 * first recorder acknowledged it). See {@linkcode Continuation}.
 */
export const CONTINUES_HEADER = "x-execgate-continues";
/** Header of a continued upload: its part number (2 to 99). */
export const PART_HEADER = "x-execgate-part";
/** Largest accepted session id. */
export const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Largest raw output bytes in one `"o"` event: the encoder splits output so
 * that no event line can exceed {@linkcode MAX_EVENT_LINE_BYTES}.
 */
export const MAX_EVENT_RAW_BYTES = 65536;

/**
 * Largest event line the proxy writes: {@linkcode MAX_EVENT_RAW_BYTES} bytes
 * plus the 3 a streaming UTF-8 decoder may hold back, each escaped to at most
 * 6 JSON bytes (`\u001b`), plus the time and code.
 */
export const MAX_EVENT_LINE_BYTES: number = (MAX_EVENT_RAW_BYTES + 3) * 6 + 64;

/**
 * Largest request head the proxy can receive (node's http parser caps the
 * head at about 16 KiB), hence the largest decoded argv, pod, namespace and
 * container together.
 */
export const MAX_REQUEST_HEAD_BYTES = 16 * 1024;

/**
 * Largest header line the proxy writes: every client-controlled byte of the
 * request head appears at most twice (`argv` and the shell-quoted `command`),
 * each escaped to at most 6 JSON bytes, plus the identity and fixed fields
 * (bounded at 32 KiB). Recorders must accept at least this much.
 */
export const MAX_HEADER_LINE_BYTES: number = MAX_REQUEST_HEAD_BYTES * 12 +
  32 * 1024;

/**
 * Largest manifest line the proxy writes: the upstream's `Status` and every
 * free text field are cut to bounded lengths before encoding.
 */
export const MAX_MANIFEST_LINE_BYTES = 256 * 1024;

/** Longest text (characters) of a free-text manifest field or marker. */
export const MAX_TEXT_FIELD_CHARS = 4096;

/** Longest `Status` text (characters) kept in the manifest. */
export const MAX_STATUS_CHARS = 16384;

/** How a session ended. */
export type EndReason =
  | "normal"
  | "client-gone"
  | "upstream-gone"
  | "recording-failed"
  | "protocol-error"
  | "refused"
  | "terminated";

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
  /**
   * The negotiated transport protocol (e.g. `v5.channel.k8s.io`), when the
   * upstream upgraded: it is not known when the header is written.
   */
  protocol?: string;
  /** Set when `status` was cut to {@linkcode MAX_STATUS_CHARS} (then a string). */
  statusTruncated?: boolean;
  /** Raw stdout and stderr bytes and their SHA-256. */
  channels: { stdout: ChannelDigest; stderr: ChannelDigest };
  /** Bytes of the upload body before the manifest line. */
  castBytes: number;
  /**
   * Bytes the client sent on stdin (the payload of its stdin channel
   * messages): counted, never recorded. Absent in port-forwards and in
   * recordings made before stdin was counted. A `kubectl cp local pod:`
   * upload is the tar stream on stdin: this is its size.
   */
  stdinBytes?: number;
  /** A port-forward session: its streams and byte totals. */
  portforward?: PortForwardSummary;
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
  /**
   * Recording id (storage key): on the acknowledgement of the header and on
   * the last line.
   */
  id?: string;
  /** Whether the recording was finalised complete. */
  complete?: boolean;
  /** Set when the recorder gave up on the upload. */
  error?: string;
  /**
   * A moderator ended the live session: the proxy ends it (the client gets
   * `execgate: session ended by <by>: <reason>`) and finishes the upload.
   */
  terminate?: { by: string; reason: string };
}

/** The asciicast v2 header that execgate writes (extra fields allowed by the spec). */
export interface CastHeader {
  /** The asciicast format version. */
  version: 2;
  /** Always the default (80); the client's sizes are `"r"` events. */
  width: number;
  /** Always the default (24). */
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
    sessionType: "exec" | "attach" | "portforward";
  };
  /** Hostname of the proxy that recorded it. */
  proxy: string;
  /** Session id. */
  sessionId: string;
  /**
   * Transport protocol, in recordings made before the header was written at
   * start; now in {@linkcode SessionEnd.protocol}.
   */
  protocol?: string;
  /** Set in the header of a later part: where the session failed over. */
  continues?: Continuation;
  /** A port-forward session (`sessionType` `portforward`): what was asked. */
  portforward?: PortForwardHeader;
}

/** The header facts of a port-forward session. */
export interface PortForwardHeader {
  /** The query's `ports` values, as sent (kubectl sends none over SPDY). */
  ports: string[];
  /** Whether stream content is recorded (`PORTFORWARD_DATA` records). */
  recordContent: boolean;
}

/**
 * The JSON payload of a `PORTFORWARD` record: one stream event of a
 * port-forward session. `stream` is the SPDY stream id (or the WebSocket
 * channel); a data stream and its error stream share a `requestId`.
 */
export type PortForwardEventRecord =
  | {
    event: "open";
    stream: number;
    /** `data` or `error`. */
    streamType: string;
    port?: number;
    requestId?: string;
    by: "client" | "pod";
  }
  | { event: "fin"; stream: number; by: "client" | "pod" }
  | { event: "reset"; stream: number; by: "client" | "pod"; status: number }
  | { event: "error"; stream: number; message: string }
  | {
    event: "close";
    stream: number;
    bytesFromClient: number;
    bytesFromPod: number;
    /** Set when the connection ended with the stream still open. */
    atEnd?: boolean;
  };

/** One stream of a port-forward session, in the end manifest. */
export interface PortForwardStreamSummary {
  /** The SPDY stream id (or the WebSocket channel). */
  stream: number;
  /** `data` or `error`. */
  streamType: string;
  /** The pod port the stream goes to, when known. */
  port?: number;
  /** The request id the stream shares with its data or error twin. */
  requestId?: string;
  /** Microseconds since the session start. */
  openedUs: number;
  /** Microseconds since the session start; absent while open. */
  closedUs?: number;
  /** Payload bytes the client sent on the stream. */
  bytesFromClient: number;
  /** Payload bytes the pod sent on the stream. */
  bytesFromPod: number;
}

/** The port-forward part of the end manifest. */
export interface PortForwardSummary {
  /** Ports the streams named, in the order first seen. */
  ports: number[];
  /** Streams opened. */
  streamCount: number;
  /** Payload bytes, client to pod, all streams. */
  bytesFromClient: number;
  /** Payload bytes, pod to client, all streams. */
  bytesFromPod: number;
  /** The first streams (at most {@linkcode MAX_SUMMARY_STREAMS}). */
  streams: PortForwardStreamSummary[];
  /** Session duration, milliseconds. */
  durationMs: number;
}

/** Streams listed in a port-forward end manifest (the events have them all). */
export const MAX_SUMMARY_STREAMS = 1000;

/**
 * Failover: the recorder taking a session failed midway, and the proxy went
 * on with the next recorder of the grant's list from the last acknowledged
 * byte. The later part's upload is a record stream of its own: a `HEADER`
 * (the session's header plus this) and then the session's records from
 * `offset` on, exactly as they would have followed in one upload; its end
 * record's `castBytes` and digests are the whole session's.
 *
 * The request also carries {@linkcode CONTINUES_HEADER} and
 * {@linkcode PART_HEADER}, which must agree with `recording` and `part`.
 */
export interface Continuation {
  /** This part's number: 2 for the first failover. */
  part: number;
  /** The id of the session's first part. */
  recording: string;
  /** Byte offset in the session's record stream where this part starts. */
  offset: number;
  /** Base URL of the recorder of the previous part. */
  recorder: string;
  /** Why the previous part stopped, as the proxy saw it. */
  reason: string;
  /** Unix ms (proxy clock) when the proxy failed over. */
  at: number;
}
