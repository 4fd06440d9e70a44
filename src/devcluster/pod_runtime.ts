/**
 * The simulated kubelet: it gives each pod a scratch directory, starts every
 * container's command as a local process there (see `container_process.ts`),
 * and keeps the pod's status in the store in step: Pending, then Running
 * once the processes started, then Succeeded/Failed when all containers
 * exited. Ephemeral containers (`kubectl debug`) are started the same way.
 * Containers are never restarted, whatever `restartPolicy` says.
 *
 * @module
 */

import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { spawnContainerProcess } from "./container_process.ts";
import {
  containerArgv,
  type ContainerSpec,
  type ContainerStatus,
  type Pod,
} from "./objects.ts";
import { PodPorts } from "./pod_ports.ts";
import { RunningContainer } from "./running_container.ts";
import type { ClusterStore } from "./store.ts";

/** Options of {@linkcode PodRuntime}. */
export interface PodRuntimeOptions {
  /** Directory under which each pod gets `NAMESPACE/NAME/`. */
  rootDir: string;
  /** Initial terminal size of TTY containers. @default {{cols: 80, rows: 24}} */
  defaultSize?: { cols: number; rows: number };
}

let podCounter = 0;

/** Starts, tracks and stops the containers of the pods in a store. */
export class PodRuntime {
  #store: ClusterStore;
  #rootDir: string;
  #size: { cols: number; rows: number };
  #containers = new Map<string, RunningContainer>();
  /** The local addresses behind the pods' ports (`pods/portforward`). */
  readonly ports: PodPorts = new PodPorts();

  /**
   * Creates a runtime with no container running.
   * @param store The object store whose pods this runtime runs.
   * @param options Where pods live.
   */
  constructor(store: ClusterStore, options: PodRuntimeOptions) {
    this.#store = store;
    this.#rootDir = options.rootDir;
    this.#size = options.defaultSize ?? { cols: 80, rows: 24 };
  }

  /**
   * The scratch directory of a pod (the cwd of its processes).
   * @param namespace Namespace.
   * @param name Pod name.
   * @returns The path.
   */
  podDir(namespace: string, name: string): string {
    return join(this.#rootDir, namespace, name);
  }

  /**
   * A container's running main process.
   * @param namespace Namespace.
   * @param pod Pod name.
   * @param container Container name (ephemeral ones included).
   * @returns The container, or undefined when it never started.
   */
  container(
    namespace: string,
    pod: string,
    container: string,
  ): RunningContainer | undefined {
    return this.#containers.get(`${namespace}/${pod}/${container}`);
  }

  /**
   * Stores a new pod as Pending, then starts its containers and marks it
   * Running.
   * @param input The pod as a client sent it (metadata.name and one container
   * at least); status is replaced.
   * @returns The stored (Pending) pod.
   * @throws {Error} The scratch directory cannot be created.
   */
  createPod(input: Pod): Pod {
    const now = new Date().toISOString();
    const ns = input.metadata.namespace;
    const name = input.metadata.name;
    const n = ++podCounter;
    const pod: Pod = {
      ...input,
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        ...input.metadata,
        uid: crypto.randomUUID(),
        creationTimestamp: now,
      },
      spec: {
        restartPolicy: "Always",
        nodeName: "devcluster",
        ...input.spec,
      },
      status: {
        phase: "Pending",
        hostIP: "127.0.0.1",
        podIP: `10.88.${(n >> 8) & 0xff}.${n & 0xff}`,
        startTime: now,
        conditions: [{
          type: "PodScheduled",
          status: "True",
          lastTransitionTime: now,
        }],
        containerStatuses: input.spec.containers.map((c) =>
          status(c, { waiting: { reason: "ContainerCreating" } }, false)
        ),
      },
    };
    mkdirSync(this.podDir(ns, name), { recursive: true });
    const stored = this.#store.putPod(pod);
    // Start after the ADDED event, as a kubelet would, so watches see Pending.
    setTimeout(() => this.#startContainers(ns, name), 0);
    return stored;
  }

  /**
   * Adds ephemeral containers to a running pod and starts them.
   * @param namespace Namespace.
   * @param name Pod name.
   * @param specs The pod's ephemeral containers after the change; new names
   * are started, known ones left alone.
   * @returns The updated pod, or undefined when the pod does not exist.
   */
  setEphemeralContainers(
    namespace: string,
    name: string,
    specs: ContainerSpec[],
  ): Pod | undefined {
    const pod = this.#store.getPod(namespace, name);
    if (!pod) return undefined;
    const known = new Set(
      (pod.spec.ephemeralContainers ?? []).map((c) => c.name),
    );
    const added = specs.filter((c) => !known.has(c.name));
    pod.spec.ephemeralContainers = [
      ...(pod.spec.ephemeralContainers ?? []),
      ...added,
    ];
    pod.status.ephemeralContainerStatuses = [
      ...(pod.status.ephemeralContainerStatuses ?? []),
      ...added.map((c) =>
        status(c, { waiting: { reason: "PodInitializing" } }, false)
      ),
    ];
    const stored = this.#store.putPod(pod);
    if (added.length > 0) {
      setTimeout(() => {
        for (const c of added) this.#startContainer(namespace, name, c, true);
      }, 0);
    }
    return stored;
  }

  /**
   * Stops a pod's processes, removes its scratch directory and deletes it
   * from the store.
   * @param namespace Namespace.
   * @param name Pod name.
   * @returns The deleted pod, or undefined when there was none.
   */
  deletePod(namespace: string, name: string): Pod | undefined {
    const prefix = `${namespace}/${name}/`;
    for (const [key, c] of this.#containers) {
      if (key.startsWith(prefix)) {
        c.kill();
        this.#containers.delete(key);
      }
    }
    this.ports.removePod(namespace, name);
    const pod = this.#store.deletePod(namespace, name);
    rmSync(this.podDir(namespace, name), { recursive: true, force: true });
    return pod;
  }

  /** Kills every process. */
  close(): void {
    for (const c of this.#containers.values()) c.kill();
    this.#containers.clear();
  }

  #startContainers(namespace: string, name: string): void {
    const pod = this.#store.getPod(namespace, name);
    if (!pod) return;
    for (const c of pod.spec.containers) {
      this.#startContainer(namespace, name, c, false);
    }
  }

  #startContainer(
    namespace: string,
    podName: string,
    spec: ContainerSpec,
    ephemeral: boolean,
  ): void {
    const key = `${namespace}/${podName}/${spec.name}`;
    if (this.#containers.has(key)) return;
    const tty = spec.tty === true;
    const stdin = spec.stdin === true;
    const proc = spawnContainerProcess({
      argv: containerArgv(spec),
      cwd: this.podDir(namespace, podName),
      env: { HOSTNAME: podName },
      tty,
      stdin,
      size: tty ? this.#size : undefined,
    });
    const running = new RunningContainer(spec.name, proc, {
      tty,
      stdin,
      stdinOnce: spec.stdinOnce === true,
    });
    this.#containers.set(key, running);
    const startedAt = new Date().toISOString();
    this.#update(
      namespace,
      podName,
      ephemeral,
      spec.name,
      () => status(spec, { running: { startedAt } }, true),
    );
    running.exited.then((exitCode) => {
      if (this.#containers.get(key) !== running) return; // pod deleted
      this.#update(
        namespace,
        podName,
        ephemeral,
        spec.name,
        () =>
          status(spec, {
            terminated: {
              exitCode,
              reason: exitCode === 0 ? "Completed" : "Error",
              startedAt,
              finishedAt: new Date().toISOString(),
            },
          }, false),
      );
    });
  }

  #update(
    namespace: string,
    podName: string,
    ephemeral: boolean,
    container: string,
    next: () => ContainerStatus,
  ): void {
    const pod = this.#store.getPod(namespace, podName);
    if (!pod) return;
    const field = ephemeral
      ? "ephemeralContainerStatuses"
      : "containerStatuses";
    const list = pod.status[field] ?? [];
    const i = list.findIndex((s) => s.name === container);
    if (i >= 0) list[i] = next();
    else list.push(next());
    pod.status[field] = list;
    derivePhase(pod);
    this.#store.putPod(pod);
  }
}

function status(
  c: ContainerSpec,
  state: ContainerStatus["state"],
  ready: boolean,
): ContainerStatus {
  const image = c.image ?? "busybox";
  return {
    name: c.name,
    state,
    ready,
    restartCount: 0,
    image,
    imageID: `devcluster/${image}`,
    started: state.running !== undefined,
  };
}

/** Sets phase and conditions from the (non-ephemeral) container statuses. */
function derivePhase(pod: Pod): void {
  const statuses = pod.status.containerStatuses ?? [];
  const now = new Date().toISOString();
  const allTerminated = statuses.length > 0 &&
    statuses.every((s) => s.state.terminated);
  const anyRunning = statuses.some((s) => s.state.running);
  const allReady = statuses.length > 0 && statuses.every((s) => s.ready);
  if (allTerminated) {
    pod.status.phase = statuses.every((s) => s.state.terminated!.exitCode === 0)
      ? "Succeeded"
      : "Failed";
  } else if (anyRunning && statuses.every((s) => !s.state.waiting)) {
    pod.status.phase = "Running";
  }
  const cond = (type: string, ok: boolean) => ({
    type,
    status: ok ? "True" : "False",
    lastTransitionTime: now,
  });
  pod.status.conditions = [
    cond("PodScheduled", true),
    cond("Initialized", true),
    cond("ContainersReady", allReady),
    cond("Ready", allReady),
  ];
}
