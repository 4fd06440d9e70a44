/**
 * The recorder UI's icon: a red "recording" dot on the header's dark
 * square, as SVG (what `<link rel="icon">` points at) and as a 16×16
 * Windows icon for clients that only ask for `favicon.ico`. Both are made
 * here, so there is no binary file to ship.
 *
 * @module
 */

/** Background of the icon: the UI header's colour. */
const DARK = [0x1f, 0x29, 0x37] as const;
/** The dot: the UI's "refused" red. */
const RED = [0xdc, 0x26, 0x26] as const;

/**
 * The icon as SVG (`image/svg+xml`).
 * @example
 * ```ts
 * import { FAVICON_SVG } from "./favicon.ts";
 * if (!FAVICON_SVG.startsWith("<svg")) throw new Error("not an SVG");
 * ```
 */
export const FAVICON_SVG: string =
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">` +
  `<rect width="16" height="16" rx="3" fill="#1f2937"/>` +
  `<circle cx="8" cy="8" r="4.5" fill="#dc2626"/></svg>`;

/**
 * Draws the same icon as a 16×16, 32-bit `.ico` (`image/x-icon`): one
 * directory entry and a bottom-up BGRA bitmap with its (all-zero) AND mask,
 * 1150 bytes.
 * @returns The file's bytes.
 * @example
 * ```ts
 * import { faviconIco } from "./favicon.ts";
 * const ico = faviconIco();
 * // ICONDIR: reserved 0, type 1 (icon), one image.
 * if (ico.length !== 1150 || ico[2] !== 1 || ico[4] !== 1) throw new Error();
 * ```
 */
export function faviconIco(): Uint8Array {
  const size = 16;
  const pixels = size * size * 4;
  const mask = size * 4; // 16 bits a row, padded to 32
  const image = 40 + pixels + mask;
  const out = new Uint8Array(6 + 16 + image);
  const v = new DataView(out.buffer);
  // ICONDIR
  v.setUint16(2, 1, true);
  v.setUint16(4, 1, true);
  // ICONDIRENTRY
  out[6] = size;
  out[7] = size;
  v.setUint16(10, 1, true); // planes
  v.setUint16(12, 32, true); // bits per pixel
  v.setUint32(14, image, true);
  v.setUint32(18, 22, true);
  // BITMAPINFOHEADER: the height counts the bitmap and its mask.
  v.setUint32(22, 40, true);
  v.setInt32(26, size, true);
  v.setInt32(30, size * 2, true);
  v.setUint16(34, 1, true);
  v.setUint16(36, 32, true);
  v.setUint32(42, pixels + mask, true);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const cx = x + 0.5 - 8;
      const cy = y + 0.5 - 8;
      const corner = (x === 0 || x === size - 1) && (y === 0 || y === size - 1);
      const [r, g, b] = cx * cx + cy * cy <= 4.5 * 4.5 ? RED : DARK;
      // Rows are stored bottom-up.
      const at = 62 + ((size - 1 - y) * size + x) * 4;
      out[at] = b;
      out[at + 1] = g;
      out[at + 2] = r;
      out[at + 3] = corner ? 0 : 0xff;
    }
  }
  return out;
}
