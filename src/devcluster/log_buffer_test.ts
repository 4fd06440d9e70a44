import assert from "node:assert/strict";
import { LogBuffer } from "./log_buffer.ts";

const enc = new TextEncoder();
const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("LogBuffer.snapshot returns the last N lines, with or without a final newline", () => {
  const log = new LogBuffer();
  log.append(enc.encode("a\nb\nc"));
  for (
    const [n, want] of [
      [undefined, "a\nb\nc"],
      [0, ""],
      [1, "c"],
      [2, "b\nc"],
      [9, "a\nb\nc"],
    ] as const
  ) {
    assert.equal(text(log.snapshot(n)), want, `tail ${n}`);
  }
  log.append(enc.encode("\n"));
  assert.equal(text(log.snapshot(1)), "c\n");
});

Deno.test("LogBuffer.stream follows new chunks and ends when the log ends", async () => {
  const log = new LogBuffer();
  log.append(enc.encode("one\n"));
  const reader = log.stream({ follow: true }).getReader();
  assert.equal(text((await reader.read()).value!), "one\n");
  log.append(enc.encode("two\n"));
  assert.equal(text((await reader.read()).value!), "two\n");
  log.end();
  assert.equal((await reader.read()).done, true);
  assert.equal(log.followerCount, 0);
});

Deno.test("LogBuffer drops its oldest chunks beyond the limit", () => {
  const log = new LogBuffer(8);
  log.append(enc.encode("12345"));
  log.append(enc.encode("6789"));
  log.append(enc.encode("ab"));
  assert.equal(text(log.snapshot()), "6789ab");
});
