/**
 * SpdyChannelTap on real kubectl traffic: kubectl → fake API server → the
 * proxy's byte relay (`relayUpgrade`) with the tap → a SPDY exec upstream.
 */
import assert from "node:assert/strict";
import { connect as netConnect, type Socket } from "node:net";
import type { ChannelMessage } from "../channel_tap.ts";
import { exitCodeOf, failureStatus, type K8sStatus } from "../status.ts";
import type { RelayTap } from "../../recording/relay_tap.ts";
import { nodeSocketDuplex } from "../../proxy/deno_socket.ts";
import { encodeRequestHead, relayUpgrade } from "../../proxy/upgrade_relay.ts";
import { SpdyChannelTap } from "./spdy_channel_tap.ts";
import {
  KUBECTL,
  KUBECTL_129,
  processBackend,
  runKubectl,
  startFakeApiServer,
  startSpdyUpstream,
} from "./_kubectl_harness.ts";

const MESSAGE =
  "execgate: the session recording failed, the session was ended\n";
const STATUS: K8sStatus = failureStatus(500, "session recording failed");

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** A RelayTap that records like the session does: release whole frames only. */
class TestTap implements RelayTap {
  tap?: SpdyChannelTap;
  protocol = "";
  clientMessages: ChannelMessage[] = [];
  upstreamMessages: ChannelMessage[] = [];
  clientBytes: Uint8Array[] = [];
  upstreamBytes: Uint8Array[] = [];
  aborted = false;
  abortedWith?: string;
  #gate?: TransformStreamDefaultController<Uint8Array>;
  #held: Uint8Array = new Uint8Array();
  #released = 0;
  #abortWhen?: (t: TestTap, messages: ChannelMessage[]) => boolean;

  constructor(abortWhen?: (t: TestTap, messages: ChannelMessage[]) => boolean) {
    this.#abortWhen = abortWhen;
  }
  upgraded(protocol: string): void {
    this.protocol = protocol;
    this.tap = new SpdyChannelTap(protocol);
  }
  upstreamGate(): TransformStream<Uint8Array, Uint8Array> {
    return new TransformStream({
      start: (c) => {
        this.#gate = c;
      },
      transform: (chunk, c) => {
        const out = this.fromUpstream(chunk);
        if (out.length > 0) c.enqueue(out);
      },
    });
  }
  clientObserver(): TransformStream<Uint8Array, Uint8Array> {
    return new TransformStream({
      transform: (chunk, c) => {
        c.enqueue(chunk);
        this.fromClient(chunk);
      },
    });
  }
  fromClient(chunk: Uint8Array): void {
    this.clientBytes.push(chunk.slice());
    this.clientMessages.push(...this.tap!.client(chunk));
  }
  fromUpstream(chunk: Uint8Array): Uint8Array {
    this.upstreamBytes.push(chunk.slice());
    this.#held = concat([this.#held, chunk]);
    const messages = this.tap!.upstream(chunk);
    this.upstreamMessages.push(...messages);
    if (!this.aborted && this.#abortWhen?.(this, messages)) {
      this.aborted = true;
      this.abortedWith = "test abort";
      this.#gate!.enqueue(this.tap!.abortBytes(MESSAGE, STATUS));
      this.#gate!.terminate();
      return new Uint8Array();
    }
    const n = this.tap!.upstreamComplete - this.#released;
    const out = this.#held.slice(0, n);
    this.#held = this.#held.slice(n);
    this.#released += n;
    this.tap!.released();
    return out;
  }
  end(): Promise<void> {
    return Promise.resolve();
  }
}

const text = (ms: ChannelMessage[], channel: number) =>
  new TextDecoder().decode(
    concat(ms.filter((m) => m.channel === channel).map((m) => m.data)),
  );

async function throughRelay(
  bin: string,
  minor: string,
  env: Record<string, string>,
  args: string[],
  tap: TestTap,
  stdin?: Uint8Array,
) {
  const upstream = await startSpdyUpstream(processBackend());
  const relays: Promise<unknown>[] = [];
  const api = await startFakeApiServer(minor, (req, socket, head) => {
    const raw = req.rawHeaders;
    const pairs: [string, string][] = [];
    for (let i = 0; i < raw.length; i += 2) pairs.push([raw[i]!, raw[i + 1]!]);
    relays.push(relayUpgrade({
      client: nodeSocketDuplex(socket),
      clientHead: head,
      requestHead: encodeRequestHead(req.method!, req.url!, pairs),
      connect: () =>
        new Promise<Socket>((resolve, reject) => {
          const s = netConnect(upstream.port, "127.0.0.1", () => resolve(s));
          s.once("error", reject);
        }).then(nodeSocketDuplex),
      tap,
    }));
  });
  try {
    const result = await runKubectl(bin, api.port, api.caPem, args, {
      env,
      stdin,
    });
    await Promise.all(relays);
    await Promise.all(upstream.sessions);
    return { result, capture: upstream.captures[0]! };
  } finally {
    await api.close();
    await upstream.close();
  }
}

const EXEC = (...cmd: string[]) => ["exec", "pod1", "-c", "main", "--", ...cmd];

for (
  const [name, bin, minor, env, protocol] of [
    ["kubectl 1.29", KUBECTL_129, "29", {}, "v5.channel.k8s.io"],
    ["kubectl 1.31 (SPDY forced)", KUBECTL, "31", {
      KUBECTL_REMOTE_COMMAND_WEBSOCKETS: "false",
    }, "v5.channel.k8s.io"],
  ] as const
) {
  Deno.test(`SpdyChannelTap decodes a real ${name} session relayed byte-exact: stdout, stderr, exit 3`, async () => {
    const tap = new TestTap();
    const { result, capture } = await throughRelay(
      bin,
      minor,
      env,
      EXEC("sh", "-c", "echo out; echo err >&2; exit 3"),
      tap,
    );
    assert.equal(result.code, 3, result.stderr);
    assert.equal(new TextDecoder().decode(result.stdout), "out\n");
    assert.equal(tap.protocol, protocol);
    assert.equal(text(tap.upstreamMessages, 1), "out\n");
    assert.equal(text(tap.upstreamMessages, 2), "err\n");
    const status = tap.upstreamMessages.filter((m) => m.channel === 3);
    assert.equal(status[0]?.first, true);
    assert.equal(status.at(-1)?.last, true);
    assert.equal(exitCodeOf(JSON.parse(text(status, 3))), 3);
    assert.deepEqual([...tap.tap!.streams.values()].sort(), [1, 2, 3]);
    // The relay forwarded exactly what each side wrote; the tap saw the same.
    assert.deepEqual(concat(tap.upstreamBytes), concat(capture.written));
    assert.deepEqual(concat(tap.clientBytes), concat(capture.received));
  });

  Deno.test(`SpdyChannelTap sees 1 MiB of stdin and stdout of a real ${name} session through cat`, async () => {
    const input = new Uint8Array(1024 * 1024);
    for (let i = 0; i < input.length; i++) {
      input[i] = (i * 31 + (i >> 9)) & 0xff;
    }
    const tap = new TestTap();
    const { result, capture } = await throughRelay(
      bin,
      minor,
      env,
      ["exec", "-i", ...EXEC("cat").slice(1)],
      tap,
      input,
    );
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.stdout, input);
    const stdin = tap.clientMessages.filter((m) => m.channel === 0);
    assert.deepEqual(concat(stdin.map((m) => m.data)), input);
    assert.deepEqual(
      concat(
        tap.upstreamMessages.filter((m) => m.channel === 1).map((m) => m.data),
      ),
      input,
    );
    const closes = tap.clientMessages.filter((m) => m.channel === 255);
    assert.deepEqual(
      closes.map((m) => [...m.data]),
      protocol === "v5.channel.k8s.io" ? [[0]] : [],
    );
    assert.deepEqual(concat(tap.upstreamBytes), concat(capture.written));
    assert.deepEqual(concat(tap.clientBytes), concat(capture.received));
  });
}

Deno.test("SpdyChannelTap.abortBytes ends a real kubectl 1.29 session mid-output with the message and status", async () => {
  const tap = new TestTap((_, messages) =>
    messages.some((m) => m.channel === 1)
  );
  const { result } = await throughRelay(
    KUBECTL_129,
    "29",
    {},
    EXEC("sh", "-c", "echo first; exec sleep 30"),
    tap,
  );
  assert.ok(tap.aborted);
  assert.equal(new TextDecoder().decode(result.stdout), "");
  assert.ok(result.stderr.includes(MESSAGE), result.stderr);
  assert.ok(result.stderr.includes(STATUS.message!), result.stderr);
  assert.notEqual(result.code, 0);
});

Deno.test("SpdyChannelTap.abortBytes replies to a stream itself when the server's SYN_REPLY is held back (real kubectl 1.31)", async () => {
  // Abort on the upstream chunk that carries the last SYN_REPLY: the client
  // has opened every stream but waits for that reply, which the tap crafts.
  const tap = new TestTap((t) => t.tap!.streams.size === 3);
  const { result } = await throughRelay(
    KUBECTL,
    "31",
    { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: "false" },
    EXEC("sh", "-c", "echo first; exec sleep 30"),
    tap,
  );
  assert.ok(tap.aborted);
  assert.equal(new TextDecoder().decode(result.stdout), "");
  assert.ok(result.stderr.includes(MESSAGE), result.stderr);
  assert.ok(result.stderr.includes(STATUS.message!), result.stderr);
  assert.notEqual(result.code, 0);
});
