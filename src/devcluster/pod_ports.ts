/**
 * The ports a simulated pod listens on. A real pod has its own network
 * namespace, so its port 8080 is free whatever the node does; the simulated
 * pods share the host's, so each pod port is backed by a real TCP listener on
 * some local address (usually `127.0.0.1` and a port the test's own server
 * was given by the kernel). `pods/portforward` connects each forwarded stream
 * to that address; a pod port with nothing behind it refuses, as a pod port
 * nobody listens on does.
 *
 * A test declares what a pod serves: it starts a server (any server: HTTP,
 * TCP echo, a listener that is closed again to get a refusing port) and calls
 * `cluster.exposePort(namespace, pod, port, { port: server.port })`.
 *
 * @module
 */

/** Where a pod port's connections go. */
export interface PortTarget {
  /** Local address to connect to. @default {"127.0.0.1"} */
  hostname?: string;
  /** Local TCP port. */
  port: number;
}

function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(
      `Cannot use ${what} ${JSON.stringify(port)}: a port is 1 to 65535`,
    );
  }
}

/** Pod port → local address, per pod. */
export class PodPorts {
  #table = new Map<string, Map<number, Required<PortTarget>>>();

  /**
   * Backs a pod port with a local address (replacing an earlier one).
   * @param namespace Namespace.
   * @param pod Pod name.
   * @param port The pod's port (what `kubectl port-forward pod/x :P` names).
   * @param target The local address that serves it.
   * @throws {RangeError} A port is not 1 to 65535.
   * @example
   * ```ts
   * import { PodPorts } from "./pod_ports.ts";
   * const ports = new PodPorts();
   * ports.expose("default", "web", 80, { port: 41234 });
   * const t = ports.lookup("default", "web", 80);
   * if (t?.hostname !== "127.0.0.1" || t.port !== 41234) throw new Error();
   * ```
   */
  expose(
    namespace: string,
    pod: string,
    port: number,
    target: PortTarget,
  ): void {
    checkPort(port, "pod port");
    checkPort(target.port, "local port");
    const key = `${namespace}/${pod}`;
    let ports = this.#table.get(key);
    if (!ports) this.#table.set(key, ports = new Map());
    ports.set(port, {
      hostname: target.hostname ?? "127.0.0.1",
      port: target.port,
    });
  }

  /**
   * The local address behind a pod port.
   * @param namespace Namespace.
   * @param pod Pod name.
   * @param port The pod's port.
   * @returns The address, or undefined when nothing listens there.
   */
  lookup(
    namespace: string,
    pod: string,
    port: number,
  ): Required<PortTarget> | undefined {
    return this.#table.get(`${namespace}/${pod}`)?.get(port);
  }

  /**
   * Forgets a pod's ports (the pod was deleted).
   * @param namespace Namespace.
   * @param pod Pod name.
   */
  removePod(namespace: string, pod: string): void {
    this.#table.delete(`${namespace}/${pod}`);
  }
}
