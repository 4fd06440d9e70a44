/**
 * The outcome of evaluating the policy for one caller.
 *
 * @module
 */

/** What the policy says about one caller. */
export interface Decision {
  /** Whether an acl (or, in tailscale mode, the cap rules) admits the caller. */
  admitted: boolean;
  /** Why not, when not admitted. */
  reason?: string;
  /** `Impersonate-User` value. */
  user: string;
  /** `Impersonate-Group` values, in order, without duplicates. */
  groups: string[];
  /** Recorder tags, in rule order, without duplicates. Empty: not recorded. */
  recorders: string[];
  /** Fail closed when true. */
  enforceRecorder: boolean;
  /**
   * Whether port-forward content is recorded too (`PORTFORWARD_DATA`), not
   * only its streams and byte counts; true when any matching rule says so.
   */
  recordPortForward?: boolean;
  /**
   * Whether a recorded caller may use `…/proxy` subresources (relayed
   * unrecorded); true when any matching rule says so.
   */
  allowProxySubresources: boolean;
  /**
   * Whether every API request of the caller is recorded as an event (to the
   * decision's recorders); true when any matching rule says so.
   */
  enableEvents?: boolean;
  /** Which policy lines produced the decision (for `execgate policy test`). */
  matched: { kind: "acl" | "grant"; index: number; line: number }[];
}
