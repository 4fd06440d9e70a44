import assert from "node:assert/strict";
import { concatBytes } from "../../bytes.ts";
import { tarEnd, tarEntries, tarHeader, tarPadding } from "./bundle.ts";

function archive(files: [string, Uint8Array][]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [name, b] of files) {
    parts.push(
      tarHeader(name, b.length, 1_700_000_000),
      b,
      tarPadding(b.length),
    );
  }
  parts.push(tarEnd());
  return concatBytes(parts);
}

const readerOf = (a: Uint8Array) => (o: number, n: number) =>
  Promise.resolve(a.subarray(o, o + n));

Deno.test("tarEntries finds the entries tarHeader wrote, at their offsets", async () => {
  const files: [string, Uint8Array][] = [
    ["manifest.json", new TextEncoder().encode('{"a":1}\n')],
    ["evidence.records", new Uint8Array(1024).fill(7)],
    ["recording.cast", new Uint8Array(0)],
  ];
  const a = archive(files);
  const got = await tarEntries(readerOf(a));
  assert.deepEqual(
    got.map((e) => [e.name, e.size]),
    files.map(([n, b]) => [n, b.length]),
  );
  for (const [i, e] of got.entries()) {
    assert.deepEqual(a.subarray(e.offset, e.offset + e.size), files[i]![1]);
  }
});

Deno.test("the archive tarHeader writes is read by the system tar", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(
      `${dir}/b.tar`,
      archive([["x.txt", new TextEncoder().encode("hi\n")]]),
    );
    const out = await new Deno.Command("tar", {
      args: ["-xOf", `${dir}/b.tar`, "x.txt"],
    }).output();
    assert.equal(new TextDecoder().decode(out.stdout), "hi\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tarEntries refuses a changed header, a torn one and a non-octal size", async () => {
  const a = archive([["x", new Uint8Array(3)]]);
  const flipped = a.slice();
  flipped[0]! ^= 1;
  await assert.rejects(
    () => tarEntries(readerOf(flipped)),
    /at byte 0: the header checksum does not match/,
  );
  await assert.rejects(
    () => tarEntries(readerOf(a.subarray(0, 100))),
    /ends inside a header/,
  );
  assert.throws(() => tarHeader("a b", 1), /is not 1 to 100 printable ASCII/);
  assert.throws(() => tarHeader("a", -1), /size -1 does not fit/);
});
