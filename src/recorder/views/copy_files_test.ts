import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { encodeRecord, RecordType } from "../../protocol/records.ts";
import { scanRecords } from "../_scan_records.ts";
import {
  copyByCommand,
  CopyFilesView,
  copyResumedFrom,
  scanCopyRecords,
} from "./copy_files.ts";

const enc = new TextEncoder();
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** What GNU tar writes of one file named `name`. */
async function tarOf(name: string, content: Uint8Array): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/${name}`, content);
    const out = await new Deno.Command("/usr/bin/tar", {
      args: ["-cf", "-", "-C", dir, name],
      stdout: "piped",
    }).output();
    assert.equal(out.code, 0);
    return out.stdout;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A stored record stream: header with argv, stdout in pieces, stderr, end. */
function records(
  argv: string[],
  stdout: Uint8Array,
  opts: { stderr?: string; end?: Record<string, unknown>; piece?: number } = {},
): ReadableStream<Uint8Array> {
  const parts = [
    encodeRecord(RecordType.HEADER, 0, enc.encode(JSON.stringify({ argv }))),
  ];
  const piece = opts.piece ?? 1000;
  for (let i = 0; i < stdout.length; i += piece) {
    parts.push(
      encodeRecord(RecordType.STDOUT, i, stdout.subarray(i, i + piece)),
    );
  }
  if (opts.stderr) {
    parts.push(encodeRecord(RecordType.STDERR, 9, enc.encode(opts.stderr)));
  }
  parts.push(
    encodeRecord(
      RecordType.END,
      10,
      enc.encode(JSON.stringify(opts.end ?? { reason: "normal" })),
    ),
  );
  return ReadableStream.from(parts);
}

Deno.test("copyByCommand tells kubectl cp's tar commands", () => {
  for (
    const [argv, want] of [
      [["tar", "cf", "-", "/tmp/x"], "download"],
      [["/bin/tar", "-cf", "-", "x"], "download"],
      [["tar", "cvf", "-", "x"], "download"],
      [["tar", "-xmf", "-"], "upload"],
      [["tar", "-xmf", "-", "-C", "/tmp"], "upload"],
      [["tar", "xf", "-"], "upload"],
      [["tar", "czf", "-", "x"], undefined],
      [["tar", "cf", "out.tar", "x"], undefined],
      [["tar", "cxf", "-"], undefined],
      // kubectl cp --retries: the first attempt is the whole archive, a
      // resumed one starts mid-archive (copyResumedFrom).
      [["sh", "-c", "tar cf - x | tail -c+0"], "download"],
      [["/bin/sh", "-c", "tar cf - /a b | tail -c+1"], "download"],
      [["sh", "-c", "tar cf - x | tail -c+5"], undefined],
      [["sh", "-c", "tar cf - x; cat /etc/shadow | tail -c+0"], undefined],
      [["sh", "-c", "tar cf - x | tail -c+0 | cat"], undefined],
      [["bash", "-c", "tar cf - x | tail -c+0"], undefined],
      [["tar"], undefined],
      [["star", "cf", "-", "x"], undefined],
    ] as const
  ) assert.equal(copyByCommand([...argv]), want, argv.join(" "));
  assert.equal(copyByCommand(undefined), undefined);
  assert.equal(copyByCommand([1, 2, 3]), undefined);
  assert.equal(
    copyResumedFrom(["sh", "-c", "tar cf - x | tail -c+5"]),
    4,
  );
  assert.equal(
    copyResumedFrom(["sh", "-c", "tar cf - x | tail -c+1"]),
    undefined,
  );
  assert.equal(copyResumedFrom(["tar", "cf", "-", "x"]), undefined);
});

Deno.test("scanCopyRecords lists kubectl cp --retries' first attempt and keeps a resumed one as text, saying where it resumed", async () => {
  const content = new Uint8Array(3000).map((_, i) => (i * 13) & 0xff);
  const tar = await tarOf("r.bin", content);
  const first = await scanCopyRecords(
    records(["sh", "-c", "tar cf - r.bin | tail -c+0"], tar),
    { maxTextChars: 10_000 },
  );
  assert.deepEqual(first.files?.detectedBy, ["command", "stdout"]);
  assert.equal(first.files?.listing?.members[0]?.sha256, sha(content));
  const rest = enc.encode("the-rest-of-an-archive hidden-word\n");
  const resumed = await scanCopyRecords(
    records(["sh", "-c", "tar cf - r.bin | tail -c+2049"], rest),
    { maxTextChars: 10_000 },
  );
  assert.deepEqual(resumed.files, {
    direction: "download",
    detectedBy: ["command"],
    resumedFrom: 2048,
  });
  assert.ok(resumed.text.includes("hidden-word"), resumed.text);
});

Deno.test("scanCopyRecords lists a download and indexes the listing, not the archive", async () => {
  const content = new Uint8Array(5000).map((_, i) => (i * 37) & 0xff);
  const tar = await tarOf("zz-blob.bin", content);
  for (const piece of [1, 100, 511, 512, 513, 65536]) {
    const scan = await scanCopyRecords(
      records(["tar", "cf", "-", "zz-blob.bin"], tar, {
        stderr: "tar: note\n",
        piece,
      }),
      { maxTextChars: 10_000 },
    );
    assert.deepEqual(scan.files?.detectedBy, ["command", "stdout"]);
    const l = scan.files!.listing!;
    assert.equal(l.problem, undefined);
    assert.equal(l.members[0]!.sha256, sha(content));
    assert.equal(
      scan.text,
      `zz-blob.bin file 5000 bytes sha256 ${sha(content)}\ntar: note\n`,
    );
    assert.ok(!scan.text.includes("\ufffd"));
  }
});

Deno.test("scanCopyRecords indexes what follows an archive: a tar header cannot hide the rest from search", async () => {
  const tar = await tarOf("decoy.txt", enc.encode("decoy\n"));
  const after = enc.encode("rm -rf evidence: hidden-word\n");
  const junk = new Uint8Array(tar.length + after.length);
  junk.set(tar);
  junk.set(after, tar.length);
  // A bad header in the middle: the rest is text from there on.
  const cut = new Uint8Array(1024 + 512 + after.length);
  cut.set(tar.subarray(0, 1024));
  cut.fill(0x41, 1024, 1536);
  cut.set(after, 1536);
  const argvs = [["sh", "-c", "cat decoy.tar; echo …"], [
    "tar",
    "cf",
    "-",
    "decoy.txt",
  ]];
  for (const [stdout, problem] of [[junk, tar.length], [cut, 1024]] as const) {
    for (
      const [argv, piece] of argvs.flatMap((a) =>
        [1, 300, 1024, 100_000].map((p) => [a, p] as const)
      )
    ) {
      const scan = await scanCopyRecords(
        records(argv, stdout, { piece }),
        { maxTextChars: 10_000 },
      );
      assert.equal(scan.files?.detectedBy.includes("stdout"), true);
      if (argv[0] === "tar") {
        assert.ok(!scan.text.includes("\ufffd"), scan.text);
      }
      assert.ok(
        scan.files!.listing!.problem!.startsWith(
          `Cannot read tar at byte ${problem}:`,
        ),
        scan.files!.listing!.problem,
      );
      assert.ok(
        scan.text.includes("hidden-word"),
        `piece ${piece}: ${scan.text}`,
      );
      assert.ok(scan.text.startsWith("decoy.txt file 6 bytes"), scan.text);
    }
  }
});

Deno.test("scanCopyRecords keeps as text stdout that only starts with a tar header (a huge declared member hides nothing)", async () => {
  const h = await tarOf("x", enc.encode("x"));
  // The header claims 8 GiB - 1 of content: everything after is "content".
  const header = h.slice(0, 512);
  header.set(enc.encode("77777777777\0"), 124);
  header.set(enc.encode("        "), 148);
  const sum = header.reduce((a, b) => a + b, 0);
  header.set(enc.encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  const stdout = new Uint8Array(512 + 100);
  stdout.set(header);
  stdout.set(enc.encode("whoami: root, hidden-word"), 512);
  const scan = await scanCopyRecords(records(["sh"], stdout), {
    maxTextChars: 10_000,
  });
  assert.deepEqual(scan.files?.detectedBy, ["stdout"]);
  assert.match(scan.files!.listing!.problem!, /ends inside member "x"/);
  assert.ok(scan.text.includes("hidden-word"));
});

Deno.test("scanCopyRecords tells a tar stream by its stdout alone", async () => {
  const tar = await tarOf("a.txt", enc.encode("hi\n"));
  const scan = await scanCopyRecords(
    records(["sh", "-c", "tar cf - a.txt | cat"], tar),
    { maxTextChars: 1000 },
  );
  assert.equal(scan.files?.direction, "download");
  assert.deepEqual(scan.files?.detectedBy, ["stdout"]);
  assert.equal(scan.files?.listing?.members[0]?.path, "a.txt");
});

Deno.test("scanCopyRecords keeps a failed download's output as text, with the problem", async () => {
  const out = enc.encode("not an archive\n");
  const scan = await scanCopyRecords(
    records(["tar", "cf", "-", "missing"], out, {
      stderr: "tar: missing: Cannot stat\n",
    }),
    { maxTextChars: 1000 },
  );
  assert.deepEqual(scan.files?.detectedBy, ["command"]);
  assert.match(
    scan.files!.listing!.problem!,
    /^Cannot read tar at byte 15: the archive ends inside a header/,
  );
  assert.ok(scan.text.includes("not an archive\n"));
  assert.ok(scan.text.includes("tar: missing: Cannot stat\n"));
  // Nothing copied out: no stdout at all.
  const none = await scanCopyRecords(
    records(["tar", "cf", "-", "missing"], new Uint8Array(0)),
    { maxTextChars: 1000 },
  );
  assert.equal(
    none.files?.listing?.problem,
    "Cannot read tar at byte 0: the archive is empty",
  );
});

Deno.test("scanCopyRecords gives an upload's stdin size and a session that is no copy its plain text", async () => {
  const up = await scanCopyRecords(
    records(["tar", "-xmf", "-", "-C", "/tmp"], enc.encode("x"), {
      end: { reason: "normal", stdinBytes: 6656 },
    }),
    { maxTextChars: 1000 },
  );
  assert.deepEqual(up.files, {
    direction: "upload",
    detectedBy: ["command"],
    stdinBytes: 6656,
  });
  assert.equal(up.text, "x");
  const old = await scanCopyRecords(
    records(["tar", "xf", "-"], new Uint8Array(0), {
      end: { reason: "normal", stdinBytes: -3 },
    }),
    { maxTextChars: 1000 },
  );
  assert.deepEqual(old.files, { direction: "upload", detectedBy: ["command"] });
  const plain = enc.encode("é".repeat(400) + "\x1b[1mbold\x1b[0m\r\n");
  const mk = () => records(["sh"], plain, { stderr: "err\n", piece: 7 });
  const scan = await scanCopyRecords(mk(), { maxTextChars: 100_000 });
  assert.equal(scan.files, undefined);
  assert.equal(scan.text, (await scanRecords(mk(), 100_000)).text);
  const cut = await scanCopyRecords(mk(), { maxTextChars: 10 });
  assert.equal(cut.text.length, 10);
  assert.equal(cut.textTruncated, true);
});

Deno.test("CopyFilesView stops reading a session that is no copy and keeps finished copies", async () => {
  let pulls = 0;
  const big = new Uint8Array(1 << 20).fill(0x61);
  const plain = () => {
    const src = records(["sh"], big, { piece: 4096 }).getReader();
    return new ReadableStream<Uint8Array>({
      async pull(c) {
        pulls++;
        const r = await src.read();
        if (r.done) c.close();
        else c.enqueue(r.value);
      },
    });
  };
  const tar = await tarOf("f", enc.encode("abc"));
  const manifests: Record<string, { status: string; format?: string }> = {
    plain: { status: "complete", format: "records" },
    cp: { status: "complete", format: "records" },
    live: { status: "recording", format: "records" },
    v1: { status: "complete" },
  };
  let opened = 0;
  const view = new CopyFilesView({
    get: (id) => Promise.resolve(manifests[id.id]),
    openStored: (id) => {
      opened++;
      return Promise.resolve(
        id.id === "plain" ? plain() : records(["tar", "cf", "-", "f"], tar),
      );
    },
  });
  assert.equal(await view.files({ id: "plain" }), undefined);
  assert.ok(pulls < 10, `read ${pulls} chunks of a session that is no copy`);
  assert.equal(await view.files({ id: "v1" }), undefined);
  const a = await view.files({ id: "cp" });
  assert.equal(a?.listing?.members[0]?.sha256, sha(enc.encode("abc")));
  const before = opened;
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(await view.files({ id: "cp" }), a);
  assert.equal(opened, before, "a finished copy is read once");
  await view.files({ id: "live" });
  await new Promise((r) => setTimeout(r, 0));
  await view.files({ id: "live" });
  assert.equal(opened, before + 2, "a live one is read each time");
});

Deno.test("CopyFilesView bounds the members it keeps, dropping the least recently asked", async () => {
  const parts: Uint8Array[] = [];
  const dir = await Deno.makeTempDir();
  try {
    for (let i = 0; i < 30; i++) {
      await Deno.writeFile(`${dir}/f${i}`, enc.encode(`${i}`));
    }
    const out = await new Deno.Command("/usr/bin/tar", {
      args: ["-cf", "-", "-C", dir, "."],
      stdout: "piped",
    }).output();
    parts.push(out.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const view = new CopyFilesView(
    {
      get: () => Promise.resolve({ status: "complete", format: "records" }),
      openStored: () =>
        Promise.resolve(records(["tar", "cf", "-", "."], parts[0]!)),
    },
    {},
    64,
    100,
  );
  for (let i = 0; i < 10; i++) {
    const f = await view.files({ id: `r${i}` });
    assert.equal(f?.listing?.members.length, 31);
    await new Promise((r) => setTimeout(r, 0));
    assert.ok(view.cached.members <= 100, JSON.stringify(view.cached));
  }
  assert.deepEqual(view.cached, { copies: 3, members: 93 });
});
