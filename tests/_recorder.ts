/**
 * A real recorder (disk storage) for the end-to-end tests, with a way to wait
 * for an upload to finish and to read what it stored.
 *
 * @module
 */

import { parseRecorderConfig, serveRecorder } from "../src/recorder/mod.ts";
import type { IngestResult, RecordingManifest } from "../src/recorder/mod.ts";

export const UPLOADER_TOKEN = "uploader-token-0123456789";
export const VIEWER_TOKEN = "viewer-token-0123456789ab";
/** The test recorder's moderator, named `mod-mallory`. */
export const MODERATOR_TOKEN = "moderator-token-0123456789";

/** A running test recorder. */
export interface TestRecorder {
  url: string;
  dir: string;
  /** Resolves with the `n`-th finished upload (0-based, in finishing order). */
  finished(n: number): Promise<IngestResult>;
  /** Reads a recording's manifest and cast through the viewer API. */
  read(id: string): Promise<{ manifest: RecordingManifest; cast: string }>;
  /** Lists recordings through the viewer API. */
  list(query?: string): Promise<RecordingManifest[]>;
  close(): Promise<void>;
}

/**
 * Starts a recorder on disk in a new temporary folder.
 * @param limits Upload limits to override (`limits` of the recorder config).
 */
export async function startTestRecorder(
  limits: Record<string, number> = {},
): Promise<TestRecorder> {
  const dir = await Deno.makeTempDir({ prefix: "execgate-rec-" });
  const results: IngestResult[] = [];
  const waiters: { n: number; resolve: (r: IngestResult) => void }[] = [];
  const config = parseRecorderConfig({
    listen: { hostname: "127.0.0.1", port: 0 },
    auth: {
      uploaderTokens: [UPLOADER_TOKEN],
      viewerTokens: [VIEWER_TOKEN],
      moderators: [{ name: "mod-mallory", token: MODERATOR_TOKEN }],
    },
    storage: { kind: "disk", dir },
    ackIntervalMs: 200,
    limits,
  });
  const served = await serveRecorder(config, {
    onUpload: (r) => {
      results.push(r);
      for (const w of [...waiters]) {
        if (results.length > w.n) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(results[w.n]!);
        }
      }
    },
  });
  const get = async (path: string) => {
    const res = await fetch(served.url + path, {
      headers: { authorization: `Bearer ${VIEWER_TOKEN}` },
    });
    if (!res.ok) {
      throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
    }
    return res;
  };
  return {
    url: served.url,
    dir,
    finished(n) {
      if (results.length > n) return Promise.resolve(results[n]!);
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
    async read(id) {
      const manifest = await (await get(`/v1/recordings/${id}`)).json();
      const cast = await (await get(`/v1/recordings/${id}/cast`)).text();
      return { manifest, cast };
    },
    async list(query = "") {
      return (await (await get(`/v1/recordings?${query}`)).json()).items;
    },
    async close() {
      await served.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** Every file's bytes under a folder, as one latin1 string (for secret scans). */
export async function allStoredText(dir: string): Promise<string> {
  let text = "";
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) text += await allStoredText(p);
    else if (e.isFile) {
      text += new TextDecoder("latin1").decode(await Deno.readFile(p));
    }
  }
  return text;
}

/** Parses a cast: header and events. */
export function parseCast(cast: string) {
  const lines = cast.split("\n").filter((l) => l !== "");
  const header = JSON.parse(lines[0]!);
  const events = lines.slice(1).map((l) =>
    JSON.parse(l) as [number, string, string]
  );
  return {
    header,
    events,
    output: events.filter((e) => e[1] === "o").map((e) => e[2]).join(""),
  };
}

/** Checks a cast with the real asciinema player. */
export async function asciinemaAccepts(
  cast: string,
): Promise<{ ok: boolean; text: string }> {
  const file = await Deno.makeTempFile({ suffix: ".cast" });
  await Deno.writeTextFile(file, cast);
  const out = await new Deno.Command("asciinema", {
    args: ["play", "-i", "0.01", file],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(file);
  const dec = new TextDecoder();
  return {
    ok: out.code === 0,
    text: dec.decode(out.stdout) + dec.decode(out.stderr),
  };
}

/**
 * Starts `execgate recorder --config <file>` as a real process (to be killed
 * or stopped by a test) and resolves once it logs that it listens. Its
 * log (stderr) is drained so its logging never blocks it.
 * @param configFile The recorder's JSON config.
 * @returns The child and the URL it listens on.
 */
export async function spawnRecorderProcess(
  configFile: string,
  denoFlags: readonly string[] = [],
): Promise<{ child: Deno.ChildProcess; url: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-net",
      ...denoFlags,
      new URL("../main.ts", import.meta.url).pathname,
      "recorder",
      "--config",
      configFile,
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Its JSON log lines: `{"msg":"recorder listening","url":"…"}`.
  const out = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const LISTENING = /"msg":"recorder listening","url":"([^"]+)"/;
  let seen = "";
  while (!LISTENING.test(seen)) {
    const r = await out.read();
    if (r.done) throw new Error(`the recorder process did not start: ${seen}`);
    seen += r.value;
  }
  (async () => {
    while (!(await out.read().catch(() => ({ done: true }))).done) { /* */ }
  })();
  return { child, url: LISTENING.exec(seen)![1]! };
}
