/**
 * The simulated cluster's object store: namespaces and pods in memory, one
 * resource-version counter, and watches that replay missed events from a
 * bounded history so `kubectl get -w` (list, then watch from the list's
 * resourceVersion) never misses a change.
 *
 * @module
 */

import type { Namespace, Pod, WatchEvent } from "./objects.ts";

/** A watch subscriber on pods. */
export interface PodWatchOptions {
  /** Only this namespace; all when absent. */
  namespace?: string;
  /** Only the pod of this name (`fieldSelector=metadata.name=NAME`). */
  name?: string;
  /** Replay events newer than this resource version first. */
  sinceResourceVersion?: number;
}

/** In-memory object store with watches. */
export class ClusterStore {
  #rv = 1;
  #namespaces = new Map<string, Namespace>();
  #pods = new Map<string, Pod>();
  #history: { rv: number; event: WatchEvent<Pod> }[] = [];
  #historyLimit: number;
  #watchers = new Set<(rv: number, e: WatchEvent<Pod>) => void>();

  /**
   * Creates an empty store at resource version 1.
   * @param historyLimit How many pod events to keep for watch replay. @default {1000}
   */
  constructor(historyLimit = 1000) {
    this.#historyLimit = historyLimit;
  }

  /** The newest resource version. */
  get resourceVersion(): number {
    return this.#rv;
  }

  /** Number of open watches, for leak checks in tests. */
  get watchCount(): number {
    return this.#watchers.size;
  }

  /**
   * Creates a namespace unless it exists.
   * @param name Namespace name.
   * @returns The namespace.
   */
  ensureNamespace(name: string): Namespace {
    const found = this.#namespaces.get(name);
    if (found) return found;
    const ns: Namespace = {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: {
        name,
        uid: crypto.randomUUID(),
        resourceVersion: String(++this.#rv),
        creationTimestamp: new Date().toISOString(),
        labels: { "kubernetes.io/metadata.name": name },
      },
      spec: { finalizers: ["kubernetes"] },
      status: { phase: "Active" },
    };
    this.#namespaces.set(name, ns);
    return ns;
  }

  /**
   * Looks a namespace up.
   * @param name Namespace name.
   * @returns The namespace or undefined.
   */
  getNamespace(name: string): Namespace | undefined {
    return this.#namespaces.get(name);
  }

  /**
   * Lists the namespaces.
   * @returns All namespaces, by name.
   */
  listNamespaces(): Namespace[] {
    return [...this.#namespaces.values()].sort((a, b) =>
      a.metadata.name.localeCompare(b.metadata.name)
    );
  }

  /**
   * Looks a pod up.
   * @param namespace Namespace.
   * @param name Pod name.
   * @returns A copy of the pod, or undefined.
   */
  getPod(namespace: string, name: string): Pod | undefined {
    const p = this.#pods.get(`${namespace}/${name}`);
    return p ? structuredClone(p) : undefined;
  }

  /**
   * Lists pods.
   * @param namespace Only this namespace; all when absent.
   * @returns Copies of the pods, by namespace and name.
   */
  listPods(namespace?: string): Pod[] {
    return [...this.#pods.values()]
      .filter((p) =>
        namespace === undefined || p.metadata.namespace === namespace
      )
      .sort((a, b) =>
        `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(
          `${b.metadata.namespace}/${b.metadata.name}`,
        )
      )
      .map((p) => structuredClone(p));
  }

  /**
   * Creates or replaces a pod, stamps a new resource version and notifies
   * watches (ADDED or MODIFIED).
   * @param pod The pod; its namespace is created when missing.
   * @returns A copy of the stored pod.
   */
  putPod(pod: Pod): Pod {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const type = this.#pods.has(key) ? "MODIFIED" : "ADDED";
    this.ensureNamespace(pod.metadata.namespace);
    const stored = structuredClone(pod);
    stored.metadata.resourceVersion = String(++this.#rv);
    this.#pods.set(key, stored);
    this.#emit({ type, object: stored });
    return structuredClone(stored);
  }

  /**
   * Removes a pod and notifies watches (DELETED).
   * @param namespace Namespace.
   * @param name Pod name.
   * @returns The removed pod, or undefined when there was none.
   */
  deletePod(namespace: string, name: string): Pod | undefined {
    const key = `${namespace}/${name}`;
    const pod = this.#pods.get(key);
    if (!pod) return undefined;
    this.#pods.delete(key);
    pod.metadata.resourceVersion = String(++this.#rv);
    this.#emit({ type: "DELETED", object: pod });
    return structuredClone(pod);
  }

  /**
   * Watches pods. Events newer than `sinceResourceVersion` that are still in
   * the history are delivered first, synchronously.
   * @param options Filters.
   * @param onEvent Called with a copy of each matching event.
   * @returns A function that ends the watch.
   */
  watchPods(
    options: PodWatchOptions,
    onEvent: (e: WatchEvent<Pod>) => void,
  ): () => void {
    const matches = (e: WatchEvent<Pod>) =>
      (options.namespace === undefined ||
        e.object.metadata.namespace === options.namespace) &&
      (options.name === undefined || e.object.metadata.name === options.name);
    const since = options.sinceResourceVersion;
    if (since !== undefined) {
      for (const h of this.#history) {
        if (h.rv > since && matches(h.event)) onEvent(structuredClone(h.event));
      }
    }
    const watcher = (_rv: number, e: WatchEvent<Pod>) => {
      if (matches(e)) onEvent(structuredClone(e));
    };
    this.#watchers.add(watcher);
    return () => this.#watchers.delete(watcher);
  }

  #emit(event: WatchEvent<Pod>): void {
    this.#history.push({ rv: this.#rv, event: structuredClone(event) });
    if (this.#history.length > this.#historyLimit) this.#history.shift();
    for (const w of [...this.#watchers]) w(this.#rv, event);
  }
}
