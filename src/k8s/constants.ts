/**
 * Wire facts of the Kubernetes remote-command protocols, in one place.
 *
 * Sources:
 * - Channel ids and subprotocol names:
 *   kubernetes `staging/src/k8s.io/apimachinery/pkg/util/remotecommand/constants.go`
 *   and `staging/src/k8s.io/apiserver/pkg/util/wsstream/conn.go`.
 * - WebSocket framing: RFC 6455 §5.2.
 *
 * @module
 */

/** Channel id of stdin (client → server). */
export const CHANNEL_STDIN = 0;
/** Channel id of stdout (server → client). */
export const CHANNEL_STDOUT = 1;
/** Channel id of stderr (server → client). */
export const CHANNEL_STDERR = 2;
/** Channel id of the error channel: a `Status` JSON at the end of the session. */
export const CHANNEL_ERROR = 3;
/** Channel id of terminal resize events: `{"Width":W,"Height":H}`. */
export const CHANNEL_RESIZE = 4;
/** Channel id of the v5 close signal: `ff <channel>` means that channel was closed. */
export const CHANNEL_CLOSE = 255;

/** Subprotocol of the v4 channel protocol (JSON status on channel 3). */
export const PROTOCOL_V4 = "v4.channel.k8s.io";
/** Subprotocol of the v5 channel protocol (v4 plus the close channel 255). */
export const PROTOCOL_V5 = "v5.channel.k8s.io";
/** Channel subprotocols the tap understands, most preferred first. */
export const CHANNEL_PROTOCOLS: readonly string[] = [PROTOCOL_V5, PROTOCOL_V4];

/** WebSocket opcodes (RFC 6455 §5.2). */
export const OPCODE_CONTINUATION = 0x0;
/** Text frame opcode. */
export const OPCODE_TEXT = 0x1;
/** Binary frame opcode. */
export const OPCODE_BINARY = 0x2;
/** Close frame opcode. */
export const OPCODE_CLOSE = 0x8;
/** Ping frame opcode. */
export const OPCODE_PING = 0x9;
/** Pong frame opcode. */
export const OPCODE_PONG = 0xa;

/** The GUID that RFC 6455 §1.3 appends to `Sec-WebSocket-Key`. */
export const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
