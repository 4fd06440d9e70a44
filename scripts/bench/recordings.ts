/**
 * Reads back what a recorder stored, through its HTTP API: waits until no
 * upload is live (`/healthz`), lists manifests, and checks recordings of
 * `execgate-gen` against the SHA-256 of the bytes the generator writes.
 *
 * @module
 */

import type { RecordingManifest } from "../../src/recorder/mod.ts";

/**
 * Waits until the recorder has no live upload.
 * @param url Recorder base URL.
 * @param timeoutMs Longest wait. @default {120000}
 * @throws {Error} Uploads are still live after `timeoutMs`.
 */
export async function waitRecorderIdle(
  url: string,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const h = await (await fetch(`${url}/healthz`)).json() as {
      liveUploads: number;
    };
    if (h.liveUploads === 0) return;
    if (Date.now() > deadline) {
      throw new Error(
        `Recorder ${url} still has ${h.liveUploads} live uploads after ${timeoutMs} ms`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Lists every recording that started at or after `sinceMs`.
 * @param url Recorder base URL.
 * @param token Viewer token.
 * @param sinceMs Unix ms (recorder clock: same machine).
 * @returns The manifests.
 */
export async function listRecordings(
  url: string,
  token: string,
  sinceMs: number,
): Promise<RecordingManifest[]> {
  const out: RecordingManifest[] = [];
  let cursor: string | undefined;
  for (;;) {
    const q = new URLSearchParams({ limit: "1000" });
    if (cursor) q.set("cursor", cursor);
    const res = await fetch(`${url}/v1/recordings?${q}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (!res.ok) {
      throw new Error(
        `Cannot list recordings of ${url}: ${res.status} ${await res.text()}`,
      );
    }
    const page = await res.json() as {
      items: RecordingManifest[];
      nextCursor?: string;
    };
    for (const m of page.items) if (m.startedAt >= sinceMs) out.push(m);
    if (!page.nextCursor) return out;
    cursor = page.nextCursor;
  }
}

/**
 * Lower-case hex SHA-256 of what `execgate-gen BYTES` writes (`x` repeated).
 * @param bytes Output length.
 * @returns The digest.
 */
export async function genSha256(bytes: number): Promise<string> {
  const data = new Uint8Array(bytes).fill(0x78);
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The outcome of {@linkcode verifyRecordings}. */
export interface RecordingCheck {
  /** Recordings found. */
  found: number;
  /** Complete, with stdout bytes and SHA-256 as expected. */
  verified: number;
  /** Up to five problems, for the report. */
  problems: string[];
}

/**
 * Checks that each recording is complete and that its end manifest's stdout
 * digest matches the generator's output.
 * @param manifests Recordings to check.
 * @param bytes Expected stdout bytes of each.
 * @returns Counts and sample problems.
 */
export async function verifyRecordings(
  manifests: RecordingManifest[],
  bytes: number,
): Promise<RecordingCheck> {
  const sha = await genSha256(bytes);
  let verified = 0;
  const problems: string[] = [];
  for (const m of manifests) {
    const out = m.end?.channels.stdout;
    const ok = m.status === "complete" && out?.bytes === bytes &&
      out.sha256 === sha;
    if (ok) verified++;
    else if (problems.length < 5) {
      problems.push(
        `${m.id}: status ${m.status}${
          m.partialReason ? ` (${m.partialReason})` : ""
        }, stdout ${out?.bytes ?? "?"} bytes, sha256 ${
          out?.sha256 === sha ? "matches" : "differs"
        }`,
      );
    }
  }
  return { found: manifests.length, verified, problems };
}
