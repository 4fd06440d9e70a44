/**
 * Kubernetes `Status` objects: what an API server answers on errors, and what
 * the channel protocol's error channel carries at the end of a session.
 *
 * Source: kubernetes `staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/types.go`.
 *
 * @module
 */

/** A `metav1.Status`. */
export interface K8sStatus {
  /** `"Status"` in an HTTP body; the channel-3 statuses built here omit it. */
  kind?: "Status";
  /** `"v1"` in an HTTP body; the channel-3 statuses built here omit it. */
  apiVersion?: "v1";
  /** The `ListMeta`, always empty here. */
  metadata: Record<string, never>;
  /** Whether the operation succeeded. */
  status: "Success" | "Failure";
  /** Human-readable description of the status, which kubectl prints. */
  message?: string;
  /**
   * Machine-readable CamelCase reason (`Forbidden`, `NonZeroExitCode`, …);
   * empty or absent when there is none.
   */
  reason?: string;
  /**
   * Extended data for the reason: the `name` and `kind` of the object
   * concerned, and `causes` (for `NonZeroExitCode`, the cause with reason
   * `ExitCode` carries the exit code as its `message`).
   */
  details?: {
    name?: string;
    kind?: string;
    causes?: { reason?: string; message?: string; field?: string }[];
  };
  /** The HTTP status code this status stands for, 0 or absent if not set. */
  code?: number;
}

/** Standard `reason` for an HTTP status code. */
const REASONS: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  409: "AlreadyExists",
  422: "Invalid",
  500: "InternalError",
  502: "InternalError",
  503: "ServiceUnavailable",
  504: "Timeout",
};

/**
 * Builds a failure `Status` as an API server sends it in an HTTP body.
 * @param code HTTP status code.
 * @param message What kubectl prints after `Error from server (Reason): `.
 * @param details Optional name/kind of the object concerned.
 * @returns The `Status` object.
 * @example
 * ```ts
 * import { failureStatus } from "./status.ts";
 * const s = failureStatus(403, "forbidden: no");
 * if (s.reason !== "Forbidden") throw new Error();
 * ```
 */
export function failureStatus(
  code: number,
  message: string,
  details?: { name?: string; kind?: string },
): K8sStatus {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason: REASONS[code] ?? "Unknown",
    ...(details ? { details } : {}),
    code,
  };
}

/**
 * A `Response` carrying a failure `Status`, as kubectl expects.
 * @param code HTTP status code.
 * @param message The message.
 * @param details Optional name/kind.
 * @returns The response.
 */
export function statusResponse(
  code: number,
  message: string,
  details?: { name?: string; kind?: string },
): Response {
  return new Response(
    JSON.stringify(failureStatus(code, message, details)),
    { status: code, headers: { "content-type": "application/json" } },
  );
}

/** The channel-3 `Status` of a session that ended well. */
export const SUCCESS_STATUS: K8sStatus = { metadata: {}, status: "Success" };

/**
 * The channel-3 `Status` of a command that exited non-zero; kubectl prints
 * "command terminated with exit code N" and exits N.
 * @param code Exit code.
 * @returns The status.
 */
export function exitCodeStatus(code: number): K8sStatus {
  return {
    metadata: {},
    status: "Failure",
    message: `command terminated with non-zero exit code: exit status ${code}`,
    reason: "NonZeroExitCode",
    details: { causes: [{ reason: "ExitCode", message: String(code) }] },
  };
}

/**
 * Reads the exit code from a channel-3 `Status`.
 * @param status Parsed status.
 * @returns 0 on success, the exit code on `NonZeroExitCode`, else undefined.
 */
export function exitCodeOf(status: K8sStatus): number | undefined {
  if (status.status === "Success") return 0;
  if (status.reason === "NonZeroExitCode") {
    const c = status.details?.causes?.find((c) => c.reason === "ExitCode");
    const n = Number(c?.message);
    if (Number.isInteger(n)) return n;
  }
  return undefined;
}
