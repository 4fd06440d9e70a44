/**
 * The per-recording text index: what a session printed, without terminal
 * escape sequences, used by the full-text search `q`.
 *
 * @module
 */

// CSI, OSC (ended by BEL or ST), DCS/SOS/PM/APC strings, two-byte escapes.
const ESCAPES =
  // deno-lint-ignore no-control-regex
  /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[PX^_][^\x1b]*(?:\x1b\\)?|\x1b[ -/]*[0-~]|\x9b[0-?]*[ -/]*[@-~]/g;
// deno-lint-ignore no-control-regex
const CONTROLS = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g;
// Anything the three passes below would change: ESC, CSI, CR, controls.
// deno-lint-ignore no-control-regex
const ANY_SPECIAL = /[\x00-\x08\x0b-\x1f\x7f\x9b]/;

/**
 * Removes ANSI escape sequences and control characters from terminal output
 * and turns carriage returns into newlines.
 * @param text Raw terminal output.
 * @returns Plain text.
 * @example
 * ```ts
 * import { stripAnsi } from "./text_index.ts";
 * if (stripAnsi("\x1b[1;31mred\x1b[0m\r\n") !== "red\n") throw new Error();
 * ```
 */
export function stripAnsi(text: string): string {
  // Most output is plain: one scan instead of three rewrites (the recorder
  // spent 10 % of its CPU in these passes under 1,000 concurrent uploads).
  if (!ANY_SPECIAL.test(text)) return text;
  return text.replace(ESCAPES, "").replace(/\r\n?/g, "\n").replace(
    CONTROLS,
    "",
  );
}

/**
 * Collects the plain text of a session's output up to a byte bound, so that
 * memory stays bounded for any recording size.
 */
export class TextIndexBuilder {
  #parts: string[] = [];
  #length = 0;
  #max: number;
  #truncated = false;

  /**
   * @param maxChars Largest index kept, in UTF-16 code units; output past
   * it is not searchable.
   */
  constructor(maxChars: number) {
    this.#max = maxChars;
  }

  /**
   * Adds the text of one output (`"o"`) event.
   * @param output The raw event text.
   */
  add(output: string): void {
    if (this.#truncated) return;
    let plain = stripAnsi(output);
    if (plain.length === 0) return;
    if (this.#length + plain.length > this.#max) {
      plain = plain.slice(0, this.#max - this.#length);
      this.#truncated = true;
    }
    this.#parts.push(plain);
    this.#length += plain.length;
  }

  /** Whether output was dropped because the bound was reached. */
  get truncated(): boolean {
    return this.#truncated;
  }

  /** @returns The text collected so far. */
  text(): string {
    const joined = this.#parts.join("");
    this.#parts = [joined];
    return joined;
  }
}

/**
 * The text index of raw output bytes (record payloads): one streaming UTF-8
 * decoder per channel feeding a {@linkcode TextIndexBuilder}. Once the bound
 * is reached nothing more is decoded, so indexing costs nothing after it.
 *
 * @example
 * ```ts
 * import { OutputTextIndex } from "./text_index.ts";
 * const t = new OutputTextIndex(100);
 * const b = new TextEncoder().encode("é\n");
 * t.add(2, b.subarray(0, 1));
 * t.add(2, b.subarray(1));
 * if (t.text() !== "é\n") throw new Error(t.text());
 * ```
 */
export class OutputTextIndex {
  #builder: TextIndexBuilder;
  #decoders = new Map<number, TextDecoder>();

  /** @param maxChars Largest index kept, in UTF-16 code units. */
  constructor(maxChars: number) {
    this.#builder = new TextIndexBuilder(maxChars);
  }

  /**
   * Adds output bytes of one channel.
   * @param channel Any channel key (e.g. the record type).
   * @param bytes Raw bytes, split anywhere.
   */
  add(channel: number, bytes: Uint8Array): void {
    if (this.#builder.truncated || bytes.length === 0) return;
    let d = this.#decoders.get(channel);
    if (!d) {
      d = new TextDecoder("utf-8", { fatal: false });
      this.#decoders.set(channel, d);
    }
    this.#builder.add(d.decode(bytes, { stream: true }));
  }

  /** Whether output was dropped because the bound was reached. */
  get truncated(): boolean {
    return this.#builder.truncated;
  }

  /** @returns The text collected so far, with what the decoders held back. */
  text(): string {
    for (const d of this.#decoders.values()) this.#builder.add(d.decode());
    this.#decoders.clear();
    return this.#builder.text();
  }
}
