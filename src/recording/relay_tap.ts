/**
 * The seam between the upgrade relay and whatever observes a session (the
 * recording tap). The relay pipes streams; a tap inserts one transform in
 * each direction:
 *
 * ```
 * upstream.readable ─▶ tap.upstreamGate() ─▶ client.writable
 * client.readable   ─▶ tap.clientObserver() ─▶ upstream.writable
 * ```
 *
 * Both pass the original bytes on, never altered. The gate decides *when*
 * upstream bytes reach the client (e.g. once the recorder acknowledged them)
 * and applies back-pressure through its `transform`; it ends a session (fail
 * closed) by enqueueing final bytes and terminating its own stream, which the
 * pipes propagate (upstream cancelled, client closed). Nothing calls back
 * into the relay.
 *
 * @module
 */

import type { EndReason, UpstreamRefusal } from "./wire.ts";

/** Observer of one upgraded connection. */
export interface RelayTap {
  /**
   * Called once with the upstream's `101` answer, before the streams below
   * are asked for.
   * @param protocol The negotiated subprotocol (`Sec-WebSocket-Protocol`, or
   * `X-Stream-Protocol-Version` for SPDY), or "" when none.
   */
  upgraded(protocol: string): void;
  /**
   * The upstream → client transform (called once, after `upgraded`): it
   * enqueues a prefix of the bytes written to it, in order, possibly later,
   * and may end with bytes of its own (an abort).
   */
  upstreamGate(): TransformStream<Uint8Array, Uint8Array>;
  /**
   * The client → upstream transform (called once, after `upgraded`): it
   * enqueues every chunk unchanged and reads a copy.
   */
  clientObserver(): TransformStream<Uint8Array, Uint8Array>;
  /**
   * Set once the tap ended the session itself (fail closed): why.
   */
  readonly abortedWith?: string;
  /**
   * After `end`: how the session ended as the tap saw it (a recording
   * knows a session that closed after its final `Status` ended `normal`,
   * which the relay cannot tell), for the metrics. @default {the relay's reason}
   */
  readonly endReason?: EndReason;
  /**
   * Called once when the relay ends, with why. Resolves when the tap has
   * finished (recording closed). When the upstream answered anything but
   * `101`, `reason` is `refused` and `upstream` says what it answered.
   */
  end(
    reason: EndReason,
    detail?: string,
    upstream?: UpstreamRefusal,
  ): Promise<void>;
}
