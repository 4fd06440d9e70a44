/**
 * The recording bundle: one file holding what `execgate verify` needs, as
 * served by `GET /v1/recordings/YYYY/MM/DD/<sid>/bundle`.
 *
 * A POSIX ustar archive (`tar tf` lists it, `tar xf` unpacks it) of three
 * regular files, in this order:
 *
 * ```
 * manifest.json      the manifest as stored (with its integrity block)
 * evidence.records   the stored evidence, byte for byte
 * recording.cast     the asciicast the recorder derived from it when serving
 * ```
 *
 * Each entry is a 512-byte header (name, octal size, checksum) followed by
 * its bytes padded to a multiple of 512; two zero blocks end the archive.
 * Sizes must be known before the bytes: the evidence's is the manifest's
 * `castBytes`, the cast's is counted in a first derivation.
 *
 * @module
 */

/** The bundle's entry names. */
export const BUNDLE_ENTRIES = {
  manifest: "manifest.json",
  evidence: "evidence.records",
  cast: "recording.cast",
} as const;

/** The media type of a bundle. */
export const BUNDLE_CONTENT_TYPE = "application/x-tar";

const BLOCK = 512;
/** Largest entry size an 11-digit octal field holds (8 GiB - 1). */
const MAX_SIZE = 8 * 1024 ** 3 - 1;
/** Entries a bundle reader accepts before giving up. */
const MAX_ENTRIES = 16;

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, "0") + "\0";
}

/**
 * A ustar header block for a regular file.
 * @param name The file name (ASCII, at most 100 bytes).
 * @param size Its size in bytes.
 * @param mtimeS Modification time, Unix seconds. @default {0}
 * @returns The 512-byte header.
 * @throws {RangeError} When the name or size does not fit.
 * @example
 * ```ts
 * import { tarHeader } from "./bundle.ts";
 * const h = tarHeader("a.txt", 3);
 * if (h.length !== 512) throw new Error();
 * ```
 */
export function tarHeader(name: string, size: number, mtimeS = 0): Uint8Array {
  if (!/^[\x21-\x7e]{1,100}$/.test(name)) {
    throw new RangeError(
      `Cannot write tar header: name ${
        JSON.stringify(name)
      } is not 1 to 100 printable ASCII bytes`,
    );
  }
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_SIZE) {
    throw new RangeError(
      `Cannot write tar header for ${name}: size ${size} does not fit`,
    );
  }
  const h = new Uint8Array(BLOCK);
  const put = (s: string, at: number) => {
    for (let i = 0; i < s.length; i++) h[at + i] = s.charCodeAt(i);
  };
  put(name, 0);
  put(octal(0o644, 8), 100);
  put(octal(0, 8), 108);
  put(octal(0, 8), 116);
  put(octal(size, 12), 124);
  put(octal(Math.max(0, Math.floor(mtimeS)), 12), 136);
  put("        ", 148);
  put("0", 156);
  put("ustar\0", 257);
  put("00", 263);
  let sum = 0;
  for (const b of h) sum += b;
  put(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  return h;
}

/** The zero padding after an entry of `size` bytes. */
export function tarPadding(size: number): Uint8Array {
  return new Uint8Array((BLOCK - size % BLOCK) % BLOCK);
}

/** The end of an archive: two zero blocks. */
export function tarEnd(): Uint8Array {
  return new Uint8Array(2 * BLOCK);
}

/** One entry of a bundle: where its bytes are in the file. */
export interface TarEntry {
  /** The file name. */
  name: string;
  /** Offset of its first byte in the archive. */
  offset: number;
  /** Its size. */
  size: number;
}

/**
 * Lists a tar archive's regular files by reading only their headers.
 * Anything a bundle never holds is refused, so that what is verified is
 * what `tar x` unpacks: an entry that is not a regular file, a name in the
 * ustar prefix field, a name that appears twice.
 * @param readAt Reads `length` bytes at `offset` (fewer at the end).
 * @returns The entries, in order.
 * @throws {SyntaxError} When a header is malformed or refused, naming its
 * offset.
 */
export async function tarEntries(
  readAt: (offset: number, length: number) => Promise<Uint8Array>,
): Promise<TarEntry[]> {
  const out: TarEntry[] = [];
  let at = 0;
  while (true) {
    const h = await readAt(at, BLOCK);
    if (h.length === 0 && out.length > 0) return out;
    if (h.length < BLOCK) {
      throw new SyntaxError(
        `Cannot read bundle at byte ${at}: the archive ends inside a header`,
      );
    }
    if (h.every((b) => b === 0)) return out;
    if (out.length >= MAX_ENTRIES) {
      throw new SyntaxError(
        `Cannot read bundle at byte ${at}: more than ${MAX_ENTRIES} entries`,
      );
    }
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) {
      sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
    }
    const field = (from: number, len: number) =>
      String.fromCharCode(...h.subarray(from, from + len)).replace(
        /[\0 ]+$/,
        "",
      ).replace(/^ +/, "");
    const said = field(148, 8);
    if (!/^[0-7]{1,8}$/.test(said) || parseInt(said, 8) !== sum) {
      throw new SyntaxError(
        `Cannot read bundle at byte ${at}: the header checksum does not match (not a tar archive, or it was changed)`,
      );
    }
    const sizeText = field(124, 12);
    if (!/^[0-7]{1,11}$/.test(sizeText)) {
      throw new SyntaxError(
        `Cannot read bundle at byte ${at}: size ${
          JSON.stringify(sizeText)
        } is not octal`,
      );
    }
    const size = parseInt(sizeText, 8);
    const type = h[156];
    const name = field(0, 100);
    // What `tar x` would make of anything else (a link, a directory, a long
    // name in the prefix field) is not what a reader of `name` sees.
    if (type !== 0x30 && type !== 0) {
      throw new SyntaxError(
        `Cannot read bundle at byte ${at}: entry ${
          JSON.stringify(name)
        } is not a regular file (type ${
          JSON.stringify(String.fromCharCode(type!))
        })`,
      );
    }
    if (h.subarray(345, 500).some((b) => b !== 0)) {
      throw new SyntaxError(
        `Cannot read bundle at byte ${at}: entry ${
          JSON.stringify(name)
        } has a name prefix`,
      );
    }
    if (out.some((e) => e.name === name)) {
      throw new SyntaxError(
        `Cannot read bundle at byte ${at}: entry ${
          JSON.stringify(name)
        } appears twice (tar x keeps the last, a reader may take the first)`,
      );
    }
    out.push({ name, offset: at + BLOCK, size });
    at += BLOCK + size + (BLOCK - size % BLOCK) % BLOCK;
  }
}
