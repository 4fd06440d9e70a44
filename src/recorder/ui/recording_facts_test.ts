import assert from "node:assert/strict";
import type { RecordingManifest } from "../storage.ts";
import {
  commandOf,
  durationOf,
  formatDuration,
  refusalOf,
} from "./recording_facts.ts";

const m = (over: object) =>
  ({
    id: "2026/11/27/s",
    sessionId: "s",
    status: "complete",
    header: { timestamp: 100, command: "", argv: [], kubernetes: {} },
    castBytes: 0,
    startedAt: 1_000,
    updatedAt: 5_000,
    ...over,
  }) as unknown as RecordingManifest;

Deno.test("formatDuration at each unit's edges", () => {
  const table: [number, string][] = [
    [0, "0.0 s"],
    [0.04, "0.0 s"],
    [9.94, "9.9 s"],
    [9.96, "10 s"],
    [59.4, "59 s"],
    [59.6, "1 min 0 s"],
    [3599.4, "59 min 59 s"],
    [3600, "1 h 0 min"],
    [90_061, "25 h 1 min"],
  ];
  for (const [s, want] of table) assert.equal(formatDuration(s), want, `${s}`);
});

Deno.test("durationOf: the proxy's times, else the recorder's, undefined when live", () => {
  assert.equal(durationOf(m({ end: { endTime: 112.5 } })), 12.5);
  assert.equal(durationOf(m({ finishedAt: 3_500 })), 2.5);
  assert.equal(durationOf(m({})), 4, "updatedAt without finishedAt");
  assert.equal(durationOf(m({ status: "recording" })), undefined);
  assert.equal(
    durationOf(m({ end: { endTime: 50 }, finishedAt: 2_000 })),
    1,
    "an end before the start is not believed",
  );
});

Deno.test("commandOf: command, then argv, then what an attach attached to", () => {
  const h = (header: object) =>
    m({ header: { timestamp: 1, kubernetes: {}, ...header } });
  assert.equal(
    commandOf(h({ command: "sh -c 'a b'", argv: ["x"] })),
    "sh -c 'a b'",
  );
  assert.equal(commandOf(h({ command: "", argv: ["ls", "-l"] })), "ls -l");
  assert.equal(
    commandOf(h({ kubernetes: { sessionType: "attach", container: "c" } })),
    "attach to c",
  );
  assert.equal(
    commandOf(h({ kubernetes: { sessionType: "attach" } })),
    "attach",
  );
  assert.equal(commandOf(h({ kubernetes: { sessionType: "exec" } })), "");
});

Deno.test("refusalOf only for refused recordings with an upstream answer", () => {
  const upstream = { status: 404, message: 'pods "x" not found' };
  assert.deepEqual(
    refusalOf(m({ status: "refused", end: { upstream } })),
    upstream,
  );
  assert.equal(refusalOf(m({ status: "refused", end: {} })), undefined);
  assert.equal(
    refusalOf(m({ status: "partial", end: { upstream } })),
    undefined,
  );
});
