/**
 * In-process decoder cost: one masked 16 MiB WebSocket frame fed to the
 * decoders in 256-byte chunks (the worst case of a quadratic buffer), timed
 * in this process, after one untimed warm-up run.
 *
 * @module
 */

import { WsChannelParser } from "../../src/k8s/ws_channel_parser.ts";
import { encodeWsFrame, WsFrameParser } from "../../src/k8s/ws_frame.ts";

/** Parse times, ms (median of the repetitions). */
export interface FrameParseResult {
  /** Frame payload bytes. */
  bytes: number;
  /** Chunk size fed. */
  chunk: number;
  /** `WsFrameParser`, ms per repetition. */
  frameMs: number[];
  /** `WsChannelParser` (what the proxy's tap runs), ms per repetition. */
  channelMs: number[];
  /** Bytes the frame parser copied, per input byte. */
  copiesPerByte: number;
}

/**
 * Times the decoders.
 * @param bytes Payload size. @default {16777216}
 * @param chunk Chunk size. @default {256}
 * @param reps Repetitions. @default {3}
 * @returns Times.
 * @throws {Error} A decoder returned the wrong frame.
 */
export function runFrameParse(
  bytes = 16 * 1024 * 1024,
  chunk = 256,
  reps = 3,
): FrameParseResult {
  const payload = new Uint8Array(bytes).fill(0x78);
  payload[0] = 1; // stdout, for the channel parser
  const wire = encodeWsFrame({
    opcode: 2,
    payload,
    mask: new Uint8Array([1, 2, 3, 4]),
  });
  // Warm the JIT and the heap first (one untimed run of the same size): the
  // proxy is a long-running process.
  if (reps > 1) runFrameParse(bytes, chunk, 1);
  const frameMs: number[] = [];
  const channelMs: number[] = [];
  let copiesPerByte = 0;
  for (let r = 0; r < reps; r++) {
    const p = new WsFrameParser();
    let t0 = performance.now();
    let got = 0;
    for (let off = 0; off < wire.length; off += chunk) {
      for (const f of p.push(wire.subarray(off, off + chunk))) {
        got += f.payload.length;
      }
    }
    frameMs.push(performance.now() - t0);
    if (got !== bytes) {
      throw new Error(`WsFrameParser returned ${got} of ${bytes} bytes`);
    }
    copiesPerByte = p.copiedBytes / wire.length;
    const c = new WsChannelParser();
    t0 = performance.now();
    got = 0;
    for (let off = 0; off < wire.length; off += chunk) {
      for (const m of c.push(wire.subarray(off, off + chunk))) {
        got += m.data.length;
      }
    }
    channelMs.push(performance.now() - t0);
    if (got !== bytes - 1) {
      throw new Error(`WsChannelParser returned ${got} of ${bytes - 1} bytes`);
    }
  }
  return { bytes, chunk, frameMs, channelMs, copiesPerByte };
}
