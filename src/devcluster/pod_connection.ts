/**
 * One forwarded connection to a pod port: what the container runtime does
 * for each port-forward stream (containerd's `portForward`: dial
 * `localhost:PORT` in the pod's network namespace, copy both ways), as a real
 * TCP connection to the local address behind the pod port (`pod_ports.ts`).
 *
 * Half-close is kept both ways: the client's end of its data stream ends the
 * TCP write side (FIN to the pod's server), and the pod's FIN ends the data
 * stream towards the client while the client may still send. (containerd
 * stops one second after the first direction ends; a simulated cluster has
 * no reason to copy that.) The connection is over once both directions
 * ended, or at once when the client resets its stream.
 *
 * A failure is reported as the kubelet writes it on the error stream:
 * `error forwarding port P to pod SANDBOX, uid : CAUSE` (the kubelet's
 * streaming server knows the pod by its sandbox id and no uid), with
 * containerd's causes, e.g. a refused dial:
 * `failed to execute portforward in network namespace "…": failed to connect
 * to localhost:P inside namespace "…", IPv4: dial tcp4 127.0.0.1:P: connect:
 * connection refused IPv6 dial tcp6 [::1]:P: connect: connection refused `.
 *
 * Sources: kubernetes `pkg/kubelet/cri/streaming/portforward/httpstream.go`
 * (`portForward`), containerd `internal/cri/server/sandbox_portforward_linux.go`.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { connect, type Socket } from "node:net";
import type { PortTarget } from "./pod_ports.ts";

/** What a connection hands to its session. */
export interface PodConnectionSink {
  /**
   * Bytes the pod sent.
   * @returns false when the client side is full: the connection pauses
   * until {@linkcode PodConnection.resume}.
   */
  data(chunk: Uint8Array): boolean;
  /** The pod ended its side (TCP FIN). */
  end(): void;
  /**
   * The connection is over (both directions, or reset, or never made).
   * @param error The kubelet's message for the error stream, when it failed.
   */
  done(error: string | undefined): void;
}

/** The pod a connection belongs to, for the kubelet's error messages. */
export interface PodIdentity {
  /** Namespace. */
  namespace: string;
  /** Pod name. */
  name: string;
  /** Pod uid. */
  uid: string;
}

/**
 * The pod's sandbox id as the kubelet's streaming server names it: 64 hex
 * digits (here derived from the pod uid, so it is stable).
 * @param pod The pod.
 * @returns The id.
 */
export function sandboxId(pod: PodIdentity): string {
  return createHash("sha256").update(`sandbox:${pod.uid}`).digest("hex");
}

/**
 * The kubelet's error-stream message for a failed forward.
 * @param port The pod port.
 * @param pod The pod.
 * @param cause The runtime's error.
 * @returns `error forwarding port P to pod SANDBOX, uid : CAUSE`.
 */
export function forwardError(
  port: number,
  pod: PodIdentity,
  cause: string,
): string {
  return `error forwarding port ${port} to pod ${
    sandboxId(pod)
  }, uid : ${cause}`;
}

/**
 * containerd's error for a pod port nobody listens on.
 * @param port The pod port.
 * @param pod The pod.
 * @returns The cause, as `forwardError` wraps it.
 */
export function refusedCause(port: number, pod: PodIdentity): string {
  const id = sandboxId(pod);
  return `failed to execute portforward in network namespace "/var/run/netns/cni-${pod.uid}": failed to connect to localhost:${port} inside namespace "${id}", IPv4: dial tcp4 127.0.0.1:${port}: connect: connection refused IPv6 dial tcp6 [::1]:${port}: connect: connection refused `;
}

/** Go's text for a socket error after the connection was made. */
function copyCause(
  port: number,
  pod: PodIdentity,
  err: Error,
  localPort: number | undefined,
): string {
  const code = (err as Error & { code?: string }).code;
  const text = code === "ECONNRESET"
    ? "connection reset by peer"
    : code === "EPIPE"
    ? "broken pipe"
    : err.message;
  return `failed to execute portforward for "${
    sandboxId(pod)
  }" port ${port}: read tcp4 127.0.0.1:${localPort}->127.0.0.1:${port}: read: ${text}`;
}

/** A TCP connection to a pod port, driven by a port-forward stream. */
export class PodConnection {
  #socket: Socket | undefined;
  #error: string | undefined;
  #finished = false;
  #sink: PodConnectionSink;

  /**
   * Dials the pod port (or fails at once when nothing listens there).
   * @param target The local address behind the pod port, or undefined.
   * @param port The pod port.
   * @param pod The pod, for error messages.
   * @param sink Where the pod's bytes and the end go.
   */
  constructor(
    target: Required<PortTarget> | undefined,
    port: number,
    pod: PodIdentity,
    sink: PodConnectionSink,
  ) {
    this.#sink = sink;
    if (!target) {
      this.#error = forwardError(port, pod, refusedCause(port, pod));
      queueMicrotask(() => this.#finish());
      return;
    }
    let connected = false;
    const s = connect({
      host: target.hostname,
      port: target.port,
      allowHalfOpen: true,
    });
    this.#socket = s;
    s.setNoDelay(true);
    s.on("connect", () => (connected = true));
    s.on("data", (chunk: Uint8Array) => {
      if (!sink.data(chunk)) s.pause();
    });
    s.on("end", () => sink.end());
    s.on("error", (err: Error) => {
      this.#error ??= forwardError(
        port,
        pod,
        connected
          ? copyCause(port, pod, err, s.localPort)
          : refusedCause(port, pod),
      );
    });
    s.on("close", () => this.#finish());
  }

  /**
   * Writes client bytes to the pod.
   * @param chunk Bytes.
   * @returns false when the TCP buffer is full: wait for {@linkcode onDrain}.
   */
  write(chunk: Uint8Array): boolean {
    const s = this.#socket;
    if (!s || s.destroyed || s.writableEnded) return true;
    return s.write(chunk);
  }

  /**
   * Calls `fn` once the TCP buffer drained or the connection is over.
   * @param fn Callback.
   */
  onDrain(fn: () => void): void {
    const s = this.#socket;
    if (!s || this.#finished) {
      queueMicrotask(fn);
      return;
    }
    const done = () => {
      s.off("drain", done);
      s.off("close", done);
      fn();
    };
    s.on("drain", done);
    s.on("close", done);
  }

  /** The client ended its data stream: FIN to the pod. */
  end(): void {
    const s = this.#socket;
    if (s && !s.destroyed && !s.writableEnded) s.end();
  }

  /** The client side has room again: read from the pod again. */
  resume(): void {
    this.#socket?.resume();
  }

  /** The client reset its stream or went away: drop the connection. */
  destroy(): void {
    this.#socket?.destroy();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#sink.done(this.#error);
  }
}
