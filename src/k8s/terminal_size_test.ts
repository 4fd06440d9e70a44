import assert from "node:assert/strict";
import { parseTerminalSize } from "./terminal_size.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("parseTerminalSize reads kubectl's resize message", () => {
  assert.deepEqual(parseTerminalSize(enc('{"Width":100,"Height":30}\n')), {
    width: 100,
    height: 30,
  });
});

Deno.test("parseTerminalSize refuses malformed sizes", () => {
  for (
    const bad of [
      "",
      "{",
      "null",
      "[]",
      '{"width":1,"height":2}',
      '{"Width":-1,"Height":2}',
      '{"Width":1.5,"Height":2}',
      '{"Width":"1","Height":2}',
    ]
  ) {
    assert.equal(parseTerminalSize(enc(bad)), undefined, bad);
  }
});
