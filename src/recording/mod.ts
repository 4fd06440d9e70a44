/**
 * Session recording: the tap the upgrade relay calls, the asciicast v2
 * encoder, the recorder upload client and the failure policy.
 *
 * @example
 * ```ts ignore
 * import { RecordingRequiredError, RecordingSession } from "./mod.ts";
 * let tap;
 * try {
 *   tap = await RecordingSession.start({
 *     sessionId, identity, argv, tty, enforce: decision.enforceRecorder,
 *     kubernetes: { podName, namespace, container, sessionType: "exec" },
 *     proxyHostname, recorderUrls, uploaderToken,
 *   });
 * } catch (e) {
 *   if (e instanceof RecordingRequiredError) return statusResponse(e.code, e.message);
 *   throw e;
 * }
 * // hand `tap` to the relay as its RelayTap
 * ```
 *
 * @module
 */

export {
  type RecordingLimits,
  RecordingSession,
  type RecordingSessionOptions,
  UnrecordedTap,
} from "./recording_session.ts";
export {
  abortMessage,
  abortStatus,
  RecordingRequiredError,
} from "./failure_policy.ts";
export {
  describeTried,
  openRecorderUpload,
  type RecorderAttempt,
  type RecorderClientOptions,
  RecorderUnavailableError,
  RecorderUpload,
  RecordingFailedError,
} from "./recorder_client.ts";
export {
  CastEncoder,
  type CastEncoderOptions,
  type CastSessionInfo,
  DEFAULT_TERMINAL_SIZE,
  identityFields,
  type IncrementalDigest,
} from "./cast_encoder.ts";
export { Sha256 } from "./sha256.ts";
export { shellQuote } from "./shell_quote.ts";
export * from "./wire.ts";
