/**
 * What happens when a session cannot be recorded, in one place.
 *
 * | when | enforce (fail closed) | best effort (fail open) |
 * |---|---|---|
 * | no recorder accepts at start | {@linkcode RecordingRequiredError}: the proxy answers `403` and the command never starts | the session runs unrecorded; a warning is logged |
 * | the recording breaks midway (recorder died, stalled, protocol error) | no further output reaches the client; the client gets a stderr message, a failure `Status` and a close | recording stops, the session goes on; a warning is logged |
 *
 * @module
 */

import type { K8sStatus } from "../k8s/status.ts";
import { describeTried, type RecorderAttempt } from "./recorder_client.ts";

/**
 * A session that must be recorded cannot be: no recorder accepted it. The
 * proxy answers {@linkcode RecordingRequiredError.code} (403) with
 * `statusResponse(err.code, err.message)`, before the exec reaches upstream.
 */
export class RecordingRequiredError extends Error {
  /** HTTP status to answer. */
  readonly code = 403;
  /** The recorders tried and why each failed. */
  readonly tried: RecorderAttempt[];

  /**
   * Creates the error; its message lists the recorders tried.
   * @param tried The recorders tried.
   */
  constructor(tried: RecorderAttempt[]) {
    super(
      `forbidden: this session must be recorded, but no recorder is reachable (tried: ${
        describeTried(tried)
      })`,
    );
    this.name = "RecordingRequiredError";
    this.tried = tried;
  }
}

/**
 * The text written to the client's stderr when an enforced recording fails.
 * @param detail What failed.
 * @returns The message, framed by CRLFs so it stands on its own line in a TTY.
 */
export function abortMessage(detail: string): string {
  return `\r\nexecgate: session ended: the recording failed (${detail})\r\n`;
}

/**
 * The channel-3 `Status` sent after {@linkcode abortMessage}: a failure that
 * kubectl prints (`error: …`) before exiting non-zero.
 * @param detail What failed.
 * @returns The status.
 */
export function abortStatus(detail: string): K8sStatus {
  return {
    metadata: {},
    status: "Failure",
    message: `execgate: session ended because the recording failed (${detail})`,
    reason: "InternalError",
    code: 500,
  };
}
