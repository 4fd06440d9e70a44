/**
 * Server-side printing of pods: the `meta.k8s.io/v1` `Table` that `kubectl
 * get` asks for with `Accept: application/json;as=Table;...`, with the
 * columns of a real cluster (NAME READY STATUS RESTARTS AGE, and IP NODE with
 * `-o wide`).
 *
 * @module
 */

import type { Pod } from "./objects.ts";

/** A `meta.k8s.io/v1` Table. */
export interface Table {
  /** "Table". */
  kind: "Table";
  /** "meta.k8s.io/v1". */
  apiVersion: "meta.k8s.io/v1";
  /** List metadata. */
  metadata: { resourceVersion?: string };
  /** Columns. */
  columnDefinitions: {
    name: string;
    type: string;
    format: string;
    description: string;
    priority: number;
  }[];
  /** Rows. */
  rows: { cells: unknown[]; object: unknown }[];
}

const COLUMNS: Table["columnDefinitions"] = [
  ["Name", "string", "name", 0],
  ["Ready", "string", "", 0],
  ["Status", "string", "", 0],
  ["Restarts", "string", "", 0],
  ["Age", "string", "", 0],
  ["IP", "string", "", 1],
  ["Node", "string", "", 1],
].map(([name, type, format, priority]) => ({
  name: name as string,
  type: type as string,
  format: format as string,
  description: `${name} of the pod`,
  priority: priority as number,
}));

/**
 * A duration the way kubectl prints ages (`5s`, `3m12s`, `2h`, `4d`).
 * @param ms Milliseconds.
 * @returns The short form.
 */
export function humanAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

/**
 * The STATUS column: the phase, or a container's waiting/terminated reason.
 * @param pod The pod.
 * @returns What kubectl shows.
 */
export function podStatusReason(pod: Pod): string {
  for (const s of pod.status.containerStatuses ?? []) {
    if (s.state.waiting) return s.state.waiting.reason;
    if (s.state.terminated && pod.status.phase !== "Running") {
      return s.state.terminated.reason;
    }
  }
  return pod.status.phase;
}

/**
 * Converts pods to a Table.
 * @param pods The pods.
 * @param resourceVersion The list's resource version.
 * @param withColumns Whether to include the column definitions (watch
 * events after the first may omit them).
 * @returns The Table.
 */
export function podTable(
  pods: Pod[],
  resourceVersion: string | undefined,
  withColumns = true,
): Table {
  const now = Date.now();
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: resourceVersion ? { resourceVersion } : {},
    columnDefinitions: withColumns ? COLUMNS : [],
    rows: pods.map((pod) => {
      const statuses = pod.status.containerStatuses ?? [];
      const ready = statuses.filter((s) => s.ready).length;
      const created = Date.parse(pod.metadata.creationTimestamp ?? "") || now;
      return {
        cells: [
          pod.metadata.name,
          `${ready}/${pod.spec.containers.length}`,
          podStatusReason(pod),
          "0",
          humanAge(now - created),
          pod.status.podIP ?? "<none>",
          (pod.spec.nodeName as string | undefined) ?? "<none>",
        ],
        object: {
          kind: "PartialObjectMetadata",
          apiVersion: "meta.k8s.io/v1",
          metadata: pod.metadata,
        },
      };
    }),
  };
}

/**
 * Whether an `Accept` header asks for a Table.
 * @param accept The header.
 * @returns True for `as=Table`.
 */
export function wantsTable(accept: string | undefined | null): boolean {
  return /;\s*as=Table/.test(accept ?? "");
}
