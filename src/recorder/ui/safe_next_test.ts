import assert from "node:assert/strict";
import { safeNextPath, UI_HOME } from "./safe_next.ts";

const CASES: [unknown, string][] = [
  ["/ui", "/ui"],
  ["/ui/", "/ui/"],
  ["/ui?command=sh&pod=web-0", "/ui?command=sh&pod=web-0"],
  ["/ui/r/2026/11/27/s-1", "/ui/r/2026/11/27/s-1"],
  ["/ui/r/2026/11/27/s-1#player", "/ui/r/2026/11/27/s-1"],
  ["/ui?q=caf%C3%A9", "/ui?q=caf%C3%A9"],
  ["/ui?q=café", "/ui?q=caf%C3%A9"],
  // Refused: other sites, other paths of the recorder, tricks.
  ["//evil.example", UI_HOME],
  ["//evil.example/ui", UI_HOME],
  ["https://evil.example", UI_HOME],
  ["https://evil.example/ui", UI_HOME],
  ["javascript:alert(1)", UI_HOME],
  ["/\\evil.example", UI_HOME],
  ["/ui\\..\\..\\evil", UI_HOME],
  ["/ui/../v1/recordings", UI_HOME],
  ["/ui/%2e%2e/v1/recordings", UI_HOME],
  ["/uievil", UI_HOME],
  ["/ui\t/x", UI_HOME],
  ["/ui\n//evil.example", UI_HOME],
  ["ui", UI_HOME],
  ["", UI_HOME],
  [undefined, UI_HOME],
  [["/ui"], UI_HOME],
  ["/ui?" + "a".repeat(5000), UI_HOME],
];

Deno.test("safeNextPath keeps pages of the UI and refuses everything else", () => {
  for (const [raw, want] of CASES) {
    assert.equal(safeNextPath(raw), want, JSON.stringify(raw));
  }
});

Deno.test("safeNextPath never returns a network path or a scheme", () => {
  for (const [raw] of CASES) {
    const got = safeNextPath(raw);
    assert.match(got, /^\/ui(?:[/?]|$)/, JSON.stringify(raw));
    assert.ok(!got.startsWith("//"), JSON.stringify(raw));
  }
});
