/**
 * Later parts of a failed-over session, uploaded as the proxy does
 * (`wire.ts` Continuation), into a real recorder over disk storage: joined
 * into one recording when the first part is in the same storage, checked
 * against the whole session's end record; gaps, forged and mismatched
 * continuations named and never joined wrongly.
 */
import assert from "node:assert/strict";
import { parseRecorderConfig } from "./config.ts";
import { serveRecorder } from "./serve.ts";
import { buildSession, uploadRecords } from "./_test_records.ts";
import {
  encodeRecord,
  RecordDecoder,
  RECORDS_CONTENT_TYPE,
  RecordType,
} from "../protocol/records.ts";
import {
  type Continuation,
  CONTINUES_HEADER,
  PART_HEADER,
  SESSION_HEADER,
} from "../recording/wire.ts";
import { concatBytes } from "../bytes.ts";

const UP = "uploader-token-0123456789";
const VIEW = "viewer-token-0123456789";

async function recorder() {
  const dir = await Deno.makeTempDir();
  const r = await serveRecorder(parseRecorderConfig({
    listen: { hostname: "127.0.0.1", port: 0 },
    auth: { uploaderTokens: [UP], viewerTokens: [VIEW] },
    storage: { kind: "disk", dir },
    ackIntervalMs: 50,
  }));
  const get = async (path: string) => {
    const res = await fetch(r.url + path, {
      headers: { authorization: `Bearer ${VIEW}` },
    });
    if (res.status !== 200) {
      throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
    }
    return res;
  };
  return {
    url: r.url,
    json: async (path: string) => await (await get(path)).json(),
    bytes: async (path: string) =>
      new Uint8Array(await (await get(path)).arrayBuffer()),
    async close() {
      await r.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A session of many stdout records, and its record boundaries. */
function session(sessionId: string) {
  const s = buildSession({
    sessionId,
    tty: false,
    steps: Array.from({ length: 20 }, (_, i) => ({
      at: 10 * (i + 1),
      out: 1 as const,
      data: `line ${i}\n`,
    })),
    endAt: 500,
  });
  const bounds = new RecordDecoder().push(s.beforeEnd).map((r) => r.offset);
  const header = JSON.parse(
    new TextDecoder().decode(new RecordDecoder().push(s.records)[0]!.payload),
  );
  return { ...s, bounds, header };
}

function continuation(
  s: ReturnType<typeof session>,
  c: Continuation,
  from: number,
): Uint8Array {
  return concatBytes([
    encodeRecord(
      RecordType.HEADER,
      s.header.timestamp * 1e6,
      new TextEncoder().encode(JSON.stringify({ ...s.header, continues: c })),
    ),
    s.beforeEnd.subarray(from),
    s.endRecord,
  ]);
}

function partHeaders(sid: string, first: string, part: string) {
  return {
    headers: {
      "content-type": RECORDS_CONTENT_TYPE,
      authorization: `Bearer ${UP}`,
      [SESSION_HEADER]: sid,
      [CONTINUES_HEADER]: first,
      [PART_HEADER]: part,
    },
  };
}

Deno.test("a later part over shared storage joins its first part: one recording, the whole session's digests checked", async () => {
  const rec = await recorder();
  try {
    const s = session("sess-join");
    const cut = s.bounds[8]!;
    const first = await uploadRecords(
      rec.url,
      UP,
      "sess-join",
      s.beforeEnd.subarray(0, cut),
    );
    const id = first.acks.find((a) => a.id)?.id;
    assert.ok(id, "the header's ack names the recording");
    const c: Continuation = {
      part: 2,
      recording: id,
      offset: cut,
      recorder: "https://rec-a.example",
      reason: "no acknowledgement for 1500 ms",
      at: s.header.timestamp * 1000 + 300,
    };
    const second = await uploadRecords(
      rec.url,
      UP,
      "sess-join",
      continuation(s, c, cut),
      partHeaders("sess-join", id, "2"),
    );
    const done = second.acks.at(-1)!;
    assert.equal(done.done, true, JSON.stringify(second.acks));
    assert.equal(done.complete, true);
    assert.equal(done.id, `${id}~2`);

    const list = (await rec.json("/v1/recordings")).items;
    assert.deepEqual(list.map((m: { id: string }) => m.id), [id]);
    const m = await rec.json(`/v1/recordings/${id}`);
    assert.equal(m.status, "complete");
    assert.equal(m.header.continues, undefined);
    assert.deepEqual(
      m.parts.map((p: { part: number; offset: number }) => [p.part, p.offset]),
      [[1, 0], [2, cut]],
    );
    assert.equal(m.parts[1].failover.from, "https://rec-a.example");
    assert.equal(m.end.reason, s.end!.reason);
    assert.deepEqual(await rec.bytes(`/v1/recordings/${id}/stdout`), s.stdout);
    // The joined evidence is the one upload it would have been.
    assert.deepEqual(
      await rec.bytes(`/v1/recordings/${id}/evidence`),
      s.records,
    );
    // The part on its own is still there, by its own id.
    const p2 = await rec.json(`/v1/recordings/${id}~2`);
    assert.equal(p2.header.continues.offset, cut);
  } finally {
    await rec.close();
  }
});

Deno.test("acknowledged bytes the first part never stored: the join marks the gap, and the part is partial saying so", async () => {
  const rec = await recorder();
  try {
    const s = session("sess-gap");
    const stored = s.bounds[5]!;
    const cut = s.bounds[8]!;
    const first = await uploadRecords(
      rec.url,
      UP,
      "sess-gap",
      s.beforeEnd.subarray(0, stored),
    );
    const id = first.acks.find((a) => a.id)!.id!;
    const c: Continuation = {
      part: 2,
      recording: id,
      offset: cut,
      recorder: "https://rec-a.example",
      reason: "the acknowledgement stream broke",
      at: s.header.timestamp * 1000 + 300,
    };
    const second = await uploadRecords(
      rec.url,
      UP,
      "sess-gap",
      continuation(s, c, cut),
      partHeaders("sess-gap", id, "2"),
    );
    assert.match(
      String(second.acks.find((a) => a.error)?.error),
      /stdout .*the earlier parts do not hold every byte before this part \(missing bytes/,
    );
    const m = await rec.json(`/v1/recordings/${id}`);
    assert.equal(m.status, "partial");
    assert.match(
      m.partialReason,
      new RegExp(
        `bytes ${stored} to ${cut} of the session were acknowledged but not stored`,
      ),
    );
    assert.deepEqual(m.parts[0].missing, { from: stored, to: cut });
    const cast = await (await fetch(`${rec.url}/v1/recordings/${id}/cast`, {
      headers: { authorization: `Bearer ${VIEW}` },
    })).text();
    assert.match(
      cast,
      new RegExp(`bytes ${stored} to ${cut} of the session are missing`),
    );
  } finally {
    await rec.close();
  }
});

Deno.test("a 'later part' of a recording that ended well is never joined: it cannot hide the end", async () => {
  const rec = await recorder();
  try {
    const s = session("sess-forged");
    const first = await uploadRecords(rec.url, UP, "sess-forged", s.records);
    const id = first.acks.find((a) => a.id)!.id!;
    assert.equal(first.acks.at(-1)?.complete, true);
    const forged = session("sess-forged");
    const res = await uploadRecords(
      rec.url,
      UP,
      "sess-forged",
      continuation(forged, {
        part: 2,
        recording: id,
        offset: 0,
        recorder: "x",
        reason: "x",
        at: 0,
      }, forged.bounds[1]!),
      partHeaders("sess-forged", id, "2"),
    );
    assert.equal(res.status, 200);
    const m = await rec.json(`/v1/recordings/${id}`);
    assert.equal(m.parts, undefined);
    assert.deepEqual(
      await rec.bytes(`/v1/recordings/${id}/evidence`),
      s.records,
    );
    const ids = (await rec.json("/v1/recordings")).items.map((
      x: { id: string },
    ) => x.id).sort();
    assert.deepEqual(ids, [id, `${id}~2`]);
  } finally {
    await rec.close();
  }
});

Deno.test("continued uploads whose headers disagree are refused with what is wrong", async () => {
  const rec = await recorder();
  try {
    const s = session("sess-bad");
    const first = await uploadRecords(
      rec.url,
      UP,
      "sess-bad",
      s.beforeEnd.subarray(0, s.bounds[3]!),
    );
    const id = first.acks.find((a) => a.id)!.id!;
    const good: Continuation = {
      part: 2,
      recording: id,
      offset: s.bounds[3]!,
      recorder: "r",
      reason: "r",
      at: 0,
    };
    const body = (c: unknown) =>
      concatBytes([
        encodeRecord(
          RecordType.HEADER,
          0,
          new TextEncoder().encode(
            JSON.stringify({ ...s.header, continues: c }),
          ),
        ),
        s.endRecord,
      ]);
    const cases: [string, Uint8Array, RequestInit, RegExp][] = [
      ["part header without continues header", body(good), {
        headers: {
          ...partHeaders("sess-bad", id, "2").headers,
          [CONTINUES_HEADER]: "",
        },
      }, /not the id of this session's first part/],
      [
        "part out of range",
        body(good),
        partHeaders("sess-bad", id, "1"),
        /not a part number from 2 to 99/,
      ],
      [
        "another session's first part",
        body(good),
        partHeaders("sess-bad", "2026/01/01/other", "2"),
        /not the id of this session's first part/,
      ],
      [
        "header part disagrees",
        body({ ...good, part: 3 }),
        partHeaders("sess-bad", id, "2"),
        /continues.part is 3, but the upload is part 2/,
      ],
      [
        "header names another recording",
        body({ ...good, recording: "2026/01/01/sess-bad" }),
        partHeaders("sess-bad", id, "2"),
        /continues.recording/,
      ],
      [
        "no continues in the header",
        body(undefined),
        partHeaders("sess-bad", id, "2"),
        /continues is missing/,
      ],
      [
        "offset not a byte offset",
        body({ ...good, offset: -1 }),
        partHeaders("sess-bad", id, "2"),
        /offset is not a byte offset/,
      ],
    ];
    for (const [what, b, init, want] of cases) {
      const r = await uploadRecords(rec.url, UP, "sess-bad", b, init);
      const said = r.error ?? r.acks.find((a) => a.error)?.error;
      assert.match(String(said), want, what);
    }
    // A first part may not claim to continue anything.
    const claim = await uploadRecords(
      rec.url,
      UP,
      "sess-claim",
      concatBytes([
        encodeRecord(
          RecordType.HEADER,
          0,
          new TextEncoder().encode(
            JSON.stringify({
              ...session("sess-claim").header,
              continues: good,
            }),
          ),
        ),
      ]),
    );
    assert.match(
      String(claim.acks.find((a) => a.error)?.error),
      /not a continued part/,
    );
    // Nothing of the refused ones was stored.
    const ids = (await rec.json("/v1/recordings")).items.map((
      x: { id: string },
    ) => x.id);
    assert.deepEqual(ids, [id]);
  } finally {
    await rec.close();
  }
});
