import assert from "node:assert/strict";
import { WindowBudget } from "./window_budget.ts";
import { openRecorderUpload } from "./recorder_client.ts";
import { FakeUpload } from "../testing/fake_upload.ts";
import { encodeRecord, RecordType } from "../protocol/records.ts";

const enc = new TextEncoder();

async function upload(fake: FakeUpload, budget: WindowBudget, id: string) {
  return await openRecorderUpload({
    urls: ["http://recorder.test"],
    sessionId: id,
    fetch: fake.fetch,
    maxQueueBytes: 1 << 20,
    budget,
    header: encodeRecord(RecordType.HEADER, 0, enc.encode("{}")),
  });
}

Deno.test("WindowBudget: uploads sharing it wait for each other's acknowledgements, never past the bound but for one piece each", async () => {
  const budget = new WindowBudget(100_000);
  const fa = new FakeUpload();
  const fb = new FakeUpload();
  const a = await upload(fa, budget, "a");
  const b = await upload(fb, budget, "b");
  assert.equal(budget.used, 0, "acknowledged headers hold nothing");
  const piece = encodeRecord(RecordType.STDOUT, 1, new Uint8Array(60_000 - 13));
  a.push([piece]);
  await a.whenRoom(); // a: 60,000 in flight, budget not full
  a.push([piece]);
  assert.ok(budget.full);
  let aRoom = false;
  void a.whenRoom().then(() => (aRoom = true));
  // b has nothing in flight: it may always send one piece.
  await b.whenRoom();
  b.push([piece]);
  let bRoom = false;
  const bWaits = b.whenRoom().then(() => (bRoom = true));
  await Promise.resolve();
  assert.equal(aRoom, false);
  assert.equal(bRoom, false);
  assert.equal(budget.used, 180_000);
  // a's recorder acknowledges everything: the budget frees and b may go on,
  // though b's own recorder has acknowledged nothing.
  await fa.until(() => fa.received >= a.writtenBytes);
  fa.ack(a.writtenBytes);
  await bWaits;
  assert.equal(bRoom, true);
  assert.equal(budget.used, 60_000);
  // A broken upload gives back what it held.
  b.cancel("test over");
  assert.equal(budget.used, 0);
  a.cancel("test over");
});
