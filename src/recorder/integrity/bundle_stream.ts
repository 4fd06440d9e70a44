/**
 * Builds a recording's bundle (`bundle.ts`) from storage, streamed in
 * bounded memory.
 *
 * @module
 */

import type { RecordingId } from "../recording_id.ts";
import type { RecordingManifest, RecordingStorage } from "../storage.ts";
import { castOfRecords } from "../views/cast_view.ts";
import { BUNDLE_ENTRIES, tarEnd, tarHeader, tarPadding } from "./bundle.ts";

async function countBytes(s: ReadableStream<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const c of s) n += c.length;
  return n;
}

/**
 * A finished v2 recording as a bundle: its stored manifest, its evidence
 * byte for byte and the cast derived from it. The download fails (the
 * stream errors) when the stored evidence is not `castBytes` long, rather
 * than hand out an archive that does not hold it.
 * @param storage The recorder's own storage (a part is bundled on its own).
 * @param id The recording id.
 * @param manifest Its stored manifest.
 * @returns The tar stream.
 * @throws {Error} When the evidence is missing.
 */
export async function bundleOf(
  storage: RecordingStorage,
  id: RecordingId,
  manifest: RecordingManifest,
): Promise<ReadableStream<Uint8Array>> {
  const open = async () => {
    const s = await storage.openStored(id);
    if (!s) {
      throw new Error(`Cannot bundle ${JSON.stringify(id.id)}: no evidence`);
    }
    return s;
  };
  const castBytes = await countBytes(castOfRecords(await open()));
  const json = new TextEncoder().encode(JSON.stringify(manifest) + "\n");
  const mtime = Math.floor((manifest.finishedAt ?? manifest.updatedAt) / 1000);
  const evidenceBytes = manifest.castBytes;
  async function* parts(): AsyncGenerator<Uint8Array> {
    yield tarHeader(BUNDLE_ENTRIES.manifest, json.length, mtime);
    yield json;
    yield tarPadding(json.length);
    yield tarHeader(BUNDLE_ENTRIES.evidence, evidenceBytes, mtime);
    let n = 0;
    for await (const c of await open()) {
      n += c.length;
      if (n > evidenceBytes) break;
      yield c;
    }
    if (n !== evidenceBytes) {
      throw new Error(
        `Cannot bundle ${JSON.stringify(id.id)}: its evidence is ${
          n > evidenceBytes ? "longer" : `${n} bytes`
        }, the manifest says castBytes ${evidenceBytes}`,
      );
    }
    yield tarPadding(evidenceBytes);
    yield tarHeader(BUNDLE_ENTRIES.cast, castBytes, mtime);
    let c = 0;
    for await (const chunk of castOfRecords(await open())) {
      c += chunk.length;
      yield chunk;
    }
    if (c !== castBytes) {
      throw new Error(
        `Cannot bundle ${JSON.stringify(id.id)}: its cast changed while served`,
      );
    }
    yield tarPadding(castBytes);
    yield tarEnd();
  }
  return ReadableStream.from(parts());
}
