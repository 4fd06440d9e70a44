/**
 * A small HuJSON ("human JSON") parser that remembers where every value is.
 *
 * HuJSON is JSON plus `//` line comments, `/* … *\/` block comments and
 * trailing commas in objects and arrays: the format of Tailscale policy
 * files. Everything else follows RFC 8259. Duplicate object keys are
 * rejected, since a policy that says two things about one field is a bug.
 *
 * The parser builds a small syntax tree ({@linkcode HujsonNode}) in which each
 * value and each object key carries its 1-based `line` and `column`, so that
 * later validation can point at the exact place of a problem.
 *
 * @module
 */

/** A 1-based position in the source text. */
export interface Position {
  /** Line, starting at 1. */
  line: number;
  /** Column in UTF-16 code units, starting at 1. */
  column: number;
}

/** One member of an object node. */
export interface HujsonMember {
  /** The key. */
  key: string;
  /** Where the key's opening quote is. */
  keyPos: Position;
  /** The value. */
  value: HujsonNode;
}

/** A parsed value with its position. */
export type HujsonNode =
  & Position
  & (
    | { kind: "object"; members: HujsonMember[] }
    | { kind: "array"; items: HujsonNode[] }
    | { kind: "string"; value: string }
    | { kind: "number"; value: number }
    | { kind: "boolean"; value: boolean }
    | { kind: "null" }
  );

/** A HuJSON syntax error with the position of the offending character. */
export class HujsonSyntaxError extends SyntaxError {
  /** Line of the problem, 1-based. */
  readonly line: number;
  /** Column of the problem, 1-based. */
  readonly column: number;
  /** The bare description, without the position. */
  readonly detail: string;

  /**
   * Creates the error; its message is `LINE:COLUMN: DETAIL`.
   * @param detail What is wrong, e.g. `Unexpected character "}"`.
   * @param pos Where.
   */
  constructor(detail: string, pos: Position) {
    super(`${pos.line}:${pos.column}: ${detail}`);
    this.name = "HujsonSyntaxError";
    this.detail = detail;
    this.line = pos.line;
    this.column = pos.column;
  }
}

/**
 * Parses HuJSON text into a positioned syntax tree.
 *
 * @param text The source text.
 * @returns The root node.
 * @throws {HujsonSyntaxError} On any syntax error, with its line and column.
 * @example
 * ```ts
 * import { parseHujson, toPlainValue } from "./hujson.ts";
 * const root = parseHujson('{\n  // a comment\n  "a": [1, 2,],\n}');
 * const value = toPlainValue(root) as { a: number[] };
 * if (value.a.length !== 2) throw new Error();
 * ```
 */
export function parseHujson(text: string): HujsonNode {
  const parser = new _Parser(text);
  const node = parser.value();
  parser.skipSpace();
  if (!parser.atEnd()) parser.fail(`Unexpected ${parser.describeHere()}`);
  return node;
}

/**
 * Converts a syntax tree into plain JavaScript values (as `JSON.parse` would).
 * @param node The node.
 * @returns Objects, arrays, strings, numbers, booleans and null.
 */
export function toPlainValue(node: HujsonNode): unknown {
  switch (node.kind) {
    case "object": {
      const out: Record<string, unknown> = {};
      for (const m of node.members) {
        Object.defineProperty(out, m.key, {
          value: toPlainValue(m.value),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    case "array":
      return node.items.map(toPlainValue);
    case "null":
      return null;
    default:
      return node.value;
  }
}

/**
 * Finds the deepest node along a path, and the position that best points at
 * the path's last element.
 *
 * When the whole path exists, `pos` is the value's position. When the last
 * element is a missing key, `pos` is the position of the object that lacks
 * it. When `key` is true and the last element is an existing object key,
 * `pos` is the key's own position (used for "unknown field" errors).
 *
 * @param root The root node.
 * @param path Object keys and array indexes.
 * @param key Point at the key rather than the value. @default {false}
 * @returns The position.
 */
export function locate(
  root: HujsonNode,
  path: readonly (string | number)[],
  key = false,
): Position {
  let node = root;
  let pos: Position = { line: root.line, column: root.column };
  for (const [i, step] of path.entries()) {
    const last = i === path.length - 1;
    if (node.kind === "object") {
      const member = node.members.find((m) => m.key === String(step));
      if (!member) break;
      node = member.value;
      pos = last && key ? member.keyPos : node;
    } else if (node.kind === "array" && typeof step === "number") {
      const item = node.items[step];
      if (!item) break;
      node = item;
      pos = node;
    } else {
      break;
    }
  }
  return { line: pos.line, column: pos.column };
}

const ESCAPES: Record<string, string> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
};

/** Recursive-descent parser state. */
class _Parser {
  #text: string;
  #i = 0;
  #line = 1;
  #lineStart = 0;

  constructor(text: string) {
    // A byte-order mark is not content.
    this.#text = text.startsWith("\uFEFF") ? text.slice(1) : text;
  }

  atEnd(): boolean {
    return this.#i >= this.#text.length;
  }

  pos(): Position {
    return { line: this.#line, column: this.#i - this.#lineStart + 1 };
  }

  fail(detail: string, pos: Position = this.pos()): never {
    throw new HujsonSyntaxError(detail, pos);
  }

  describeHere(): string {
    if (this.atEnd()) return "end of file";
    const c = this.#text[this.#i]!;
    return `character ${JSON.stringify(c)}`;
  }

  #advance(): void {
    if (this.#text[this.#i] === "\n") {
      this.#line++;
      this.#lineStart = this.#i + 1;
    }
    this.#i++;
  }

  skipSpace(): void {
    const t = this.#text;
    while (this.#i < t.length) {
      const c = t[this.#i];
      if (c === " " || c === "\t" || c === "\n" || c === "\r") {
        this.#advance();
      } else if (c === "/" && t[this.#i + 1] === "/") {
        while (this.#i < t.length && t[this.#i] !== "\n") this.#advance();
      } else if (c === "/" && t[this.#i + 1] === "*") {
        const start = this.pos();
        this.#advance();
        this.#advance();
        while (!(t[this.#i] === "*" && t[this.#i + 1] === "/")) {
          if (this.#i >= t.length) {
            this.fail("Unterminated block comment", start);
          }
          this.#advance();
        }
        this.#advance();
        this.#advance();
      } else {
        return;
      }
    }
  }

  value(): HujsonNode {
    this.skipSpace();
    const pos = this.pos();
    const c = this.#text[this.#i];
    switch (c) {
      case "{":
        return { ...pos, kind: "object", members: this.#object() };
      case "[":
        return { ...pos, kind: "array", items: this.#array() };
      case '"':
        return { ...pos, kind: "string", value: this.#string() };
      case "t":
        this.#word("true");
        return { ...pos, kind: "boolean", value: true };
      case "f":
        this.#word("false");
        return { ...pos, kind: "boolean", value: false };
      case "n":
        this.#word("null");
        return { ...pos, kind: "null" };
      default:
        if (c !== undefined && (c === "-" || (c >= "0" && c <= "9"))) {
          return { ...pos, kind: "number", value: this.#number() };
        }
        return this.fail(`Expected a value, found ${this.describeHere()}`);
    }
  }

  #object(): HujsonMember[] {
    const open = this.pos();
    this.#advance(); // {
    const members: HujsonMember[] = [];
    for (;;) {
      this.skipSpace();
      if (this.#text[this.#i] === "}") {
        this.#advance();
        return members;
      }
      if (this.atEnd()) this.fail("Unterminated object", open);
      if (this.#text[this.#i] !== '"') {
        this.fail(`Expected a quoted key or "}", found ${this.describeHere()}`);
      }
      const keyPos = this.pos();
      const key = this.#string();
      if (members.some((m) => m.key === key)) {
        this.fail(`Duplicate key ${JSON.stringify(key)}`, keyPos);
      }
      this.skipSpace();
      if (this.#text[this.#i] !== ":") {
        this.fail(`Expected ":" after key, found ${this.describeHere()}`);
      }
      this.#advance();
      members.push({ key, keyPos, value: this.value() });
      this.skipSpace();
      const c = this.#text[this.#i];
      if (c === ",") {
        this.#advance();
      } else if (c === undefined) {
        this.fail("Unterminated object", open);
      } else if (c !== "}") {
        this.fail(`Expected "," or "}", found ${this.describeHere()}`);
      }
    }
  }

  #array(): HujsonNode[] {
    const open = this.pos();
    this.#advance(); // [
    const items: HujsonNode[] = [];
    for (;;) {
      this.skipSpace();
      if (this.#text[this.#i] === "]") {
        this.#advance();
        return items;
      }
      if (this.atEnd()) this.fail("Unterminated array", open);
      items.push(this.value());
      this.skipSpace();
      const c = this.#text[this.#i];
      if (c === ",") {
        this.#advance();
      } else if (c === undefined) {
        this.fail("Unterminated array", open);
      } else if (c !== "]") {
        this.fail(`Expected "," or "]", found ${this.describeHere()}`);
      }
    }
  }

  #string(): string {
    const open = this.pos();
    this.#advance(); // "
    let out = "";
    const t = this.#text;
    for (;;) {
      if (this.#i >= t.length) this.fail("Unterminated string", open);
      const c = t[this.#i]!;
      if (c === '"') {
        this.#advance();
        return out;
      }
      if (c === "\n" || c < " ") {
        this.fail("Control character in string");
      }
      if (c === "\\") {
        const e = t[this.#i + 1];
        if (e === "u") {
          const hex = t.slice(this.#i + 2, this.#i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail("Invalid \\u escape");
          out += String.fromCharCode(parseInt(hex, 16));
          this.#i += 6;
        } else if (e !== undefined && e in ESCAPES) {
          out += ESCAPES[e];
          this.#i += 2;
        } else {
          this.fail(`Invalid escape "\\${e ?? ""}"`);
        }
        continue;
      }
      out += c;
      this.#i++;
    }
  }

  #number(): number {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(
      this.#text.slice(this.#i),
    );
    if (!m) return this.fail("Invalid number");
    this.#i += m[0].length;
    return Number(m[0]);
  }

  #word(word: string): void {
    if (this.#text.startsWith(word, this.#i)) {
      this.#i += word.length;
      return;
    }
    const m = /^[A-Za-z_]+/.exec(this.#text.slice(this.#i));
    this.fail(`Unexpected word ${JSON.stringify(m?.[0] ?? "")}`);
  }
}
