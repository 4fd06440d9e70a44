import assert from "node:assert/strict";
import { PartsUnion, PeerRecorder } from "./peer_parts.ts";
import { parseRecordingId } from "./recording_id.ts";
import type { RecordingManifest } from "./storage.ts";

const ID = parseRecordingId("2026/12/02/sess~2")!;
const TOKEN = "viewer-token-0123456789ab";

/** A peer on a real socket answering each path from the table. */
function servePeer(answers: Record<string, () => Response>) {
  const seen: { path: string; auth: string | null }[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => {
      const u = new URL(req.url);
      seen.push({
        path: u.pathname + u.search,
        auth: req.headers.get("authorization"),
      });
      return (answers[u.pathname + u.search] ??
        (() => new Response("no", { status: 404 })))();
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    seen,
    close: () => server.shutdown(),
  };
}

const manifest = (id: string) =>
  ({
    id,
    sessionId: "sess",
    status: "complete",
    header: { version: 2, width: 80, height: 24 },
    castBytes: 3,
    startedAt: 0,
    updatedAt: 0,
  }) as unknown as RecordingManifest;

Deno.test("PeerRecorder reads a part's manifest and evidence with its own-part query and the token", async () => {
  const peer = servePeer({
    [`/v1/recordings/${ID.id}?own=1`]: () => Response.json(manifest(ID.id)),
    [`/v1/recordings/${ID.id}/evidence?own=1`]: () => new Response("abc"),
  });
  try {
    const p = new PeerRecorder({ url: peer.url + "/", token: TOKEN });
    assert.equal((await p.get(ID))?.id, ID.id);
    assert.equal(await new Response(await p.openStored(ID)).text(), "abc");
    assert.ok(peer.seen.every((s) => s.auth === `Bearer ${TOKEN}`));
    assert.equal(await p.get(parseRecordingId("2026/12/02/other")!), undefined);
  } finally {
    await peer.close();
  }
});

Deno.test("PeerRecorder treats a wrong, broken or failed answer as not there, and says why", async () => {
  const cases: [string, () => Response, RegExp][] = [
    [
      "another recording",
      () => Response.json(manifest("2026/12/02/evil")),
      /not the manifest of/,
    ],
    ["not JSON", () => new Response("<html>"), /not JSON/],
    [
      "a server error",
      () => new Response("x", { status: 500 }),
      /answered 500/,
    ],
    [
      "no header",
      () => Response.json({ id: ID.id, castBytes: 1 }),
      /not the manifest of/,
    ],
  ];
  for (const [name, answer, why] of cases) {
    const peer = servePeer({ [`/v1/recordings/${ID.id}?own=1`]: answer });
    const errors: string[] = [];
    try {
      const p = new PeerRecorder({
        url: peer.url,
        token: TOKEN,
        onError: (m) => errors.push(m),
      });
      assert.equal(await p.get(ID), undefined, name);
      assert.equal(await p.exists(ID), false, name);
      assert.match(errors[0] ?? "", why, name);
    } finally {
      await peer.close();
    }
  }
  // A peer that is down.
  const errors: string[] = [];
  const p = new PeerRecorder({
    url: "http://127.0.0.1:1",
    token: TOKEN,
    onError: (m) => errors.push(m),
  });
  assert.equal(await p.get(ID), undefined);
  assert.match(errors[0] ?? "", /127\.0\.0\.1:1/);
});

Deno.test("PartsUnion prefers local parts and says which peer held the others", async () => {
  const local = {
    get: (id: typeof ID) =>
      Promise.resolve(
        id.id === "2026/12/02/sess" ? manifest(id.id) : undefined,
      ),
    exists: (id: typeof ID) => Promise.resolve(id.id === "2026/12/02/sess"),
    openStored: () => Promise.resolve(new Response("local").body!),
  };
  const peer = servePeer({
    [`/v1/recordings/${ID.id}?own=1`]: () => Response.json(manifest(ID.id)),
    [`/v1/recordings/${ID.id}/evidence?own=1`]: () => new Response("remote"),
  });
  try {
    const u = new PartsUnion(local, [
      new PeerRecorder({ url: peer.url, token: TOKEN }),
    ]);
    const first = parseRecordingId("2026/12/02/sess")!;
    assert.ok(await u.get(first));
    assert.equal(u.holder(first), undefined);
    assert.equal(await new Response(await u.openStored(first)).text(), "local");
    assert.ok(await u.get(ID));
    assert.equal(u.holder(ID), peer.url);
    assert.equal(await new Response(await u.openStored(ID)).text(), "remote");
    assert.ok(
      !peer.seen.some((s) => s.path.includes("sess?")),
      "a local part is not asked for",
    );
  } finally {
    await peer.close();
  }
});
