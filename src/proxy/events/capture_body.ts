/**
 * Reads the first bytes of a request body for its event, bounded, and hands
 * back a body that forwards exactly what the client sent: the bytes read,
 * then the rest of the client's stream, pulled only as upstream reads it
 * (back-pressure is kept; at most `maxBytes` plus one chunk is held).
 *
 * @module
 */

import { concatBytes } from "../../bytes.ts";

/** What {@linkcode captureBody} read. */
export interface CapturedBody {
  /** The first bytes, at most `maxBytes`. */
  captured: Uint8Array;
  /** Whether the body goes on past them. */
  truncated: boolean;
  /** The whole body as the client sent it, to forward (read it once). */
  body: ReadableStream<Uint8Array>;
}

/**
 * Reads up to `maxBytes` of a body.
 * @param body The client's body.
 * @param maxBytes The capture bound.
 * @returns The captured prefix and the body to forward.
 * @example
 * ```ts
 * import { captureBody } from "./capture_body.ts";
 * const c = await captureBody(ReadableStream.from([new Uint8Array([1, 2, 3]), new Uint8Array([4])]), 2);
 * const all = new Uint8Array(await new Response(c.body).arrayBuffer());
 * if (c.captured.length !== 2 || !c.truncated || all.length !== 4) throw new Error();
 * ```
 */
export async function captureBody(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
): Promise<CapturedBody> {
  const reader = body.getReader();
  const read: Uint8Array[] = [];
  let n = 0;
  let done = false;
  while (n <= maxBytes) {
    const r = await reader.read();
    if (r.done) {
      done = true;
      break;
    }
    if (r.value.length === 0) continue;
    read.push(r.value);
    n += r.value.length;
  }
  const all = concatBytes(read);
  const truncated = !done || all.length > maxBytes;
  const captured = all.subarray(0, Math.min(all.length, maxBytes));
  let head: Uint8Array | undefined = all.length > 0 ? all : undefined;
  const forward = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (head) {
        controller.enqueue(head);
        head = undefined;
        return;
      }
      if (done) {
        controller.close();
        return;
      }
      const r = await reader.read();
      if (r.done) controller.close();
      else controller.enqueue(r.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  return { captured, truncated, body: forward };
}
