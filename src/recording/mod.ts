/**
 * Session recording: the tap the upgrade relay pipes through, the v2 record
 * encoder (and the asciicast v2 encoder views derive from), the recorder
 * upload client and the failure policy.
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
  RecorderProgress,
  RecorderUnavailableError,
  RecorderUpload,
  RecordingFailedError,
} from "./recorder_client.ts";
export { RecordEncoder, type RecordEncoderOptions } from "./record_encoder.ts";
export { WindowBudget } from "./window_budget.ts";
export {
  CastEncoder,
  type CastEncoderOptions,
  castHeader,
  type CastSessionInfo,
  DEFAULT_TERMINAL_SIZE,
  identityFields,
  type IncrementalDigest,
} from "./cast_encoder.ts";
export { Sha256 } from "./sha256.ts";
export { shellQuote } from "./shell_quote.ts";
export * from "./wire.ts";
export { RecordType, type RecordTypeId } from "../protocol/records.ts";
export type { LogFields, Logger } from "../log.ts";
export type { Identity, KubernetesCapRule } from "../identity/identity.ts";
export type { ChannelMessage, ChannelTap } from "../k8s/channel_tap.ts";
export type { TerminalSize } from "../k8s/terminal_size.ts";
export type { K8sStatus } from "../k8s/status.ts";
export type { RelayTap } from "./relay_tap.ts";
export {
  RECORDING_FAILURE_REASONS,
  type RecordingFailureReason,
  type RecordingMetrics,
} from "../metrics/proxy_metrics.ts";
export type { CounterChild } from "../metrics/counter.ts";
export type { HistogramChild } from "../metrics/histogram.ts";
