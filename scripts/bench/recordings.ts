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

/** What the proxy's log says about the recordings it finished. */
export interface ProxyLogRecordings {
  /** Recording ids of "recording finished" lines. */
  ids: string[];
  /** "recording did not finish cleanly" and "recording failed" lines. */
  failures: string[];
}

/**
 * Reads recording outcomes from the proxy's JSON log lines.
 * @param text Log text (one JSON object per line; other lines are skipped).
 * @returns Ids and failure messages.
 */
export function recordingsFromLog(text: string): ProxyLogRecordings {
  const ids: string[] = [];
  const failures: string[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    let l: { msg?: string; id?: string; error?: string };
    try {
      l = JSON.parse(line);
    } catch {
      continue;
    }
    if (l.msg === "recording finished" && l.id) ids.push(l.id);
    else if (
      l.msg === "recording did not finish cleanly" ||
      l.msg?.startsWith("recording failed")
    ) failures.push(`${l.msg}: ${l.error ?? ""}`);
  }
  return { ids, failures };
}

async function getJson(url: string, token: string): Promise<unknown> {
  for (let attempt = 0;; attempt++) {
    const res = await fetch(url, {
      headers: { authorization: `Bearer ${token}` },
    });
    // s3rver answers 500 now and then under a burst of reads: retry.
    if (res.status === 500 && attempt < 5) {
      await res.body?.cancel();
      await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
      continue;
    }
    if (!res.ok) {
      throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
    }
    return await res.json();
  }
}

/**
 * Reads recordings' manifests through the recorder's viewer API, a few at a
 * time.
 * @param url Recorder base URL.
 * @param token Viewer token.
 * @param ids Recording ids.
 * @returns The manifests, in the order of `ids`.
 */
export async function fetchManifests(
  url: string,
  token: string,
  ids: string[],
): Promise<RecordingManifest[]> {
  const out: RecordingManifest[] = new Array(ids.length);
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < ids.length) {
      const i = next++;
      out[i] = await getJson(
        `${url}/v1/recordings/${ids[i]}`,
        token,
      ) as RecordingManifest;
    }
  }));
  return out;
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
  /** Recordings the proxy logged as not finished cleanly. */
  unfinished: number;
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
  return { found: manifests.length, unfinished: 0, verified, problems };
}
