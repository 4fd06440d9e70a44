import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  isTarHeader,
  TarLister,
  type TarListerOptions,
  type TarListing,
} from "./tar_listing.ts";

const enc = new TextEncoder();

/** The archive GNU tar writes of `paths` in `dir`, in a format. */
async function realTar(
  dir: string,
  format: "gnu" | "pax" | "ustar",
  paths: string[],
): Promise<Uint8Array> {
  const more = format === "ustar" ? ["--no-recursion"] : [];
  const out = await new Deno.Command("/usr/bin/tar", {
    args: [`--format=${format}`, ...more, "-cf", "-", "-C", dir, ...paths],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return out.stdout;
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

const nodeDigest = () => {
  const h = createHash("sha256");
  return { update: (b: Uint8Array) => h.update(b), hex: () => h.digest("hex") };
};

function list(
  chunks: Uint8Array[],
  options?: TarListerOptions,
): TarListing {
  const l = new TarLister({ digest: nodeDigest, ...options });
  for (const c of chunks) l.push(c);
  return l.finish();
}

/** A tree with a binary file, a long path, a symlink and a hard link. */
async function fixture(): Promise<{
  dir: string;
  files: Map<string, Uint8Array>;
}> {
  const dir = await Deno.makeTempDir();
  const files = new Map<string, Uint8Array>();
  const bin = new Uint8Array(3000);
  for (let i = 0; i < bin.length; i++) bin[i] = (i * 131 + 7) & 0xff;
  const long = "d/" + "n".repeat(120) + "/" + "é".repeat(60) + ".bin";
  await Deno.mkdir(`${dir}/d/${"n".repeat(120)}`, { recursive: true });
  for (
    const [p, b] of [
      ["d/bin.dat", bin],
      ["d/empty", new Uint8Array(0)],
      ["d/block", new Uint8Array(512).fill(0x41)],
      [long, enc.encode("long\n")],
    ] as const
  ) {
    await Deno.writeFile(`${dir}/${p}`, b);
    files.set(p, b);
  }
  await Deno.chmod(`${dir}/d/bin.dat`, 0o751);
  await Deno.symlink("bin.dat", `${dir}/d/link`);
  await Deno.link(`${dir}/d/bin.dat`, `${dir}/d/hard`);
  return { dir, files };
}

function checkTree(
  l: TarListing,
  files: Map<string, Uint8Array>,
  format: string,
) {
  assert.equal(l.problem, undefined, format);
  assert.equal(l.ended, true);
  const byPath = new Map(l.members.map((m) => [m.path, m]));
  for (const [p, b] of files) {
    const m = byPath.get(p);
    if (format === "ustar" && p.length > 255) continue;
    assert.ok(m, `${format}: ${p} is listed`);
    assert.equal(m.type, "file");
    assert.equal(m.size, b.length);
    assert.equal(m.sha256, sha(b), `${format}: ${p}'s digest`);
  }
  assert.equal(byPath.get("d/bin.dat")?.mode, 0o751);
  assert.equal(byPath.get("d/")?.type, "directory");
  assert.equal(byPath.get("d/link")?.type, "symlink");
  assert.equal(byPath.get("d/link")?.linkTarget, "bin.dat");
  assert.equal(byPath.get("d/hard")?.type, "hardlink");
  assert.equal(byPath.get("d/hard")?.linkTarget, "d/bin.dat");
  assert.equal(byPath.get("d/hard")?.sha256, undefined);
  assert.equal(l.memberCount, l.members.length);
}

Deno.test("TarLister lists GNU, pax and ustar archives of real tar, at every split point", async () => {
  const { dir, files } = await fixture();
  try {
    for (const format of ["gnu", "pax"] as const) {
      const tar = await realTar(dir, format, ["d"]);
      assert.ok(isTarHeader(tar.subarray(0, 512)));
      const whole = list([tar]);
      checkTree(whole, files, format);
      assert.equal(whole.bytes, tar.length);
      // The default (TypeScript) digest agrees with node:crypto's.
      assert.deepEqual(list([tar], { digest: undefined }), whole);
      const expected = JSON.stringify(whole);
      for (let at = 0; at <= tar.length; at += 1) {
        const l = list([tar.subarray(0, at), tar.subarray(at)]);
        assert.equal(JSON.stringify(l), expected, `${format} split at ${at}`);
      }
      const bytes = [];
      for (let i = 0; i < tar.length; i++) bytes.push(tar.subarray(i, i + 1));
      assert.deepEqual(list(bytes), whole, `${format} byte by byte`);
    }
    // ustar cannot hold the 300-character path: tar leaves it out.
    const ustar = await realTar(dir, "ustar", [
      "d/bin.dat",
      "d/empty",
      "d/block",
      "d/link",
      "d/hard",
      "d/",
    ]);
    const l = list([ustar]);
    assert.equal(l.problem, undefined);
    assert.equal(
      l.members.find((m) => m.path === "d/bin.dat")?.sha256,
      sha(files.get("d/bin.dat")!),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TarLister gives the members so far and a problem for an archive cut at any byte", async () => {
  const { dir, files } = await fixture();
  try {
    const tar = await realTar(dir, "gnu", ["d"]);
    const whole = list([tar]);
    // The end-of-archive block starts after the last member's padding.
    let endAt = whole.members.at(-1)!.offset;
    while (tar.subarray(endAt, endAt + 512).some((b) => b !== 0)) endAt += 512;
    endAt += 512;
    for (let at = 0; at < tar.length; at++) {
      const l = list([tar.subarray(0, at)]);
      if (at >= endAt) {
        assert.equal(l.problem, undefined, `cut at ${at}, in the padding`);
        continue;
      }
      assert.match(
        l.problem ?? "",
        /^Cannot read tar at byte \d+: the archive /,
        `cut at ${at}`,
      );
      assert.ok(
        l.problem!.startsWith(`Cannot read tar at byte ${at}:`),
        l.problem,
      );
      assert.equal(l.bytes, at);
      // Every member listed but the last is whole and the same.
      const complete = l.members.filter((m) => !m.incomplete);
      for (const m of complete.slice(0, -1)) {
        assert.deepEqual(m, whole.members.find((w) => w.offset === m.offset));
      }
      for (const m of l.members.filter((m) => m.incomplete)) {
        assert.equal(m.sha256, undefined);
      }
    }
    assert.ok(files.size > 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---- hand-made headers ----

function header(fields: {
  name: string;
  size?: number | Uint8Array;
  type?: string;
  link?: string;
  magic?: string;
  mode?: number;
  checksum?: number;
}): Uint8Array {
  const h = new Uint8Array(512);
  const put = (at: number, s: string | Uint8Array) =>
    h.set(typeof s === "string" ? enc.encode(s) : s, at);
  put(0, fields.name);
  put(100, (fields.mode ?? 0o644).toString(8).padStart(7, "0") + "\0");
  put(108, "0000000\0");
  put(116, "0000000\0");
  const size = fields.size ?? 0;
  put(
    124,
    typeof size === "number" ? size.toString(8).padStart(11, "0") + "\0" : size,
  );
  put(136, "14567012345\0");
  put(156, fields.type ?? "0");
  if (fields.link) put(157, fields.link);
  put(257, fields.magic ?? "ustar\x0000");
  put(148, "        ");
  const sum = fields.checksum ?? h.reduce((a, b) => a + b, 0);
  put(148, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

function data(b: Uint8Array | string): Uint8Array {
  const bytes = typeof b === "string" ? enc.encode(b) : b;
  const out = new Uint8Array(Math.ceil(bytes.length / 512) * 512);
  out.set(bytes);
  return out;
}

function pax(records: Record<string, string>): Uint8Array {
  let s = "";
  for (const [k, v] of Object.entries(records)) {
    const body = ` ${k}=${v}\n`;
    const len = (n: number) => enc.encode(`${n}${body}`).length;
    let n = 1;
    while (len(n) !== n) n = len(n);
    s += `${n}${body}`;
  }
  return enc.encode(s);
}

const END = new Uint8Array(1024);

const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

Deno.test("TarLister stops at a bad checksum, naming the byte", () => {
  const a = header({ name: "a", size: 2 });
  const b = header({ name: "b", size: 2, checksum: 1234 });
  const l = list([cat(a, data("hi"), b, data("no"), END)]);
  assert.deepEqual(l.members.map((m) => m.path), ["a"]);
  assert.equal(
    l.problem,
    `Cannot read tar at byte 1024: the header checksum is ${
      b.reduce((x, y, i) => x + (i >= 148 && i < 156 ? 32 : y), 0)
    }, the header says 1234`,
  );
  assert.equal(l.bytes, 1024 + 512 + 512 + 1024);
  assert.equal(isTarHeader(b), false);
  assert.equal(isTarHeader(enc.encode("hello world\n".repeat(50))), false);
});

const b256 = (v: bigint, neg = false) => {
  const f = new Uint8Array(12);
  f[0] = neg ? 0xff : 0x80;
  for (let i = 11; i > 0; i--) {
    f[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return f;
};

Deno.test("TarLister reads base-256 sizes and refuses negative and too large ones", () => {
  const ok = list([
    cat(header({ name: "x", size: b256(3n) }), data("abc"), END),
  ]);
  assert.equal(ok.problem, undefined);
  assert.equal(ok.members[0]!.sha256, sha(enc.encode("abc")));
  const neg = list([cat(header({ name: "x", size: b256(5n, true) }), END)]);
  assert.equal(
    neg.problem,
    "Cannot read tar at byte 0: the size field is negative (base-256)",
  );
  assert.deepEqual(neg.members, []);
  const huge = list([cat(header({ name: "x", size: b256(1n << 80n) }), END)]);
  assert.equal(
    huge.problem,
    "Cannot read tar at byte 0: the size field is too large (base-256)",
  );
  const octal = header({ name: "x", size: enc.encode("12x45\0") });
  assert.match(
    list([octal]).problem!,
    /^Cannot read tar at byte 0: the size field is not octal/,
  );
});

Deno.test("TarLister hashes a huge declared member as it goes and says where it was cut", () => {
  const size = 2 ** 40; // 1 TiB declared
  const l = new TarLister();
  l.push(
    header({
      name: "big",
      size: b256(BigInt(size)),
    }),
  );
  const chunk = new Uint8Array(65536).fill(7);
  for (let i = 0; i < 64; i++) l.push(chunk);
  const r = l.finish();
  assert.equal(r.members[0]!.size, size);
  assert.equal(r.members[0]!.incomplete, true);
  assert.equal(
    r.problem,
    `Cannot read tar at byte ${
      512 + 64 * 65536
    }: the archive ends inside member "big" (${size} bytes declared, ${
      64 * 65536
    } read)`,
  );
});

Deno.test("TarLister takes pax path, linkpath and size over the header's", () => {
  const ext = pax({ path: "very/long/ü/" + "p".repeat(200), size: "5" });
  const tar = cat(
    header({ name: "PaxHeaders/x", type: "x", size: ext.length }),
    data(ext),
    header({ name: "short", size: 0 }),
    data("12345"),
    header({
      name: "g",
      type: "x",
      size: pax({ linkpath: "t/" + "q".repeat(150) }).length,
    }),
    data(pax({ linkpath: "t/" + "q".repeat(150) })),
    header({ name: "ln", type: "2", link: "short-target" }),
    END,
  );
  for (let at = 0; at <= tar.length; at++) {
    const l = list([tar.subarray(0, at), tar.subarray(at)]);
    assert.equal(l.problem, undefined);
    assert.deepEqual(l.members.map((m) => [m.path, m.size, m.offset]), [
      ["very/long/ü/" + "p".repeat(200), 5, 0],
      ["ln", 0, 2048],
    ]);
    assert.equal(l.members[0]!.sha256, sha(enc.encode("12345")));
    assert.equal(l.members[1]!.linkTarget, "t/" + "q".repeat(150));
  }
});

Deno.test("TarLister refuses malformed pax records and oversized extended headers", () => {
  const bad = enc.encode("99 path=x\n");
  const l = list([
    cat(header({ name: "p", type: "x", size: bad.length }), data(bad), END),
  ]);
  assert.equal(
    l.problem,
    "Cannot read tar at byte 512: the pax header record length 99 does not fit in the 10 bytes left",
  );
  const noLen = enc.encode("path=x\n");
  assert.match(
    list([
      cat(header({ name: "p", type: "x", size: noLen.length }), data(noLen)),
    ]).problem!,
    /^Cannot read tar at byte 512: the pax header record does not start with a length/,
  );
  const size = pax({ size: "-1" });
  assert.equal(
    list([
      cat(
        header({ name: "p", type: "x", size: size.length }),
        data(size),
        header({ name: "f" }),
        END,
      ),
    ]).problem,
    'Cannot read tar at byte 1024: the pax size "-1" is not a size',
  );
  assert.equal(
    list([header({ name: "p", type: "L", size: 1 << 20 })]).problem,
    "Cannot read tar at byte 0: an extended header (type L) of 1048576 bytes is over the bound of 65536",
  );
  assert.equal(
    list([cat(header({ name: "p", type: "x", size: 0 }), END)]).problem,
    "Cannot read tar at byte 512: an extended header is followed by the end of the archive",
  );
});

Deno.test("TarLister reads GNU long names and link targets", () => {
  const name = "n/".repeat(100) + "file";
  const tar = cat(
    header({
      name: "././@LongLink",
      type: "L",
      size: name.length + 1,
      magic: "ustar  \0",
    }),
    data(name + "\0"),
    header({ name: name.slice(0, 100), size: 1, magic: "ustar  \0" }),
    data("z"),
    header({ name: "././@LongLink", type: "K", size: 300, magic: "ustar  \0" }),
    data("k".repeat(300)),
    header({ name: "h", type: "1", link: "k".repeat(100), magic: "ustar  \0" }),
    END,
  );
  const l = list([tar]);
  assert.equal(l.problem, undefined);
  assert.equal(l.members[0]!.path, name);
  assert.equal(l.members[0]!.sha256, sha(enc.encode("z")));
  assert.equal(l.members[1]!.linkTarget, "k".repeat(300));
  assert.equal(l.members[1]!.offset, 2048);
});

Deno.test("TarLister names data after the end, an empty archive and a missing end", () => {
  const one = cat(header({ name: "a", size: 1 }), data("a"));
  assert.equal(list([cat(one, END, new Uint8Array(8192))]).problem, undefined);
  assert.equal(
    list([cat(one, END, enc.encode("junk"))]).problem,
    "Cannot read tar at byte 2048: data after the end-of-archive block",
  );
  assert.equal(
    list([]).problem,
    "Cannot read tar at byte 0: the archive is empty",
  );
  assert.equal(
    list([one]).problem,
    "Cannot read tar at byte 1024: the archive ends without its end-of-archive block",
  );
  const notTar = list([enc.encode("x".repeat(600))]);
  assert.match(
    notTar.problem!,
    /^Cannot read tar at byte 0: the header checksum field is not octal/,
  );
});

Deno.test("TarLister counts members past its listing bounds", () => {
  const parts = [];
  for (let i = 0; i < 30; i++) {
    parts.push(header({ name: `f${i}`, size: 1 }), data("x"));
  }
  parts.push(END);
  const l = list([cat(...parts)], { maxMembers: 10 });
  assert.equal(l.members.length, 10);
  assert.equal(l.memberCount, 30);
  assert.equal(l.listingTruncated, true);
  assert.equal(l.contentBytes, 30);
  assert.equal(
    list([cat(...parts)], { maxListingChars: 25 }).members.length,
    11,
  );
});

Deno.test("TarLister never throws on random input", () => {
  let seed = 12345;
  const rnd = () =>
    (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const good = cat(
    header({ name: "a", size: 700 }),
    data(new Uint8Array(700).fill(3)),
    END,
  );
  for (let n = 0; n < 300; n++) {
    const b = good.slice();
    for (let k = 0; k < 1 + rnd() * 8; k++) {
      b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    }
    const l = list([b]);
    assert.ok(
      l.problem === undefined ||
        l.problem.startsWith("Cannot read tar at byte "),
    );
  }
});
