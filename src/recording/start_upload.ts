/**
 * Starting a recorded session's upload, shared by exec/attach sessions
 * (`recording_session.ts`) and port-forwards (`portforward_session.ts`):
 * the first recorder of the grant's list that accepts the header takes the
 * upload, wrapped in a {@linkcode FailoverUpload} that goes on with the next
 * ones midway. When none accepts, the failure policy decides: fail closed
 * throws {@linkcode RecordingRequiredError} (the session must not start),
 * fail open goes on unrecorded (logged).
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { RecordingRequiredError } from "./failure_policy.ts";
import { FailoverUpload } from "./failover_upload.ts";
import type { RecordEncoder } from "./record_encoder.ts";
import {
  openRecorderUpload,
  RecorderUnavailableError,
  type RecorderUpload,
} from "./recorder_client.ts";
import type { WindowBudget } from "./window_budget.ts";

/** Limits of a recording session; every field has a default. */
export interface RecordingLimits {
  /** How long one recorder may take to accept and acknowledge the header. @default {5000} */
  connectTimeoutMs?: number;
  /**
   * Longest ack silence, or time without ack progress while bytes are
   * outstanding, before the recording counts as failed.
   * @default {10000}
   */
  ackTimeoutMs?: number;
  /**
   * Unacknowledged upload bytes in flight (the window): sized so that
   * window / recorder round trip is well above the link speed.
   * @default {4194304}
   */
  windowBytes?: number;
  /**
   * A bound on unacknowledged bytes shared with other sessions (see
   * `window_budget.ts`). @default {none: each session has its window only}
   */
  budget?: WindowBudget;
  /** Largest channel message. @default {16777216} */
  maxMessageBytes?: number;
}

/** The window when the limits name none: 4 MiB unacknowledged. */
export const DEFAULT_WINDOW_BYTES = 4 * 1024 * 1024;

/** What {@linkcode startSessionUpload} needs. */
export interface StartSessionUploadOptions {
  /** Session id. */
  sessionId: string;
  /** Recorder base URLs, in the grant's order. */
  recorderUrls: readonly string[];
  /** Uploader bearer token. */
  uploaderToken?: string;
  /** The `fetch` uploads use. @default {the recorder client's} */
  fetch?: typeof fetch;
  /** Timeouts, window and budget. */
  limits: RecordingLimits;
  /** Fail closed. */
  enforce: boolean;
  /** Makes the header and, on failover, the continuation header. */
  encoder: RecordEncoder;
  /** Where the outcome is logged. */
  log: Logger;
  /** Clock in Unix ms. */
  now: () => number;
  /** What the log lines call it: `session`, `port-forward`. */
  what: string;
  /** Told when no recorder accepted the header (a metric). */
  onUnavailable?: () => void;
}

/**
 * Opens the upload of a session that is about to start.
 * @param o The session's seams.
 * @returns The upload, or `undefined` when a fail-open session goes on
 * unrecorded.
 * @throws {RecordingRequiredError} Fail closed and no recorder accepted the
 * header: refuse the session with its message.
 */
export async function startSessionUpload(
  o: StartSessionUploadOptions,
): Promise<FailoverUpload | undefined> {
  const l = o.limits;
  const windowBytes = l.windowBytes ?? DEFAULT_WINDOW_BYTES;
  const open = (
    urls: readonly string[],
    header: Uint8Array | Uint8Array[],
    connectTimeoutMs: number | undefined,
    headers?: Record<string, string>,
  ) =>
    openRecorderUpload({
      urls,
      sessionId: o.sessionId,
      token: o.uploaderToken,
      fetch: o.fetch,
      connectTimeoutMs,
      ackTimeoutMs: l.ackTimeoutMs,
      maxQueueBytes: windowBytes,
      budget: l.budget,
      header,
      ...(headers ? { headers } : {}),
    });
  let upload: RecorderUpload;
  try {
    upload = await open(o.recorderUrls, o.encoder.begin(), l.connectTimeoutMs);
  } catch (e) {
    o.onUnavailable?.();
    if (o.enforce) {
      const err = e instanceof RecorderUnavailableError
        ? new RecordingRequiredError(e.tried)
        : new RecordingRequiredError([{
          url: "(none)",
          reason: (e as Error).message,
        }]);
      o.log.warn(`${o.what} refused: it must be recorded`, {
        sessionId: o.sessionId,
        reason: err.message,
      });
      throw err;
    }
    o.log.warn(`${o.what} continues unrecorded: no recorder accepted it`, {
      sessionId: o.sessionId,
      reason: (e as Error).message,
    });
    return undefined;
  }
  o.log.info(
    o.what === "session" ? "recording started" : `${o.what} recording started`,
    { sessionId: o.sessionId, recorder: upload.url },
  );
  return new FailoverUpload({
    urls: o.recorderUrls,
    first: upload,
    continuation: (c) => o.encoder.continuation(c),
    open: (url, header, headers, connectTimeoutMs) =>
      open([url], header, connectTimeoutMs, headers),
    windowBytes,
    ackTimeoutMs: l.ackTimeoutMs ?? 10_000,
    connectTimeoutMs: l.connectTimeoutMs ?? 5000,
    sessionId: o.sessionId,
    now: o.now,
    log: o.log,
  });
}
