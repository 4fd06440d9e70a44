import assert from "node:assert/strict";
import { PROTOCOL_V4, PROTOCOL_V5 } from "./constants.ts";
import { exitCodeStatus } from "./status.ts";
import { WsChannelParser } from "./ws_channel_parser.ts";
import { WsChannelTap } from "./ws_channel_tap.ts";
import { encodeWsFrame, WsFrameParser } from "./ws_frame.ts";

const MASK = new Uint8Array([9, 8, 7, 6]);
const enc = (s: string) => new TextEncoder().encode(s);
const msg = (channel: number, text: string, mask?: Uint8Array) =>
  encodeWsFrame({
    opcode: 2,
    payload: new Uint8Array([channel, ...enc(text)]),
    mask,
  });

Deno.test("WsChannelTap counts only whole upstream frames as complete", () => {
  const tap = new WsChannelTap(PROTOCOL_V5);
  const a = msg(1, "abc");
  const b = msg(2, "de");
  const wire = new Uint8Array([...a, ...b]);
  assert.deepEqual(tap.upstream(wire.subarray(0, a.length + 1)).length, 1);
  assert.equal(tap.upstreamComplete, a.length);
  assert.deepEqual(tap.upstream(wire.subarray(a.length + 1)).length, 1);
  assert.equal(tap.upstreamComplete, wire.length);
});

Deno.test("WsChannelTap accepts only each direction's channels", () => {
  const tap = new WsChannelTap(PROTOCOL_V5);
  assert.equal(
    tap.client(msg(4, '{"Width":1,"Height":2}', MASK))[0]?.channel,
    4,
  );
  assert.equal(tap.client(msg(255, "\0", MASK))[0]?.channel, 255);
  assert.throws(() => tap.client(msg(1, "x", MASK)), /channel 1 is unknown/);
  const up = new WsChannelTap(PROTOCOL_V4);
  assert.throws(() => up.upstream(msg(0, "x")), /channel 0 is unknown/);
  assert.throws(
    () => new WsChannelTap(PROTOCOL_V4).upstream(msg(255, "\0")),
    /channel 255 is unknown/,
  );
  assert.throws(() => new WsChannelTap("v3.channel.k8s.io"), RangeError);
});

Deno.test("WsChannelTap.abortBytes yields stderr, a failure Status and a close", () => {
  const tap = new WsChannelTap(PROTOCOL_V5);
  const bytes = tap.abortBytes("\r\nbye\r\n", exitCodeStatus(1));
  const frames = new WsFrameParser().push(bytes);
  assert.deepEqual(frames.map((f) => [f.opcode, f.masked]), [[2, false], [
    2,
    false,
  ], [8, false]]);
  const parsed = new WsChannelParser().push(bytes);
  assert.equal(parsed[0]?.channel, 2);
  assert.equal(new TextDecoder().decode(parsed[0]?.data), "\r\nbye\r\n");
  assert.equal(parsed[1]?.channel, 3);
  assert.deepEqual(
    JSON.parse(new TextDecoder().decode(parsed[1]?.data)),
    exitCodeStatus(1),
  );
});

Deno.test("WsChannelTap.abortBytes first finishes a message the client has started", () => {
  const tap = new WsChannelTap(PROTOCOL_V5);
  const start = encodeWsFrame({
    opcode: 2,
    payload: new Uint8Array([1, 65]),
    fin: false,
  });
  tap.upstream(start);
  tap.released();
  const bytes = tap.abortBytes("x", exitCodeStatus(1));
  // What the client sees: the released prefix, then the abort bytes.
  const client = new WsChannelParser({ assemble: true });
  const seen = client.push(new Uint8Array([...start, ...bytes]));
  assert.deepEqual(seen.map((m) => m.channel), [1, 2, 3]);
  assert.equal(client.closed, true);
});
