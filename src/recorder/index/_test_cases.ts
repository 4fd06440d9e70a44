/**
 * The one table of index test cases: ~40 recordings chosen to hit every
 * filter's edges, and the queries every {@linkcode RecordingIndex} must
 * answer exactly like `ScanIndex` (that is, like `runQuery`).
 *
 * @module
 */

import assert from "node:assert/strict";
import type { RecordingQuery } from "../query.ts";
import type { RecordingManifest, RecordingStatus } from "../storage.ts";
import type { CastHeader } from "../../recording/wire.ts";
import type { RecordingIndex } from "./recording_index.ts";

/** Header timestamp of most cases, Unix seconds. */
export const T0 = 1_790_000_000;

/** One recording of the table. */
export interface IndexCase {
  manifest: RecordingManifest;
  /** Its text, or none yet. */
  text?: string;
}

interface Spec {
  /** Session id (also the tie-breaker order). */
  s: string;
  /** Day of November 2026 in the id. */
  day?: number;
  /** Header timestamp; `null`: none, the upload start is used. */
  t: number | null;
  user?: string;
  host?: string;
  tags?: string[];
  ns?: string;
  pod?: string;
  container?: string;
  command?: string;
  exit?: number;
  status?: RecordingStatus;
  type?: "exec" | "attach";
  text?: string;
}

const LONG = "lorem ipsum dolor sit amet\n".repeat(400) + "needle-at-the-end";

// deno-fmt-ignore
const SPECS: Spec[] = [
  { s: "a01", t: T0, user: "alice", command: "sh -c 'echo hello'", exit: 0, text: "hello world\n" },
  { s: "a02", t: T0, user: "alice", command: "bash", exit: 0, text: "a" },
  { s: "a03", t: T0, user: "bob", command: "BASH -l", exit: 1, text: "ab" },
  { s: "a04", t: T0 + 10, user: "bob", host: "laptop-2", command: "cat /etc/passwd", exit: 1, text: LONG },
  { s: "a05", t: T0 + 20, user: "carol", status: "recording", command: "top", text: undefined },
  { s: "a06", t: T0 + 20, user: "carol", status: "partial", command: "grep -r 50% /var/log", text: 'say "hi*" and star' },
  { s: "a07", t: T0 + 30, tags: ["tag:ops"], user: undefined, host: "ci-runner", command: "kubectl_exec", exit: 137, text: "100% done_ok\n" },
  { s: "a08", t: T0 + 30.5, tags: ["tag:ops", "tag:prod"], user: undefined, host: "ci-runner", command: "ls 100%_done", exit: 0, text: "Grüße aus KÖLN" },
  { s: "a09", t: T0 + 40, tags: ["tag:prod"], user: undefined, command: "echo 'quoted'", exit: 2, text: "İstanbul" },
  { s: "a10", t: T0 + 40, ns: "kube-system", pod: "coredns-1", container: "coredns", command: 'echo "dq"', exit: 0, text: "ΟΔΟΣ ΟΣ" },
  { s: "a11", t: T0 + 50, ns: "kube-system", pod: "coredns-1", container: "sidecar", command: "sh", exit: 0, text: "ſtraße" },
  { s: "a12", t: T0 + 60, ns: "kube-system", pod: "etcd-0", container: "etcd", command: "etcdctl get /", status: "refused", text: undefined },
  { s: "a13", t: T0 + 70, user: "dave", command: "vim Über.txt", exit: 0, text: "emoji 😀 ok" },
  { s: "a14", t: T0 + 70, user: "dave", command: "VIM über.txt", exit: 0, text: "" },
  { s: "a15", t: T0 + 80, user: "erin", type: "attach", command: "", text: "a OR b NEAR c AND NOT d" },
  { s: "a16", t: T0 + 90, user: "erin", command: "cmd.exe /c dir C:\\tmp", exit: 0, text: "back\\slash path C:\\dir" },
  { s: "a17", t: T0 + 100, user: "alice", command: "psql -c 'select 1'", exit: 0, text: "line one\nline two\n  ?column?\n" },
  { s: "a18", t: T0 + 100, user: "alice", command: "psql", status: "partial", text: "psql: error: connection refused" },
  { s: "a19", t: T0 + 110, user: "bob", ns: "payments", pod: "api-7f9", container: "api", command: "env", exit: 0, text: "SECRET=***\nPATH=/usr/bin" },
  { s: "a20", t: T0 + 120, user: "bob", ns: "payments", pod: "api-7f9", container: "api", command: "printenv", exit: 0, text: "*" },
  { s: "a21", t: null, user: "frank", command: "uptime", exit: 0, text: "up 3 days" },
  { s: "a22", t: null, user: "frank", command: "uptime", status: "recording", text: undefined },
  { s: "a23", day: 26, t: T0 - 86400, user: "alice", command: "old session", exit: 0, text: "yesterday" },
  { s: "a24", day: 25, t: T0 - 2 * 86400, user: "alice", command: "older", status: "partial", text: "two days ago" },
  { s: "a25", day: 25, t: T0 - 2 * 86400, user: "bob", command: "older", status: "refused", text: undefined },
  { s: "a26", t: T0 + 130, user: "grace", host: "laptop-2", tags: [], command: "ls -la", exit: 0, text: "%" },
  { s: "a27", t: T0 + 130, user: "grace", command: "ls _x_", exit: 0, text: "_" },
  { s: "a28", t: T0 + 140, user: "heidi", command: "tail -f", status: "recording", text: "partial live text" },
  { s: "a29", t: T0 + 150, user: "ivan", command: "sh", exit: -1, text: "'single' \"double\" `back`" },
  { s: "a30", t: T0 + 160, user: "ALICE", command: "SH", exit: 0, text: "HELLO WORLD" },
  { s: "a31", t: T0 + 160, user: "alice", command: "nsenter", exit: 255, text: "hello\u00a0nbsp" },
  // One second, inserted out of time and id order: a search reads it whole.
  { s: "b3", t: T0 + 200.5, user: "zed", command: "sh", exit: 0, text: "same second bucket 3" },
  { s: "b1", t: T0 + 200.9, user: "zed", command: "sh", exit: 0, text: "same second bucket 1" },
  { s: "b5", t: T0 + 200.1, user: "zed", command: "sh", exit: 0, text: "same second bucket 5" },
  { s: "b2", t: T0 + 200.5, user: "yan", command: "sh", exit: 0, text: "same second bucket 2" },
  { s: "b4", t: T0 + 200.3, user: "zed", command: "sh", exit: 0, text: "same second bucket 4" },
  { s: "b6", t: T0 + 200.7, user: "zed", command: "sh", exit: 0, text: "same second, other words" },
];

function manifestOf(spec: Spec): RecordingManifest {
  const day = String(spec.day ?? 27).padStart(2, "0");
  const status = spec.status ?? "complete";
  const header = {
    version: 2,
    width: 80,
    height: 24,
    command: spec.command ?? "sh",
    argv: [spec.command ?? "sh"],
    tty: true,
    srcNode: spec.host ?? "laptop-1",
    srcNodeID: "n-" + (spec.host ?? "laptop-1"),
    ...(spec.tags !== undefined ? { srcNodeTags: spec.tags } : {}),
    ...("user" in spec && spec.user === undefined
      ? {}
      : { srcNodeUser: spec.user ?? "alice", srcNodeUserID: "u1" }),
    kubernetes: {
      podName: spec.pod ?? "web-0",
      namespace: spec.ns ?? "default",
      container: spec.container ?? "main",
      sessionType: spec.type ?? "exec",
    },
    proxy: "proxy-1",
    sessionId: spec.s,
    ...(spec.t === null ? {} : { timestamp: spec.t }),
  } as CastHeader;
  const startedAt = (spec.t ?? T0 + 45) * 1000 + 250;
  return {
    id: `2026/11/${day}/${spec.s}`,
    sessionId: spec.s,
    status,
    format: "records",
    header,
    ...(status === "recording" ? {} : {
      end: {
        ...(spec.exit !== undefined ? { exitCode: spec.exit } : {}),
      } as RecordingManifest["end"],
      finishedAt: startedAt + 5000,
    }),
    castBytes: 1000,
    startedAt,
    updatedAt: startedAt + 5000,
  };
}

/** The recordings of the table. */
export const CASES: readonly IndexCase[] = SPECS.map((s) => ({
  manifest: manifestOf(s),
  ...(s.text !== undefined ? { text: s.text } : {}),
}));

/** Queries (without `limit`: each is paged at several limits). */
export const QUERIES: readonly Omit<RecordingQuery, "limit">[] = [
  {},
  // Each filter alone.
  { user: "alice" },
  { user: "ALICE" },
  { user: "nobody" },
  { host: "ci-runner" },
  { host: "laptop-2" },
  { tag: "tag:ops" },
  { tag: "tag:prod" },
  { tag: "tag:none" },
  { namespace: "kube-system" },
  { namespace: "payments" },
  { pod: "coredns-1" },
  { container: "api" },
  { container: "sidecar" },
  { command: "sh" },
  { command: "SH" },
  { command: "bash" },
  { command: "%" },
  { command: "50%" },
  { command: "_" },
  { command: "0%_" },
  { command: "'" },
  { command: '"' },
  { command: "\\" },
  { command: "ü" },
  { command: "ÜBER" },
  { command: "*" },
  { command: "nothing-like-it" },
  { command: "sh", exit: 0 },
  { command: "psql", from: T0 + 100 },
  { command: "older", status: "refused" },
  { command: "uptime", to: T0 + 50 },
  { from: T0 },
  { from: T0 + 30.5 },
  { to: T0 + 30.5 },
  { from: T0 + 20, to: T0 + 70 },
  { from: T0 + 40, to: T0 + 40 },
  { from: T0 + 45.25, to: T0 + 45.26 },
  { exit: 0 },
  { exit: 1 },
  { exit: 137 },
  { exit: -1 },
  { exit: 3 },
  { status: "complete" },
  { status: "partial" },
  { status: "refused" },
  { status: "recording" },
  // Text, by needle length and content.
  { q: "a" },
  { q: "A" },
  { q: "b" },
  { q: "ab" },
  { q: "AB" },
  { q: "*" },
  { q: "%" },
  { q: "_" },
  { q: '"' },
  { q: "'" },
  { q: "\\" },
  { q: "\n" },
  { q: "hel" },
  { q: "HELLO" },
  { q: "hello world" },
  { q: 'hi*"' },
  { q: '"hi*"' },
  { q: "0% d" },
  { q: "100%" },
  { q: "done_ok" },
  { q: "e_o" },
  { q: "grüße" },
  { q: "GRÜSSE" },
  { q: "köln" },
  { q: "KÖLN" },
  { q: "İst" },
  { q: "i̇st" },
  { q: "ist" },
  { q: "ος" },
  { q: "οσ" },
  { q: "σ" },
  { q: "ΟΔΟΣ" },
  { q: "ſ" },
  { q: "s" },
  { q: "ſtr" },
  { q: "str" },
  { q: "😀" },
  { q: "😀 o" },
  { q: "😀 ok" },
  { q: "or b" },
  { q: "OR" },
  { q: "NEAR c" },
  { q: "NOT d" },
  { q: "c:\\dir" },
  { q: "needle-at-the-end" },
  { q: "dolor sit" },
  { q: "line one\nline" },
  { q: "`back`" },
  { q: "\u00a0nb" },
  { q: " nb" },
  { q: "zzz" },
  { q: "bucket" },
  { q: "BUCKET 3" },
  { q: "same second" },
  { q: "bucket", user: "zed" },
  { q: "bucket", from: T0 + 200.3, to: T0 + 200.7 },
  { q: "bucket", status: "complete" },
  { q: "same second", exit: 0 },
  { q: "hello", from: T0, to: T0 + 200 },
  { q: "line", status: "complete", from: T0 - 3 * 86400 },
  // Combined.
  { user: "alice", status: "complete" },
  { user: "alice", status: "partial" },
  { user: "bob", exit: 1 },
  { user: "bob", namespace: "payments", pod: "api-7f9", container: "api" },
  { tag: "tag:ops", from: T0 + 30.5 },
  { tag: "tag:prod", command: "ECHO" },
  { tag: "tag:ops", q: "done" },
  { host: "ci-runner", tag: "tag:prod", exit: 0 },
  { namespace: "kube-system", pod: "coredns-1", container: "coredns" },
  { command: "psql", q: "e" },
  { command: "ls", exit: 0, q: "%" },
  { user: "alice", q: "hello" },
  { user: "alice", q: "o" },
  { from: T0, to: T0 + 100, q: "o" },
  { from: T0, to: T0 + 100, q: "ab" },
  { status: "complete", exit: 0, q: "l" },
  { status: "recording", q: "live" },
  { status: "partial", command: "%" },
  { host: "laptop-2", user: "grace", command: "LS", q: "%" },
  { user: "alice", host: "laptop-1", tag: "tag:ops" },
  { q: "" },
];

/** Limits every query is paged at. */
export const LIMITS = [1000, 2, 3] as const;

/**
 * Pages through a query on the oracle and on each index at once, with the
 * oracle's cursors (that is, `runQuery`'s), asserting identical pages.
 * @param oracle The reference index.
 * @param others The indexes under test, by name.
 * @param q The query.
 * @param limit Page size.
 * @returns How many pages were compared.
 */
export async function assertSamePages(
  oracle: RecordingIndex,
  others: Record<string, RecordingIndex>,
  q: Omit<RecordingQuery, "limit">,
  limit: number,
): Promise<number> {
  let cursor: string | undefined;
  let pages = 0;
  for (;;) {
    const query: RecordingQuery = {
      ...q,
      limit,
      ...(cursor !== undefined ? { cursor } : {}),
    };
    const want = await oracle.query(query);
    for (const [name, index] of Object.entries(others)) {
      const got = await index.query(query);
      assert.deepStrictEqual(
        { ids: got.items.map((m) => m.id), nextCursor: got.nextCursor },
        { ids: want.items.map((m) => m.id), nextCursor: want.nextCursor },
        `${name} differs from the scan on ${JSON.stringify(query)}`,
      );
      assert.deepStrictEqual(
        got,
        want,
        `${name} manifests differ on ${JSON.stringify(query)}`,
      );
    }
    pages++;
    if (want.nextCursor === undefined) return pages;
    cursor = want.nextCursor;
    assert.ok(pages < 100, `Query ${JSON.stringify(q)} pages for ever`);
  }
}
