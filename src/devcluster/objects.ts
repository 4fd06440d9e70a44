/**
 * The Kubernetes object shapes the simulated cluster stores and serves: just
 * the fields it reads or writes, and every other field kept as the client
 * sent it.
 *
 * @module
 */

/** `metadata` of a stored object. */
export interface ObjectMeta {
  /** Object name. */
  name: string;
  /** Namespace (absent for namespaces). */
  namespace?: string;
  /** Unique id. */
  uid?: string;
  /** Version stamp, a decimal counter shared by all objects. */
  resourceVersion?: string;
  /** RFC 3339 creation time. */
  creationTimestamp?: string;
  /** Labels. */
  labels?: Record<string, string>;
  /** Everything else the client sent. */
  [key: string]: unknown;
}

/** A container (or ephemeral container) of a pod spec. */
export interface ContainerSpec {
  /** Container name. */
  name: string;
  /** Image: recorded, never pulled. */
  image?: string;
  /** Command (the image ENTRYPOINT when absent: here, nothing). */
  command?: string[];
  /** Arguments (the image CMD when absent: here, `sh`). */
  args?: string[];
  /** Keep stdin open for attach. */
  stdin?: boolean;
  /** Close stdin after the first attach closes it. */
  stdinOnce?: boolean;
  /** Allocate a pseudo-terminal. */
  tty?: boolean;
  /** For ephemeral containers: the container whose namespaces they share. */
  targetContainerName?: string;
  /** Everything else the client sent. */
  [key: string]: unknown;
}

/** State of one container, as in `containerStatuses`. */
export interface ContainerState {
  /** Set while starting. */
  waiting?: { reason: string; message?: string };
  /** Set while running. */
  running?: { startedAt: string };
  /** Set once exited. */
  terminated?: {
    exitCode: number;
    reason: string;
    startedAt?: string;
    finishedAt: string;
  };
}

/** One entry of `containerStatuses` / `ephemeralContainerStatuses`. */
export interface ContainerStatus {
  /** Container name. */
  name: string;
  /** Current state. */
  state: ContainerState;
  /** Readiness (running means ready here). */
  ready: boolean;
  /** Always 0: the simulated cluster never restarts containers. */
  restartCount: number;
  /** Image from the spec. */
  image: string;
  /** Fake image id. */
  imageID: string;
  /** Whether the container has started. */
  started?: boolean;
}

/** Pod phase (`status.phase`). */
export type PodPhase = "Pending" | "Running" | "Succeeded" | "Failed";

/** A `v1.Pod`, reduced to what the simulated cluster uses. */
export interface Pod {
  /** Always "v1". */
  apiVersion: "v1";
  /** Always "Pod". */
  kind: "Pod";
  /** Metadata; `namespace` is always set. */
  metadata: ObjectMeta & { namespace: string };
  /** Spec. */
  spec: {
    /** Containers (at least one). */
    containers: ContainerSpec[];
    /** Ephemeral containers added by `kubectl debug`. */
    ephemeralContainers?: ContainerSpec[];
    /** Restart policy: recorded, containers are never restarted. */
    restartPolicy?: string;
    /** Everything else the client sent. */
    [key: string]: unknown;
  };
  /** Status, owned by the simulated cluster. */
  status: {
    /** Phase. */
    phase: PodPhase;
    /** Conditions (Ready, ...). */
    conditions?: {
      type: string;
      status: string;
      lastTransitionTime?: string;
    }[];
    /** Container statuses, in spec order. */
    containerStatuses?: ContainerStatus[];
    /** Ephemeral container statuses. */
    ephemeralContainerStatuses?: ContainerStatus[];
    /** Host address. */
    hostIP?: string;
    /** Pod address. */
    podIP?: string;
    /** Start time. */
    startTime?: string;
    /** Everything else. */
    [key: string]: unknown;
  };
}

/** A `v1.Namespace`. */
export interface Namespace {
  /** Always "v1". */
  apiVersion: "v1";
  /** Always "Namespace". */
  kind: "Namespace";
  /** Metadata. */
  metadata: ObjectMeta;
  /** Spec. */
  spec: { finalizers: string[] };
  /** Status. */
  status: { phase: "Active" };
}

/** A watch event as the API streams it. */
export interface WatchEvent<T> {
  /** Event type. */
  type: "ADDED" | "MODIFIED" | "DELETED";
  /** The object after the change (before it, for DELETED). */
  object: T;
}

/**
 * The argv a container runs, the way the kubelet composes it: `command` then
 * `args`. An image's own ENTRYPOINT/CMD do not exist here: an empty argv
 * means `sh` for a container with stdin (`kubectl run -i`), else
 * `sleep infinity` (a long-running service, so `kubectl exec` works).
 * @param c The container spec.
 * @returns The argv, never empty.
 * @example
 * ```ts
 * import { containerArgv } from "./objects.ts";
 * if (containerArgv({ name: "x", args: ["echo", "hi"] }).join(" ") !== "echo hi") {
 *   throw new Error();
 * }
 * if (containerArgv({ name: "x", stdin: true })[0] !== "sh") throw new Error();
 * if (containerArgv({ name: "x" })[0] !== "sleep") throw new Error();
 * ```
 */
export function containerArgv(c: ContainerSpec): string[] {
  const argv = [...(c.command ?? []), ...(c.args ?? [])];
  if (argv.length > 0) return argv;
  return c.stdin ? ["sh"] : ["sleep", "infinity"];
}
