import assert from "node:assert/strict";
import { SPDY3_DICTIONARY, SPDY3_DICTIONARY_ID } from "./dictionary.ts";
import {
  decodeNameValueBlock,
  encodeNameValueBlock,
  HeaderBlockDeflater,
  HeaderBlockInflater,
  headerValue,
  type SpdyHeaders,
} from "./header_block.ts";

function adler32(bytes: Uint8Array): number {
  let a = 1, b = 0;
  for (const x of bytes) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

Deno.test("SPDY3_DICTIONARY is the 1423 bytes whose Adler-32 the zlib header names", () => {
  assert.equal(SPDY3_DICTIONARY.length, 1423);
  assert.equal(adler32(SPDY3_DICTIONARY), SPDY3_DICTIONARY_ID);
  const first = new HeaderBlockDeflater().deflate([["a", "b"]]);
  // CMF 0x78, FLG with FDICT, then the DICTID
  assert.equal(first[0], 0x78);
  assert.ok((first[1]! & 0x20) !== 0);
  assert.deepEqual(
    [...first.subarray(2, 6)],
    [0xe3, 0xc6, 0xa7, 0xc2],
  );
});

Deno.test("HeaderBlockInflater shares one zlib context across many blocks", () => {
  const d = new HeaderBlockDeflater();
  const i = new HeaderBlockInflater();
  const types = ["error", "stdin", "stdout", "stderr", "resize"];
  for (let n = 0; n < 60; n++) {
    const headers: SpdyHeaders = [["streamtype", types[n % 5]!], [
      "n",
      String(n),
    ]];
    assert.deepEqual(i.inflate(d.deflate(headers)), headers);
  }
  assert.equal(i.blocks, 60);
});

Deno.test("HeaderBlockInflater decodes a second block only with the first block's context", () => {
  const d = new HeaderBlockDeflater();
  const first = d.deflate([["streamtype", "error"]]);
  const second = d.deflate([["streamtype", "error"]]);
  // the second block refers back to the first: it is much shorter
  assert.ok(second.length < first.length, `${second.length} < ${first.length}`);
  assert.throws(
    () => new HeaderBlockInflater().inflate(second),
    (e: Error) =>
      e instanceof SyntaxError &&
      e.message.startsWith("Cannot inflate SPDY header block 1: "),
  );
  const i = new HeaderBlockInflater();
  i.inflate(first);
  assert.deepEqual(i.inflate(second), [["streamtype", "error"]]);
});

Deno.test("HeaderBlockInflater refuses a block that decompresses past the limit", () => {
  const d = new HeaderBlockDeflater();
  const big = d.deflate([["x", "a".repeat(5000)]]);
  assert.throws(
    () => new HeaderBlockInflater(1000).inflate(big),
    /Cannot inflate SPDY header block 1: more than 1000 bytes decompressed/,
  );
});

Deno.test("decodeNameValueBlock round-trips and refuses truncated or trailing bytes", () => {
  const headers: SpdyHeaders = [["streamtype", "stdin"], ["multi", "a\0b"], [
    "empty",
    "",
  ]];
  const block = encodeNameValueBlock(headers);
  assert.deepEqual(decodeNameValueBlock(block), headers);
  for (let n = 0; n < block.length; n++) {
    assert.throws(
      () => decodeNameValueBlock(block.subarray(0, n), 4),
      (e: Error) =>
        e instanceof SyntaxError &&
        e.message.startsWith("Cannot decode SPDY header block 4: "),
    );
  }
  const trailing = new Uint8Array([...block, 0]);
  assert.throws(() => decodeNameValueBlock(trailing), /1 bytes after 3 pairs/);
  assert.throws(
    () => decodeNameValueBlock(encodeNameValueBlock([["", "v"]])),
    /name of pair 1 is empty/,
  );
});

Deno.test("headerValue looks names up case-insensitively", () => {
  assert.equal(headerValue([["streamtype", "error"]], "streamType"), "error");
  assert.equal(headerValue([], "streamtype"), undefined);
});
