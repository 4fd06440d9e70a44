import assert from "node:assert/strict";
import { MAX_PREV_CURSORS, pageLinks } from "./page_links.ts";

/** Follows links over pages whose next cursors are `c1`, `c2`, … */
function follow(query: string, pages: number): string {
  const cursor = new URLSearchParams(query).get("cursor") ?? "c0";
  const n = Number(cursor.slice(1)) + 1;
  return pageLinks(new URLSearchParams(query), n < pages ? `c${n}` : undefined)
    .older ?? "";
}

Deno.test("pageLinks: the first page links Older only", () => {
  assert.deepEqual(pageLinks(new URLSearchParams("pod=a&limit=3"), "c1"), {
    older: "pod=a&limit=3&prev=&cursor=c1",
  });
  assert.deepEqual(pageLinks(new URLSearchParams("pod=a"), undefined), {});
});

Deno.test("pageLinks: Newer walks back over every page Older walked", () => {
  const seen = ["pod=a"];
  while (seen.length < 5) seen.push(follow(seen.at(-1)!, 5));
  assert.equal(follow(seen.at(-1)!, 5), "", "the last page links no Older");
  for (let i = seen.length - 1; i > 0; i--) {
    const links = pageLinks(new URLSearchParams(seen[i]), undefined);
    assert.equal(links.newer, seen[i - 1], `page ${i + 1}`);
    assert.equal(links.newest, "pod=a");
  }
});

Deno.test("pageLinks keeps at most MAX_PREV_CURSORS, then Newer goes to the newest page", () => {
  let q = "pod=a";
  const pages = MAX_PREV_CURSORS + 5;
  for (let i = 1; i < pages; i++) q = follow(q, pages + 1);
  const p = new URLSearchParams(q);
  assert.equal(p.getAll("prev").length, MAX_PREV_CURSORS);
  // Walk back as far as the URL remembers.
  for (let i = 0; i < MAX_PREV_CURSORS; i++) {
    q = pageLinks(new URLSearchParams(q), undefined).newer!;
  }
  const last = new URLSearchParams(q);
  assert.equal(last.getAll("prev").length, 0);
  assert.notEqual(last.get("cursor"), null);
  assert.equal(pageLinks(last, undefined).newer, "pod=a");
});
