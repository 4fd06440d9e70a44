/**
 * What a port-forward test checks through kubectl's local ports, shared by
 * the simulated cluster's own tests and the proxy's end-to-end tests: a pod
 * `web` (port 8080 an HTTP server, 7000 a half-close server), then a page,
 * eight concurrent connections, 8 MiB each way byte for byte, and a
 * half-closed connection.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  PAGE,
  patternBytes,
  type PodServer,
  sha256Hex,
  startHalfCloseServer,
  startHttpPodServer,
} from "./_pod_servers.ts";
import type { DevCluster } from "./server.ts";

/** kubectl 1.29: port-forward over SPDY only. */
export const KUBECTL_1_29 = "/usr/lib/google-cloud-sdk/bin/kubectl.1.29";

/** A way kubectl port-forwards. */
export interface PortForwardClient {
  /** For test names. */
  name: string;
  /** The kubectl binary. @default {the dispatcher, which runs 1.33} */
  bin?: string;
  /** Extra environment. */
  env: Record<string, string>;
  /** The `Upgrade` header it sends. */
  upgrade: "SPDY/3.1" | "websocket";
}

/** Every way kubectl port-forwards. */
export const PORT_FORWARD_CLIENTS: readonly PortForwardClient[] = [
  {
    name: "kubectl 1.29 (SPDY)",
    bin: KUBECTL_1_29,
    env: {},
    upgrade: "SPDY/3.1",
  },
  {
    name: "kubectl 1.33 with KUBECTL_PORT_FORWARD_WEBSOCKETS=false (SPDY)",
    env: { KUBECTL_PORT_FORWARD_WEBSOCKETS: "false" },
    upgrade: "SPDY/3.1",
  },
  {
    name: "kubectl 1.33 (SPDY tunnelled in WebSocket)",
    env: {},
    upgrade: "websocket",
  },
];

/** The pod ports of the `web` pod. */
export const WEB_PORTS = { http: 8080, tcp: 7000 } as const;

/** The `web` pod's servers. */
export interface WebPod {
  /** Behind port 8080. */
  http: PodServer;
  /** Behind port 7000. */
  tcp: PodServer;
  /** Stops both servers. */
  close(): Promise<void>;
}

/**
 * Creates the pod `default/web` and backs its ports with real servers.
 * @param cluster The cluster.
 * @returns The servers.
 */
export async function startWebPod(cluster: DevCluster): Promise<WebPod> {
  cluster.createPod({
    name: "web",
    containers: [{
      name: "server",
      image: "nginx",
      command: ["sleep", "3600"],
      ports: [
        { containerPort: WEB_PORTS.http },
        { containerPort: WEB_PORTS.tcp },
      ],
    }],
  });
  await cluster.waitForPod("default", "web");
  const http = startHttpPodServer();
  const tcp = await startHalfCloseServer();
  cluster.exposePort("default", "web", WEB_PORTS.http, { port: http.port });
  cluster.exposePort("default", "web", WEB_PORTS.tcp, { port: tcp.port });
  return {
    http,
    tcp,
    close: async () => {
      await http.close();
      await tcp.close();
    },
  };
}

/**
 * Runs curl (HTTP/1.1, silent but for errors).
 * @param args Arguments.
 * @returns Exit code, stdout bytes, stderr text.
 */
export async function curl(
  args: string[],
): Promise<{ code: number; out: Uint8Array; err: string }> {
  const r = await new Deno.Command("curl", {
    args: ["-sS", "--http1.1", "--max-time", "60", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: r.code,
    out: r.stdout,
    err: new TextDecoder().decode(r.stderr),
  };
}

/**
 * Checks the `web` pod through kubectl's local ports.
 * @param pod The pod's servers.
 * @param local Local port of each pod port.
 * @param dir A scratch directory (for the upload file).
 * @throws {AssertionError} Something did not come through intact.
 */
export async function checkWebPodThrough(
  pod: WebPod,
  local: ReadonlyMap<number, number>,
  dir: string,
): Promise<void> {
  const base = `http://127.0.0.1:${local.get(WEB_PORTS.http)}`;
  const page = await curl([`${base}/`]);
  assert.equal(page.code, 0, page.err);
  assert.equal(new TextDecoder().decode(page.out), PAGE);

  // Eight at once, each its own curl, so its own TCP connection.
  const before = pod.http.connections();
  const many = await Promise.all(
    Array.from(
      { length: 8 },
      (_, i) => curl([`${base}/bytes?n=${256 * 1024 + i}&seed=${i}`]),
    ),
  );
  for (const [i, r] of many.entries()) {
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(r.out, patternBytes(256 * 1024 + i, i), `body ${i}`);
  }
  assert.equal(pod.http.connections() - before, 8);

  const size = 8 * 1024 * 1024;
  const down = await curl([`${base}/bytes?n=${size}&seed=3`]);
  assert.equal(down.code, 0, down.err);
  assert.equal(down.out.length, size);
  assert.deepEqual(down.out, patternBytes(size, 3));

  const upload = patternBytes(size, 5);
  const file = `${dir}/upload.bin`;
  await Deno.writeFile(file, upload);
  const up = await curl(["--data-binary", `@${file}`, `${base}/digest`]);
  assert.equal(up.code, 0, up.err);
  assert.equal(
    new TextDecoder().decode(up.out),
    `${size} ${sha256Hex(upload)}\n`,
  );

  // Half-close: the pod answers only after our FIN, and we still read it.
  const tcpBefore = pod.tcp.connections();
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: local.get(WEB_PORTS.tcp)!,
  });
  const sent = patternBytes(1024 * 1024, 9);
  const answer = new Response(conn.readable).text();
  for (let off = 0; off < sent.length;) {
    off += await conn.write(sent.subarray(off));
  }
  await conn.closeWrite();
  assert.equal(await answer, `got ${sent.length} ${sha256Hex(sent)}\n`);
  assert.equal(pod.tcp.connections() - tcpBefore, 1);
}
