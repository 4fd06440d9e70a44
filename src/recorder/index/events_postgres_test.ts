import assert from "node:assert/strict";
import { startPostgres } from "../../testing/postgres_server.ts";
import { MemoryEventIndex, type StoredEvent } from "./events_index.ts";
import { PostgresIndex } from "./postgres_index.ts";

function events(n: number): StoredEvent[] {
  const users = ["alice@example.com", "bob@example.com", "50%_off"];
  const verbs = ["get", "list", "create", "delete"];
  const res = [["pods"], ["pods", "log"], ["secrets"], ["deployments"]];
  return Array.from({ length: n }, (_, i) => {
    const [resource, subresource] = res[i % 4]!;
    return {
      request: {
        phase: "request",
        id: `e${String(i).padStart(4, "0")}`,
        timeMs: 1_700_000_000_000 + Math.floor(i / 3),
        caller: { srcNode: "n", srcNodeID: "x", srcNodeUser: users[i % 3] },
        verb: verbs[i % 4],
        resource,
        ...(subresource ? { subresource } : {}),
        namespace: i % 2 ? "default" : "kube-system",
        target: `/api/v1/X${i}`,
      },
      stream: "2026/12/02/s",
      offset: i * 100,
    };
  });
}

Deno.test("PostgresEventIndex answers like MemoryEventIndex, page by page, in the recordings' database", async () => {
  const pg = await startPostgres();
  const index = await PostgresIndex.open(pg.url);
  try {
    const ev = index.events();
    const memory = new MemoryEventIndex();
    const all = events(40);
    await ev.putResponse("2026/12/02/s", "e0030", { status: 404 });
    await memory.putResponse("2026/12/02/s", "e0030", { status: 404 });
    await ev.put(all);
    await memory.put(all);
    await ev.putResponse("2026/12/02/s", "e0001", { status: 200 });
    await memory.putResponse("2026/12/02/s", "e0001", { status: 200 });
    // Another stream cannot replace a request or answer for it.
    const spoof = {
      ...all[5]!,
      stream: "2026/12/02/other",
      request: { ...all[5]!.request, verb: "spoofed" },
    };
    for (const i of [ev, memory]) {
      await i.put([spoof]);
      await i.putResponse("2026/12/02/other", "e0005", { status: 999 });
    }
    assert.equal(
      (await ev.query({ verb: "spoofed", limit: 5 })).items.length,
      0,
    );
    assert.equal(
      (await ev.query({ q: 'X5"', limit: 5 })).items[0]?.response,
      undefined,
    );
    for (
      const q of [
        {},
        { user: "50%_off" },
        { verb: "create", namespace: "default" },
        { resource: "pods" },
        { resource: "pods/log" },
        { q: "x1" },
        { q: "%_" },
      ]
    ) {
      let cursor: string | undefined;
      for (let page = 0; page < 20; page++) {
        const query = { ...q, limit: 7, ...(cursor ? { cursor } : {}) };
        assert.deepEqual(
          await ev.query(query),
          await memory.query(query),
          JSON.stringify(query),
        );
        cursor = (await memory.query(query)).next;
        if (!cursor) break;
      }
    }
  } finally {
    await index.close();
    await pg.close();
  }
});
