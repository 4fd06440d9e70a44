/**
 * The seam between the upgrade relay and whatever observes a session
 * (the recording tap). The relay forwards original bytes; a tap sees a copy of
 * each direction and decides *when* upstream bytes may reach the client.
 *
 * @module
 */

import type { EndReason, UpstreamRefusal } from "../recording/wire.ts";

/**
 * Observer of one upgraded connection. All methods are called in wire order
 * for their direction.
 */
export interface RelayTap {
  /**
   * Called once with the upstream's `101` answer, before any body bytes.
   * @param protocol The negotiated subprotocol (`Sec-WebSocket-Protocol`, or
   * `X-Stream-Protocol-Version` for SPDY), or "" when none.
   */
  upgraded(protocol: string): void;
  /**
   * A copy of client → upstream bytes (already forwarded; never altered).
   * A throw is a protocol error handed to the failure policy.
   */
  fromClient(chunk: Uint8Array): void;
  /**
   * Upstream → client bytes, offered before forwarding. Resolves to the bytes
   * the relay may forward now, which are always a prefix of all bytes offered
   * so far that was not yet released (e.g. only whole frames once they have
   * been handed to the recorder). The relay awaits it before reading more
   * upstream bytes: that is the back-pressure.
   */
  fromUpstream(chunk: Uint8Array): Uint8Array | Promise<Uint8Array>;
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
  /**
   * Set by the relay before `upgraded`: the tap calls it to end the session
   * (fail closed). `toClient` are final bytes the relay writes to the client
   * (e.g. a stderr message and a failure `Status`) before closing both sides.
   */
  abort?: (toClient: Uint8Array, detail: string) => void;
}
