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

Deno.test("tarEntries refuses what tar x would unpack differently: a name twice, a link, a name prefix", async () => {
  const one = new Uint8Array(3);
  const twice = archive([["manifest.json", one], ["manifest.json", one]]);
  await assert.rejects(
    () => tarEntries(readerOf(twice)),
    /at byte 1024: entry "manifest.json" appears twice/,
  );
  const reheader = (edit: (h: Uint8Array) => void) => {
    const a = archive([["evidence.records", one]]);
    const h = a.subarray(0, 512);
    edit(h);
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.set(
      new TextEncoder().encode(sum.toString(8).padStart(6, "0") + "\0 "),
      148,
    );
    return a;
  };
  await assert.rejects(
    () => tarEntries(readerOf(reheader((h) => h[156] = 0x32))),
    /entry "evidence.records" is not a regular file \(type "2"\)/,
  );
  await assert.rejects(
    () => tarEntries(readerOf(reheader((h) => h.set([0x78, 0x2f], 345)))),
    /entry "evidence.records" has a name prefix/,
  );
});
