/**
 * Lists a tar archive from its bytes, incrementally: each member's path,
 * type, size, mode, link target and, for regular files, the SHA-256 of its
 * content, hashed as the bytes go by (a member of gigabytes is never held).
 *
 * Used on the stored stdout of a `kubectl cp pod:… local` session, which is
 * the output of `tar cf - <path>` (`tar_session.ts`). Reads ustar and old
 * v7 headers, GNU long names and link targets (`././@LongLink`, types `L`
 * and `K`), pax extended and global headers (types `x` and `g`: `path`,
 * `linkpath`, `size`), octal and base-256 numbers. Every header's checksum
 * is verified.
 *
 * Memory is bounded: one 512-byte header buffer, a long name or pax header
 * of at most `maxMetaBytes` (collected as chunks and copied once), and the
 * listing itself, at most `maxMembers` members and `maxListingChars` of
 * paths (members past it are counted, not listed). A malformed or truncated
 * archive yields the members read so far and a `problem`, `Cannot read tar
 * at byte N: …`, N counted from the start of the archive; nothing after it
 * is read.
 *
 * @module
 */

import type { IncrementalDigest } from "../../recording/cast_encoder.ts";
import { Sha256 } from "../../recording/sha256.ts";

/** Size of a tar header and of the blocks data is padded to. */
export const TAR_BLOCK_BYTES = 512;

/** What kind of member a tar header describes. */
export type TarMemberType =
  | "file"
  | "hardlink"
  | "symlink"
  | "chardev"
  | "blockdev"
  | "directory"
  | "fifo"
  | "other";

/** One member of a tar archive. */
export interface TarMember {
  /** Its path (pax `path`, a GNU long name, or ustar prefix + name). */
  path: string;
  /** What it is. */
  type: TarMemberType;
  /** The header's type flag as written (`"0"`, `"5"`, `"S"`…; NUL is `""`). */
  typeflag: string;
  /** Bytes of content (pax `size` when given, else the header's). */
  size: number;
  /** Permission bits (`mode & 0o7777`). */
  mode: number;
  /** Modification time, Unix seconds. */
  mtime: number;
  /** Symlink or hard link target. */
  linkTarget?: string;
  /** Lower-case hex SHA-256 of a regular file's content. */
  sha256?: string;
  /** Offset of its (first) header in the archive. */
  offset: number;
  /** Set when the archive ended inside its content: `size` was declared, fewer bytes came. */
  incomplete?: boolean;
}

/** What {@linkcode TarLister.finish} found. */
export interface TarListing {
  /** The members listed, in archive order. */
  members: TarMember[];
  /** Members in the archive (listed or past the listing's bounds). */
  memberCount: number;
  /** Set when members were counted but not listed (the listing's bounds). */
  listingTruncated?: boolean;
  /** Total content bytes of the members (listed or not). */
  contentBytes: number;
  /** Archive bytes read. */
  bytes: number;
  /** Whether the end-of-archive block was seen. */
  ended: boolean;
  /** What was wrong with the archive: `Cannot read tar at byte N: …`. */
  problem?: string;
}

/** Options of {@linkcode TarLister}. */
export interface TarListerOptions {
  /** A fresh incremental SHA-256 (e.g. `node:crypto`'s). @default {the TypeScript `Sha256`} */
  digest?: () => IncrementalDigest;
  /** Most members listed. @default {10000} */
  maxMembers?: number;
  /** Most UTF-16 code units of paths and link targets listed. @default {1048576} */
  maxListingChars?: number;
  /** Largest GNU long name or pax header content, in bytes. @default {65536} */
  maxMetaBytes?: number;
}

/**
 * Whether bytes start with a ustar (POSIX or GNU) header whose checksum is
 * valid: how a tar stream is told from other output.
 * @param block At least the first 512 bytes.
 * @returns Whether they are a ustar header.
 * @example
 * ```ts
 * import { isTarHeader } from "./tar_listing.ts";
 * if (isTarHeader(new Uint8Array(512))) throw new Error();
 * ```
 */
export function isTarHeader(block: Uint8Array): boolean {
  if (block.length < TAR_BLOCK_BYTES) return false;
  const magic = ascii(block, 257, 263);
  if (magic !== "ustar\0" && magic !== "ustar ") return false;
  const sum = parseNumber(block, 148, 156);
  return typeof sum === "number" && checksumMatches(block, sum);
}

type Meta = "x" | "g" | "L" | "K";

/**
 * The incremental tar lister: push the archive's bytes, split anywhere,
 * then {@linkcode TarLister.finish}.
 *
 * @example
 * ```ts
 * import { TarLister } from "./tar_listing.ts";
 * const header = new Uint8Array(512);
 * const put = (at: number, s: string) =>
 *   header.set(new TextEncoder().encode(s), at);
 * put(0, "hi.txt");
 * put(100, "0000644\0");
 * put(124, "00000000003\0");
 * put(136, "00000000000\0");
 * put(156, "0");
 * put(257, "ustar\x0000");
 * put(148, "        ");
 * const sum = header.reduce((a, b) => a + b, 0);
 * put(148, sum.toString(8).padStart(6, "0") + "\0 ");
 * const data = new Uint8Array(512);
 * data.set(new TextEncoder().encode("hi\n"));
 * const lister = new TarLister();
 * lister.push(header);
 * lister.push(data);
 * lister.push(new Uint8Array(1024));
 * const listing = lister.finish();
 * if (listing.members[0]?.path !== "hi.txt") throw new Error();
 * if (listing.members[0]?.size !== 3 || listing.problem) throw new Error();
 * ```
 */
export class TarLister {
  #digest: () => IncrementalDigest;
  #maxMembers: number;
  #maxChars: number;
  #maxMeta: number;

  #pos = 0;
  #header = new Uint8Array(TAR_BLOCK_BYTES);
  #headerLen = 0;
  /** Content bytes left of the current member (or meta record). */
  #left = 0;
  /** Padding bytes left after the current content. */
  #pad = 0;
  #member: TarMember | undefined;
  #hash: IncrementalDigest | undefined;
  #meta: { kind: Meta; chunks: Uint8Array[]; offset: number } | undefined;
  #pax = new Map<string, string>();
  #globalPax = new Map<string, string>();
  #longName: string | undefined;
  #longLink: string | undefined;
  #firstHeader: number | undefined;
  #ended = false;
  #problem: string | undefined;
  #problemAt: number | undefined;
  #members: TarMember[] = [];
  #count = 0;
  #chars = 0;
  #truncated = false;
  #contentBytes = 0;

  /**
   * A lister at the start of an archive.
   * @param options Digest and bounds.
   */
  constructor(options: TarListerOptions = {}) {
    this.#digest = options.digest ?? (() => {
      const h = new Sha256();
      return { update: (b: Uint8Array) => h.update(b), hex: () => h.hex() };
    });
    this.#maxMembers = options.maxMembers ?? 10_000;
    this.#maxChars = options.maxListingChars ?? 1024 * 1024;
    this.#maxMeta = options.maxMetaBytes ?? 64 * 1024;
  }

  /** Whether a problem stopped the reading (nothing more is read). */
  get stopped(): boolean {
    return this.#problem !== undefined;
  }

  /**
   * Where the problem that stopped the reading is (bytes from there on are
   * not archive), once there is one.
   */
  get problemAt(): number | undefined {
    return this.#problemAt;
  }

  /**
   * Whether the first header read was a valid ustar header: `undefined`
   * until 512 bytes came.
   */
  get startsWithHeader(): boolean | undefined {
    return this.#firstHeader === undefined
      ? undefined
      : this.#firstHeader === 1;
  }

  /**
   * Reads more of the archive. Does nothing once a problem was found.
   * @param chunk Bytes, split anywhere; not kept after return.
   */
  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length && this.#problem === undefined) {
      if (this.#left > 0) {
        const n = Math.min(this.#left, chunk.length - i);
        const part = chunk.subarray(i, i + n);
        if (this.#meta) this.#meta.chunks.push(part.slice());
        else this.#hash?.update(part);
        this.#left -= n;
        this.#pos += n;
        i += n;
        if (this.#left === 0) this.#contentDone();
      } else if (this.#pad > 0) {
        const n = Math.min(this.#pad, chunk.length - i);
        this.#pad -= n;
        this.#pos += n;
        i += n;
      } else if (this.#ended) {
        // After the end-of-archive block: zero padding to the record size.
        const rest = chunk.subarray(i);
        const nz = rest.findIndex((b) => b !== 0);
        if (nz >= 0) {
          this.#fail(
            this.#pos + nz,
            "data after the end-of-archive block",
          );
        }
        this.#pos += rest.length;
        i = chunk.length;
      } else {
        const n = Math.min(TAR_BLOCK_BYTES - this.#headerLen, chunk.length - i);
        this.#header.set(chunk.subarray(i, i + n), this.#headerLen);
        this.#headerLen += n;
        this.#pos += n;
        i += n;
        if (this.#headerLen === TAR_BLOCK_BYTES) {
          this.#headerLen = 0;
          this.#onHeader(this.#pos - TAR_BLOCK_BYTES);
        }
      }
    }
    if (this.#problem !== undefined) this.#pos += chunk.length - i;
  }

  /**
   * Ends the archive and returns what was read.
   * @returns The listing, with a problem when it was malformed or cut.
   */
  finish(): TarListing {
    if (this.#problem === undefined && !this.#ended) {
      if (this.#pos === 0) this.#fail(0, "the archive is empty");
      else if (this.#left > 0 && this.#member) {
        const m = this.#member;
        m.incomplete = true;
        this.#fail(
          this.#pos,
          `the archive ends inside member ${
            JSON.stringify(m.path)
          } (${m.size} bytes declared, ${m.size - this.#left} read)`,
        );
      } else if (this.#left > 0 || this.#meta) {
        this.#fail(this.#pos, "the archive ends inside an extended header");
      } else if (this.#headerLen > 0) {
        this.#fail(
          this.#pos,
          `the archive ends inside a header (${this.#headerLen} of 512 bytes)`,
        );
      } else if (this.#pad > 0) {
        this.#fail(this.#pos, "the archive ends inside a member's padding");
      } else {
        this.#fail(
          this.#pos,
          "the archive ends without its end-of-archive block",
        );
      }
    }
    return {
      members: this.#members,
      memberCount: this.#count,
      ...(this.#truncated ? { listingTruncated: true } : {}),
      contentBytes: this.#contentBytes,
      bytes: this.#pos,
      ended: this.#ended,
      ...(this.#problem !== undefined ? { problem: this.#problem } : {}),
    };
  }

  #fail(at: number, why: string): void {
    if (this.#problem !== undefined) return;
    this.#problem = `Cannot read tar at byte ${at}: ${why}`;
    this.#problemAt = at;
  }

  #onHeader(at: number): void {
    const h = this.#header;
    if (h.every((b) => b === 0)) {
      this.#firstHeader ??= 0;
      if (this.#metaStart !== undefined) {
        this.#fail(
          at,
          "an extended header is followed by the end of the archive",
        );
        return;
      }
      // The first zero block ends the archive (GNU tar reads the second as
      // padding, and so do we: any non-zero byte after it is a problem).
      this.#ended = true;
      return;
    }
    const declared = parseNumber(h, 148, 156);
    const valid = typeof declared === "number" && checksumMatches(h, declared);
    this.#firstHeader ??= valid && isTarHeader(h) ? 1 : 0;
    if (typeof declared !== "number") {
      this.#fail(at, `the header checksum field is ${declared.error}`);
      return;
    }
    if (!valid) {
      this.#fail(
        at,
        `the header checksum is ${unsignedSum(h)}, the header says ${declared}`,
      );
      return;
    }
    const size = parseNumber(h, 124, 136);
    if (typeof size !== "number") {
      this.#fail(at, `the size field is ${size.error}`);
      return;
    }
    const flag = h[156] === 0 ? "" : String.fromCharCode(h[156]!);
    if (flag === "x" || flag === "g" || flag === "L" || flag === "K") {
      if (size > this.#maxMeta) {
        this.#fail(
          at,
          `an extended header (type ${flag}) of ${size} bytes is over the bound of ${this.#maxMeta}`,
        );
        return;
      }
      this.#meta = { kind: flag, chunks: [], offset: at };
      this.#startContent(size);
      return;
    }
    let realSize = size;
    const paxSize = this.#pax.get("size") ?? this.#globalPax.get("size");
    if (paxSize !== undefined) {
      if (!/^[0-9]{1,16}$/.test(paxSize) || !Number.isSafeInteger(+paxSize)) {
        this.#fail(at, `the pax size ${JSON.stringify(paxSize)} is not a size`);
        return;
      }
      realSize = +paxSize;
    }
    const magic = ascii(h, 257, 263);
    const ustar = magic === "ustar\0";
    const name = cString(h, 0, 100);
    const prefix = ustar ? cString(h, 345, 500) : "";
    const path = this.#pax.get("path") ?? this.#longName ??
      this.#globalPax.get("path") ?? (prefix ? `${prefix}/${name}` : name);
    const link = this.#pax.get("linkpath") ?? this.#longLink ??
      this.#globalPax.get("linkpath") ?? cString(h, 157, 257);
    const mode = parseNumber(h, 100, 108);
    const mtime = parseNumber(h, 136, 148);
    const type = memberType(flag);
    const member: TarMember = {
      path,
      type,
      typeflag: flag,
      size: realSize,
      mode: typeof mode === "number" ? mode & 0o7777 : 0,
      mtime: typeof mtime === "number" ? mtime : 0,
      offset: this.#metaStart ?? at,
    };
    if ((type === "symlink" || type === "hardlink") && link) {
      member.linkTarget = link;
    }
    this.#metaStart = undefined;
    this.#pax.clear();
    this.#longName = undefined;
    this.#longLink = undefined;
    this.#count++;
    this.#contentBytes += realSize;
    const chars = path.length + (member.linkTarget?.length ?? 0);
    if (
      this.#truncated || this.#members.length >= this.#maxMembers ||
      this.#chars + chars > this.#maxChars
    ) {
      this.#truncated = true;
    } else {
      this.#members.push(member);
      this.#chars += chars;
    }
    this.#member = member;
    // Hard links, symlinks, devices and directories carry no content in
    // what tar writes, but a size in their header is skipped as tar does.
    this.#hash = type === "file" ? this.#digest() : undefined;
    this.#startContent(realSize);
  }

  /** Where the current member's first extended header started. */
  #metaStart: number | undefined;

  #startContent(size: number): void {
    this.#left = size;
    this.#pad = (TAR_BLOCK_BYTES - size % TAR_BLOCK_BYTES) % TAR_BLOCK_BYTES;
    if (size === 0) this.#contentDone();
  }

  #contentDone(): void {
    const meta = this.#meta;
    if (meta) {
      this.#meta = undefined;
      if (meta.kind !== "g") this.#metaStart ??= meta.offset;
      const data = concat(meta.chunks);
      const dataAt = meta.offset + TAR_BLOCK_BYTES;
      if (meta.kind === "L" || meta.kind === "K") {
        const end = data.indexOf(0);
        const s = utf8(data.subarray(0, end < 0 ? data.length : end));
        if (meta.kind === "L") this.#longName = s;
        else this.#longLink = s;
        return;
      }
      const into = meta.kind === "x" ? this.#pax : this.#globalPax;
      const bad = parsePax(data, into);
      if (bad) this.#fail(dataAt + bad.at, `the pax header ${bad.why}`);
      return;
    }
    if (this.#hash && this.#member) {
      const digest = this.#hash.hex();
      this.#member.sha256 = digest;
    }
    this.#hash = undefined;
    this.#member = undefined;
  }
}

function memberType(flag: string): TarMemberType {
  switch (flag) {
    case "":
    case "0":
    case "7":
      return "file";
    case "1":
      return "hardlink";
    case "2":
      return "symlink";
    case "3":
      return "chardev";
    case "4":
      return "blockdev";
    case "5":
      return "directory";
    case "6":
      return "fifo";
    default:
      return "other";
  }
}

/**
 * Parses pax records (`"%d %s=%s\n"`, the length counting itself) into a map.
 * @returns Where and what was malformed, or `undefined`.
 */
function parsePax(
  data: Uint8Array,
  into: Map<string, string>,
): { at: number; why: string } | undefined {
  let i = 0;
  while (i < data.length) {
    // Trailing NUL padding some writers leave.
    if (data[i] === 0) break;
    let j = i;
    let len = 0;
    while (
      j < data.length && j - i < 16 && data[j]! >= 0x30 && data[j]! <= 0x39
    ) {
      len = len * 10 + data[j]! - 0x30;
      j++;
    }
    if (j === i || data[j] !== 0x20) {
      return { at: i, why: "record does not start with a length and a space" };
    }
    if (len <= j - i + 1 || i + len > data.length) {
      return {
        at: i,
        why: `record length ${len} does not fit in the ${
          data.length - i
        } bytes left`,
      };
    }
    if (data[i + len - 1] !== 0x0a) {
      return { at: i, why: "record does not end with a newline" };
    }
    const rec = data.subarray(j + 1, i + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) return { at: i, why: "record has no key=value" };
    const key = utf8(rec.subarray(0, eq));
    const value = utf8(rec.subarray(eq + 1));
    // An empty value removes the key (POSIX).
    if (value === "") into.delete(key);
    else into.set(key, value);
    i += len;
  }
  return undefined;
}

/**
 * A header number: octal digits (spaces and NULs around them), or base-256
 * (first byte 0x80 positive, 0xff negative).
 * @returns The value, or why it is not one.
 */
function parseNumber(
  h: Uint8Array,
  from: number,
  to: number,
): number | { error: string } {
  const first = h[from]!;
  if (first === 0x80 || first === 0xff) {
    if (first === 0xff) return { error: "negative (base-256)" };
    let v = 0;
    for (let i = from + 1; i < to; i++) {
      v = v * 256 + h[i]!;
      if (v > Number.MAX_SAFE_INTEGER) return { error: "too large (base-256)" };
    }
    return v;
  }
  let i = from;
  while (i < to && (h[i] === 0x20 || h[i] === 0)) i++;
  let v = 0;
  let digits = 0;
  while (i < to && h[i]! >= 0x30 && h[i]! <= 0x37) {
    v = v * 8 + h[i]! - 0x30;
    digits++;
    i++;
  }
  while (i < to && (h[i] === 0x20 || h[i] === 0)) i++;
  if (i < to) {
    return {
      error: `not octal (${JSON.stringify(ascii(h, from, to))})`,
    };
  }
  return digits === 0 ? 0 : v;
}

function unsignedSum(h: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < TAR_BLOCK_BYTES; i++) {
    s += i >= 148 && i < 156 ? 0x20 : h[i]!;
  }
  return s;
}

function checksumMatches(h: Uint8Array, declared: number): boolean {
  if (unsignedSum(h) === declared) return true;
  // Some historic writers summed signed bytes.
  let s = 0;
  for (let i = 0; i < TAR_BLOCK_BYTES; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : h[i]!;
    s += b > 127 ? b - 256 : b;
  }
  return s === declared;
}

function ascii(h: Uint8Array, from: number, to: number): string {
  return String.fromCharCode(...h.subarray(from, to));
}

function cString(h: Uint8Array, from: number, to: number): string {
  const part = h.subarray(from, to);
  const end = part.indexOf(0);
  return utf8(end < 0 ? part : part.subarray(0, end));
}

function utf8(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}

function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
