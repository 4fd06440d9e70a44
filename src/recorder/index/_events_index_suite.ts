/**
 * The conformance suite of an {@linkcode EventIndex} against
 * {@linkcode MemoryEventIndex} (the SQLite and PostgreSQL tests run it):
 * the same puts, responses (before and after their request, from another
 * stream, from a stream continuing it), every page of every filter, and
 * retention's deletes give the same answers.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type EventIndex,
  type EventQuery,
  MemoryEventIndex,
  type StoredEvent,
} from "./events_index.ts";

function events(n: number, target: string): StoredEvent[] {
  const users = ["alice@example.com", "bob@example.com", "50%_off"];
  const verbs = ["get", "list", "create", "delete"];
  const res = [["pods"], ["pods", "log"], ["secrets"], ["deployments"]];
  return Array.from({ length: n }, (_, i) => {
    const [resource, subresource] = res[i % 4]!;
    return {
      request: {
        phase: "request",
        id: `e${String(i).padStart(4, "0")}`,
        // Equal times, so the id orders them.
        timeMs: 1_700_000_000_000 + Math.floor(i / 3),
        caller: { srcNode: "n", srcNodeID: "x", srcNodeUser: users[i % 3] },
        verb: verbs[i % 4],
        resource,
        ...(subresource ? { subresource } : {}),
        namespace: i % 2 ? "default" : "kube-system",
        target: `${target}${i}`,
      },
      stream: "2026/12/02/s",
      offset: i * 100,
    };
  });
}

/** The filters every page of is compared. */
export const EVENT_QUERIES: Omit<EventQuery, "limit">[] = [
  {},
  { user: "alice@example.com" },
  { user: "50%_off" },
  { verb: "create", namespace: "default" },
  { resource: "pods" },
  { resource: "pods/log" },
  { q: "x1" },
  { q: "%_" },
  { q: "X1" },
];

/**
 * Runs the suite on an empty index.
 * @param ev The index under test (empty).
 * @param target The events' target prefix (its letter case is the test's
 *   of case-insensitive search).
 */
export async function assertEventIndexLikeMemory(
  ev: EventIndex,
  target = "/api/v1/x",
): Promise<void> {
  const memory = new MemoryEventIndex();
  const all = events(60, target);
  {
    await ev.put(all.slice(0, 30));
    await memory.put(all.slice(0, 30));
    // A response before its request, and one after.
    await ev.putResponse("2026/12/02/s", "e0040", { status: 404 });
    await memory.putResponse("2026/12/02/s", "e0040", { status: 404 });
    await ev.put(all.slice(30));
    await memory.put(all.slice(30));
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
    // A stream continuing "s" answers its requests; one naming another
    // stream does not.
    for (const i of [ev, memory]) {
      await i.putResponse("2026/12/02/next", "e0002", { status: 201 }, [
        "2026/12/02/s",
      ]);
      await i.putResponse("2026/12/02/other", "e0003", { status: 999 }, [
        "2026/12/02/x",
      ]);
    }
    assert.deepEqual(
      (await ev.query({ q: 'X2"', limit: 5 })).items[0]?.response,
      { status: 201 },
    );
    assert.equal(
      (await ev.query({ q: 'X3"', limit: 5 })).items[0]?.response,
      undefined,
    );
    for (const q of EVENT_QUERIES) {
      let cursor: string | undefined;
      for (let page = 0; page < 30; page++) {
        const query = { ...q, limit: 7, ...(cursor ? { cursor } : {}) };
        const a = await ev.query(query);
        const b = await memory.query(query);
        assert.deepEqual(a, b, JSON.stringify(query));
        cursor = a.next;
        if (!cursor) break;
      }
    }
    const one = await ev.query({ q: `${target}40"`, limit: 5 });
    assert.deepEqual(one.items[0]!.response, { status: 404 });
    // Retention: the oldest rows before a time, in batches, then a
    // stream's rows and its waiting responses.
    for (const i of [ev, memory]) {
      await i.putResponse("2026/12/02/gone", "g1", { status: 1 });
      await i.put([{
        ...all[0]!,
        stream: "2026/12/02/gone",
        request: { ...all[0]!.request, id: "g2" },
      }]);
    }
    const cut = all[10]!.request.timeMs;
    assert.equal(await ev.deleteBefore(cut, 4), 4);
    assert.equal(await memory.deleteBefore(cut, 4), 4);
    assert.deepEqual(
      await ev.query({ limit: 100 }),
      await memory.query({ limit: 100 }),
    );
    assert.equal(
      await ev.deleteBefore(cut, 100),
      await memory.deleteBefore(cut, 100),
    );
    assert.equal(await ev.deleteBefore(cut, 100), 0);
    assert.deepEqual(
      await ev.query({ limit: 100 }),
      await memory.query({ limit: 100 }),
    );
    assert.ok(
      (await ev.query({ limit: 100 })).items.every((e) =>
        e.request.timeMs >= cut
      ),
    );
    assert.equal(await ev.deleteStream("2026/12/02/gone"), 0);
    assert.equal(await memory.deleteStream("2026/12/02/gone"), 0);
    assert.equal(
      await ev.deleteStream("2026/12/02/s"),
      await memory.deleteStream("2026/12/02/s"),
    );
    assert.deepEqual((await ev.query({ limit: 100 })).items, []);
    // The deleted stream's waiting response is gone: g1 arriving later
    // gets none.
    for (const i of [ev, memory]) {
      await i.put([{
        ...all[0]!,
        stream: "2026/12/02/gone",
        request: { ...all[0]!.request, id: "g1" },
      }]);
    }
    assert.deepEqual(
      await ev.query({ limit: 100 }),
      await memory.query({ limit: 100 }),
    );
    assert.equal((await ev.query({ limit: 5 })).items[0]?.response, undefined);
  }
}
