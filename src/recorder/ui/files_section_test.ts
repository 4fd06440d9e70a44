import assert from "node:assert/strict";
import { filesSection, modeText } from "./files_section.ts";

const render = async (v: unknown) => String(await v);

Deno.test("filesSection lists members, escaping what the archive named", async () => {
  const out = await render(filesSection({
    direction: "download",
    detectedBy: ["command", "stdout"],
    listing: {
      members: [
        {
          path: "<img src=x onerror=alert(1)>",
          type: "file",
          typeflag: "0",
          size: 3,
          mode: 0o644,
          mtime: 0,
          sha256: "ab".repeat(32),
          offset: 0,
        },
        {
          path: "l",
          type: "symlink",
          typeflag: "2",
          size: 0,
          mode: 0o777,
          mtime: 0,
          linkTarget: '"quoted"',
          offset: 512,
        },
      ],
      memberCount: 3,
      listingTruncated: true,
      contentBytes: 3,
      bytes: 1536,
      ended: false,
      problem:
        "Cannot read tar at byte 1536: the archive ends inside a header (1 of 512 bytes)",
    },
  }));
  assert.ok(!out.includes("<img"));
  assert.ok(out.includes("&lt;img src=x onerror=alert(1)&gt;"));
  assert.ok(out.includes("-rw-r--r-- 0644"));
  assert.ok(out.includes("ab".repeat(32)));
  assert.ok(out.includes("l → &quot;quoted&quot;"));
  assert.ok(out.includes("Only the first 2 are listed."));
  assert.ok(out.includes("told by the command and stdout"));
  assert.match(
    out,
    /id="files-problem" class="error">Cannot read tar at byte 1536/,
  );
});

Deno.test("filesSection says a copy into the pod happened and its size", async () => {
  assert.match(
    await render(
      filesSection({
        direction: "upload",
        detectedBy: ["command"],
        stdinBytes: 6656,
      }),
    ),
    /Copied into the pod: 6656 bytes \(content not recorded\)\./,
  );
  assert.match(
    await render(
      filesSection({ direction: "upload", detectedBy: ["command"] }),
    ),
    /predates stdin byte counts/,
  );
  assert.equal(filesSection(undefined), "");
  assert.equal(modeText({ type: "other", mode: 0o4755 }), "?rwxr-xr-x 4755");
});

Deno.test("filesSection says where a resumed kubectl cp --retries download starts", async () => {
  const out = await render(filesSection({
    direction: "download",
    detectedBy: ["command"],
    resumedFrom: 2048,
  }));
  assert.match(out, /<h3>Files copied out<\/h3>/);
  assert.match(
    out,
    /kubectl cp --retries\): its stdout is the archive from byte 2048/,
  );
  assert.doesNotMatch(out, /files-table/);
});
