/**
 * What a transport tap (WebSocket today, SPDY later) yields to the recording
 * session: channel messages of the Kubernetes remote-command protocol, read
 * from a copy of each direction of an upgraded connection.
 *
 * @module
 */

import type { K8sStatus } from "./status.ts";

/**
 * One piece of a channel message. A message that arrived in one WebSocket
 * frame is one piece with `first` and `last` set; a fragmented message yields
 * one piece per fragment, so a long message can be recorded (and released to
 * the client) as it arrives instead of being buffered whole.
 */
export interface ChannelMessage {
  /** Channel id (0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize, 255 close). */
  channel: number;
  /** Payload bytes of this piece, without the channel byte. */
  data: Uint8Array;
  /** This piece starts its message. */
  first: boolean;
  /** This piece ends its message. */
  last: boolean;
}

/**
 * A decoder of one upgraded connection, both directions, used by the
 * recording session. Implementations are synchronous and incremental: bytes
 * may be split anywhere. Malformed input throws an error saying what and
 * where; the session hands it to the failure policy.
 */
export interface ChannelTap {
  /**
   * Decodes a copy of client → upstream bytes.
   * @param chunk Bytes as they came off the wire.
   * @returns The channel message pieces the chunk completes.
   * @throws {SyntaxError} The bytes are not a valid stream.
   * @throws {RangeError} A message exceeds the size limit.
   */
  client(chunk: Uint8Array): ChannelMessage[];
  /**
   * Decodes upstream → client bytes.
   * @param chunk Bytes as they came off the wire.
   * @returns The channel message pieces the chunk completes.
   * @throws {SyntaxError} The bytes are not a valid stream.
   * @throws {RangeError} A message exceeds the size limit.
   */
  upstream(chunk: Uint8Array): ChannelMessage[];
  /**
   * Upstream bytes consumed into complete wire units (whole frames) so far:
   * the prefix of the upstream byte stream that may be released to the client
   * once its messages are recorded.
   */
  readonly upstreamComplete: number;
  /**
   * Bytes that end the session from the client's point of view: `message` on
   * stderr, then `status` on the error channel, then a close. They are valid
   * after the released prefix of the upstream stream (e.g. they first finish a
   * fragmented message the client has started to receive).
   * @param message Text for the client's stderr.
   * @param status The final `Status`.
   * @returns The bytes to write to the client.
   */
  abortBytes(message: string, status: K8sStatus): Uint8Array;
  /**
   * Records that the upstream prefix up to `upstreamComplete` was released to
   * the client, so that {@linkcode ChannelTap.abortBytes} knows what the
   * client has seen.
   */
  released(): void;
}
