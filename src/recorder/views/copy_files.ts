/**
 * What a `kubectl cp` session copied, derived from its stored evidence.
 *
 * `kubectl cp pod:path local` runs `tar cf - path` in the container and
 * reads the archive from stdout (kubectl's `cp.go`); `kubectl cp local
 * pod:path` runs `tar -xmf -` (with `-C dir` when the destination has one)
 * and writes the archive on stdin, which is never recorded. So:
 *
 * - a **download** is told by its command (`tar` with a `c…f` option whose
 *   file is `-`) and/or by its stdout starting with a valid ustar header;
 *   both are recorded in `detectedBy`. Its stdout is listed by
 *   {@linkcode TarLister} (path, type, size, mode, link target, SHA-256 of
 *   each file), and the text index holds that listing first; for a
 *   `tar cf -` the listing replaces the archive's bytes decoded as text (up
 *   to where the archive ended or stopped being one), while stdout that
 *   only starts with a tar header stays text as well;
 * - `kubectl cp --retries=N` downloads with `sh -c "tar cf - PATH | tail
 *   -c+K"`: K ≤ 1 (the first attempt) is the whole archive, a download like
 *   `tar cf -`; a larger K resumes a broken copy at byte K−1 of the archive,
 *   so its stdout starts mid-archive and cannot be listed: it is a download
 *   with `resumedFrom` (its stdout stays text), the start of the archive is
 *   in the session before it;
 * - an **upload** (`tar` with `x…f -`) is shown with the end record's
 *   `stdinBytes`, the size of what the client sent (absent in recordings
 *   made before the proxy counted stdin).
 *
 * Everything here reads what storage holds, never the live byte path.
 *
 * @module
 */

import type { CastHeader } from "../../recording/wire.ts";
import {
  RecordDecoder,
  RecordFormatError,
  RecordType,
} from "../../protocol/records.ts";
import { OutputTextIndex } from "../text_index.ts";
import {
  TAR_BLOCK_BYTES,
  TarLister,
  type TarListerOptions,
  type TarListing,
} from "./tar_listing.ts";

/** Which way a copy went. */
export type CopyDirection = "download" | "upload";

/** What a copy session copied (the JSON of `GET /v1/recordings/:id/files`). */
export interface CopyFiles {
  /** `download`: files out of the pod (listed); `upload`: into it. */
  direction: CopyDirection;
  /** How the download was told: its command, its stdout, or both. */
  detectedBy: ("command" | "stdout")[];
  /** A download's archive, listed from the stored stdout. */
  listing?: TarListing;
  /** An upload's size: bytes the client sent on stdin (content not recorded). */
  stdinBytes?: number;
  /**
   * A resumed download (`kubectl cp --retries`): the archive offset its
   * stdout starts at (not listed: the members began in an earlier session).
   */
  resumedFrom?: number;
}

/** `tar cf - PATH | tail -c+K`, as kubectl's `cp --retries` sends it to `sh -c`. */
const RETRYING_DOWNLOAD =
  /^tar cf - [^;&|`$()<>\n]+ \| tail -c\+([0-9]{1,15})$/;

/**
 * The archive offset a `kubectl cp --retries` download resumes at.
 * @param argv The session's argv.
 * @returns `K − 1` for `sh -c "tar cf - PATH | tail -c+K"` with K > 1,
 * else `undefined` (K ≤ 1 is a whole archive: {@linkcode copyByCommand}).
 * @example
 * ```ts
 * import { copyResumedFrom } from "./copy_files.ts";
 * if (copyResumedFrom(["sh", "-c", "tar cf - /d | tail -c+1025"]) !== 1024) throw new Error();
 * if (copyResumedFrom(["sh", "-c", "tar cf - /d | tail -c+0"]) !== undefined) throw new Error();
 * ```
 */
export function copyResumedFrom(
  argv: readonly unknown[] | undefined,
): number | undefined {
  const k = retryingDownload(argv);
  return k !== undefined && k > 1 ? k - 1 : undefined;
}

function retryingDownload(argv: readonly unknown[] | undefined) {
  if (!Array.isArray(argv) || argv.length !== 3) return undefined;
  const [sh, c, script] = argv;
  if (sh !== "sh" && sh !== "/bin/sh") return undefined;
  if (c !== "-c" || typeof script !== "string") return undefined;
  const m = RETRYING_DOWNLOAD.exec(script);
  return m ? Number(m[1]) : undefined;
}

/**
 * Which copy a command is, by the `tar` invocations `kubectl cp` sends.
 * @param argv The session's argv.
 * @returns `download` (`tar cf - …`), `upload` (`tar xf -`, `-xmf -`…) or
 * `undefined`.
 * @example
 * ```ts
 * import { copyByCommand } from "./copy_files.ts";
 * if (copyByCommand(["tar", "cf", "-", "/tmp/x"]) !== "download") throw new Error();
 * if (copyByCommand(["tar", "-xmf", "-", "-C", "/tmp"]) !== "upload") throw new Error();
 * if (copyByCommand(["sh", "-c", "tar cf - x"]) !== undefined) throw new Error();
 * if (copyByCommand(["sh", "-c", "tar cf - x | tail -c+0"]) !== "download") throw new Error();
 * ```
 */
export function copyByCommand(
  argv: readonly unknown[] | undefined,
): CopyDirection | undefined {
  const k = retryingDownload(argv);
  if (k !== undefined) return k <= 1 ? "download" : undefined;
  if (!Array.isArray(argv) || argv.length < 3) return undefined;
  const [cmd, opts, file] = argv;
  if (typeof cmd !== "string" || typeof opts !== "string") return undefined;
  if (cmd !== "tar" && !cmd.endsWith("/tar")) return undefined;
  // One option cluster ending in f, its file `-` (stdin or stdout); no
  // compression (a compressed archive is not listed).
  const m = /^-?([A-Za-z]*)f$/.exec(opts);
  if (!m || file !== "-" || /[zjJZ]/.test(m[1]!)) return undefined;
  const mode = m[1]!.replace(/[^cx]/g, "");
  return mode === "c" ? "download" : mode === "x" ? "upload" : undefined;
}

/** Options of {@linkcode scanCopyRecords}. */
export interface CopyScanOptions extends TarListerOptions {
  /** Bound of the text index, in UTF-16 code units (0: no text). */
  maxTextChars: number;
  /**
   * Stop reading once the session is known not to be a download (the
   * page's lookup); the text derivation reads everything. @default {false}
   */
  stopUnlessCopy?: boolean;
}

/** What {@linkcode scanCopyRecords} found. */
export interface CopyScan {
  /** The text index: the listing, then the output that is text. */
  text: string;
  /** Whether the text stopped at its bound. */
  textTruncated: boolean;
  /** The copy, when the session was one. */
  files?: CopyFiles;
}

/**
 * Reads a stored record stream once: the text index and, for a copy, what
 * it copied. A download's stdout goes to the lister and not into the text
 * (the first 512 bytes are held until they tell whether stdout is an
 * archive). Stops at a torn or malformed record, keeping what came before.
 * @param stream The stored evidence (records).
 * @param options Bounds and digest.
 * @returns The text and the copy.
 */
export async function scanCopyRecords(
  stream: ReadableStream<Uint8Array>,
  options: CopyScanOptions,
): Promise<CopyScan> {
  const d = new RecordDecoder();
  const text = new OutputTextIndex(options.maxTextChars);
  const lister = new TarLister(options);
  let byCommand: CopyDirection | undefined;
  let resumedFrom: number | undefined;
  let stdinBytes: number | undefined;
  // Stdout until the lister saw its first header: is it an archive?
  let held: Uint8Array[] | undefined = [];
  let heldBytes = 0;
  let archive = false;
  // Stdout left out of the text: only the archive of a `tar cf -` (its
  // listing stands for it). Stdout that merely starts with a tar header is
  // listed and also kept as text, so printing one cannot hide a session's
  // output from search.
  let asListing = false;
  let stdoutAt = 0;
  const decide = () => {
    archive = lister.startsWithHeader === true;
    asListing = archive && byCommand === "download";
    const stop = lister.problemAt;
    let at = 0;
    for (const b of held!) {
      if (!asListing) text.add(RecordType.STDOUT, b);
      else if (stop !== undefined && stop < at + b.length) {
        text.add(RecordType.STDOUT, b.subarray(Math.max(0, stop - at)));
      }
      at += b.length;
    }
    held = undefined;
  };
  const reader = stream.getReader();
  try {
    reading: while (true) {
      const r = await reader.read();
      if (r.done) break;
      let recs;
      try {
        recs = d.push(r.value);
      } catch (e) {
        if (!(e instanceof RecordFormatError)) throw e;
        break;
      }
      for (const rec of recs) {
        if (rec.type === RecordType.HEADER) {
          const argv = readHeader(rec.payload)?.argv;
          byCommand = copyByCommand(argv);
          resumedFrom = copyResumedFrom(argv);
        } else if (rec.type === RecordType.STDERR) {
          text.add(rec.type, rec.payload);
        } else if (rec.type === RecordType.STDOUT) {
          const at = stdoutAt;
          stdoutAt += rec.payload.length;
          if (byCommand !== "upload") lister.push(rec.payload);
          // What follows an archive (or the point where it stopped being
          // one) is output like any other: searchable, so printing a tar
          // header first cannot hide the rest of a session from search.
          const stop = lister.problemAt;
          if (asListing && !held && stop !== undefined && stop < stdoutAt) {
            text.add(rec.type, rec.payload.subarray(Math.max(0, stop - at)));
            continue;
          }
          if (held) {
            held.push(rec.payload);
            heldBytes += rec.payload.length;
            if (heldBytes >= TAR_BLOCK_BYTES || byCommand === "upload") {
              decide();
            }
          } else if (!asListing) text.add(rec.type, rec.payload);
          if (
            options.stopUnlessCopy && !held && !archive && !byCommand
          ) break reading;
        } else if (rec.type === RecordType.END) {
          const end = readJson(rec.payload);
          const n = end?.stdinBytes;
          if (typeof n === "number" && Number.isSafeInteger(n) && n >= 0) {
            stdinBytes = n;
          }
        }
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  if (held) decide();
  let files: CopyFiles | undefined;
  if (byCommand === "upload") {
    files = {
      direction: "upload",
      detectedBy: ["command"],
      ...(stdinBytes !== undefined ? { stdinBytes } : {}),
    };
  } else if (resumedFrom !== undefined) {
    files = { direction: "download", detectedBy: ["command"], resumedFrom };
  } else if (byCommand === "download" || archive) {
    const detectedBy: CopyFiles["detectedBy"] = [];
    if (byCommand === "download") detectedBy.push("command");
    if (archive) detectedBy.push("stdout");
    files = { direction: "download", detectedBy, listing: lister.finish() };
  }
  const listed = files?.listing ? listingText(files.listing) : "";
  const rest = text.text();
  let all = listed + rest;
  let truncated = text.truncated;
  if (all.length > options.maxTextChars) {
    all = all.slice(0, options.maxTextChars);
    truncated = true;
  }
  return { text: all, textTruncated: truncated, ...(files ? { files } : {}) };
}

/**
 * The searchable text of a listing: one line per member (`path`, size,
 * SHA-256 or link target), then the problem.
 * @param listing The listing.
 * @returns The lines.
 * @example
 * ```ts
 * import { listingText } from "./copy_files.ts";
 * const t = listingText({ members: [], memberCount: 0, contentBytes: 0, bytes: 0, ended: false, problem: "Cannot read tar at byte 0: the archive is empty" });
 * if (!t.includes("archive is empty")) throw new Error(t);
 * ```
 */
export function listingText(listing: TarListing): string {
  const lines = listing.members.map((m) =>
    `${m.path} ${m.type} ${m.size} bytes${
      m.sha256 ? ` sha256 ${m.sha256}` : ""
    }${m.linkTarget !== undefined ? ` -> ${m.linkTarget}` : ""}\n`
  );
  if (listing.listingTruncated) {
    lines.push(
      `(${
        listing.memberCount - listing.members.length
      } more members not listed)\n`,
    );
  }
  if (listing.problem) lines.push(`${listing.problem}\n`);
  return lines.join("");
}

function readJson(payload: Uint8Array): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(new TextDecoder().decode(payload));
    return typeof v === "object" && v !== null && !Array.isArray(v)
      ? v
      : undefined;
  } catch {
    return undefined;
  }
}

function readHeader(payload: Uint8Array): Partial<CastHeader> | undefined {
  return readJson(payload) as Partial<CastHeader> | undefined;
}

/** A cached copy and the members it lists. */
interface CacheEntry {
  files: Promise<CopyFiles | undefined>;
  members: number;
}

/** What {@linkcode CopyFilesView} reads. */
export interface CopyFilesSource {
  /** The recording's manifest (its `status` and `format`). */
  get(id: { id: string }): Promise<
    { status: string; format?: string } | undefined
  >;
  /** The stored evidence. */
  openStored(
    id: { id: string },
  ): Promise<ReadableStream<Uint8Array> | undefined>;
}

/**
 * The copies of recordings, derived when asked (the page, the JSON API)
 * and kept for the most recent finished ones: storage has no place for a
 * derived listing, and reading a session that is not a copy stops after
 * its first 512 bytes of stdout.
 *
 * @example
 * ```ts
 * import { CopyFilesView } from "./copy_files.ts";
 * const view = new CopyFilesView({
 *   get: () => Promise.resolve(undefined),
 *   openStored: () => Promise.resolve(undefined),
 * });
 * if ((await view.files({ id: "2026/01/01/x" })) !== undefined) throw new Error();
 * ```
 */
export class CopyFilesView {
  #source: CopyFilesSource;
  #options: TarListerOptions;
  #cache = new Map<string, CacheEntry>();
  #max: number;
  #maxMembers: number;
  #members = 0;

  /**
   * A view with an empty cache.
   * @param source Where the recordings are.
   * @param options The digest (`node:crypto`'s in the recorder) and the
   * listing's bounds.
   * @param cacheSize Finished recordings' copies kept. @default {64}
   * @param cacheMembers Listed members kept, all copies together (the
   * memory bound: one listing holds up to 10,000). @default {50000}
   */
  constructor(
    source: CopyFilesSource,
    options: TarListerOptions = {},
    cacheSize = 64,
    cacheMembers = 50_000,
  ) {
    this.#source = source;
    this.#options = options;
    this.#max = cacheSize;
    this.#maxMembers = cacheMembers;
  }

  /**
   * What a recording copied.
   * @param id The recording id.
   * @returns The copy, or `undefined` when it is none (or a v1 recording).
   */
  files(id: { id: string }): Promise<CopyFiles | undefined> {
    const hit = this.#cache.get(id.id);
    if (hit) {
      this.#cache.delete(id.id);
      this.#cache.set(id.id, hit);
      return hit.files;
    }
    const entry: CacheEntry = { files: this.#derive(id), members: 0 };
    this.#cache.set(id.id, entry);
    // Only a finished recording's copy stays: a live one still grows.
    entry.files.then(async (f) => {
      const m = await this.#source.get(id).catch(() => undefined);
      if (this.#cache.get(id.id) !== entry) return;
      if (!m || m.status === "recording") this.#drop(id.id);
      else {
        entry.members = f?.listing?.members.length ?? 0;
        this.#members += entry.members;
        this.#evict();
      }
    }, () => {
      if (this.#cache.get(id.id) === entry) this.#drop(id.id);
    });
    this.#evict();
    return entry.files;
  }

  /** Copies cached, and their listed members (in all). */
  get cached(): { copies: number; members: number } {
    return { copies: this.#cache.size, members: this.#members };
  }

  #drop(key: string): void {
    const e = this.#cache.get(key);
    if (!e) return;
    this.#members -= e.members;
    this.#cache.delete(key);
  }

  /** Drops the least recently asked while over either bound. */
  #evict(): void {
    while (
      this.#cache.size > this.#max ||
      (this.#members > this.#maxMembers && this.#cache.size > 0)
    ) this.#drop(this.#cache.keys().next().value!);
  }

  async #derive(id: { id: string }): Promise<CopyFiles | undefined> {
    const m = await this.#source.get(id);
    if (!m || m.format !== "records") return undefined;
    const stored = await this.#source.openStored(id);
    if (!stored) return undefined;
    const scan = await scanCopyRecords(stored, {
      ...this.#options,
      maxTextChars: 0,
      stopUnlessCopy: true,
    });
    return scan.files;
  }
}
