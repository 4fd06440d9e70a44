/**
 * Parses a HuJSON config file and validates it with a zod schema, turning
 * every problem into a {@linkcode ConfigError} that names the file, the JSON
 * path and the line:column.
 *
 * @module
 */

import type { z } from "zod";
import {
  type HujsonNode,
  HujsonSyntaxError,
  locate,
  parseHujson,
  toPlainValue,
} from "./hujson.ts";
import { ConfigError } from "./config_error.ts";

/** A validated file with its syntax tree (to locate later semantic errors). */
export interface ParsedHujsonFile<T> {
  /** The validated value. */
  value: T;
  /** The positioned syntax tree. */
  root: HujsonNode;
  /** The file name. */
  fileName: string;
}

/**
 * Parses and validates a HuJSON file.
 *
 * @param text File contents.
 * @param fileName File name used in errors.
 * @param schema The zod schema (use strict objects to reject unknown fields).
 * @returns The value and its syntax tree.
 * @throws {ConfigError} On a syntax error or the first schema problem in
 *   file order.
 * @example
 * ```ts
 * import { z } from "zod";
 * import { parseHujsonFile } from "./hujson_file.ts";
 * const { value } = parseHujsonFile('{"a": 1,}', "f.hujson", z.object({ a: z.number() }).strict());
 * if (value.a !== 1) throw new Error();
 * ```
 */
export function parseHujsonFile<S extends z.ZodTypeAny>(
  text: string,
  fileName: string,
  schema: S,
  options: ParseHujsonFileOptions = {},
): ParsedHujsonFile<z.output<S>> {
  let root: HujsonNode;
  try {
    root = parseHujson(text);
  } catch (e) {
    if (e instanceof HujsonSyntaxError) {
      throw new ConfigError(fileName, "", e.line, e.column, e.detail, {
        cause: e,
      });
    }
    throw e;
  }
  const plain = toPlainValue(root);
  const result = schema.safeParse(
    options.prepare ? options.prepare(plain) : plain,
  );
  if (result.success) return { value: result.data, root, fileName };
  const errors = result.error.issues.map((issue) => {
    const from = options.origin?.(issue.path);
    return from === undefined
      ? issueToError(issue, root, fileName)
      : new ConfigError(from, issue.path, 0, 0, issueDetail(issue));
  });
  // Problems of values from elsewhere (line 0) first, then in file order.
  errors.sort((a, b) => a.line - b.line || a.column - b.column);
  throw errors[0]!;
}

/** Options of {@linkcode parseHujsonFile}. */
export interface ParseHujsonFileOptions {
  /**
   * Turns the file's value into what the schema checks (e.g. overlays
   * environment variables). Gets a value it may change.
   */
  prepare?: (value: unknown) => unknown;
  /**
   * Where a value at a path came from when not from the file (e.g.
   * `EXECGATE_RECORDER_PORT`): its problem is named by that instead of a
   * line and column.
   */
  origin?: (path: readonly (string | number)[]) => string | undefined;
}

/** The problem of an issue, as {@linkcode parseHujsonFile} words it. */
function issueDetail(issue: z.ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return issue.received === "undefined"
        ? "required field is missing"
        : `expected ${issue.expected}, got ${issue.received}`;
    default:
      return issue.message;
  }
}

/**
 * Builds a {@linkcode ConfigError} located at a path of a parsed file.
 * @param file The parsed file.
 * @param path Keys and indexes.
 * @param detail What is wrong.
 * @returns The error (to throw).
 */
export function errorAt(
  file: { root: HujsonNode; fileName: string },
  path: readonly (string | number)[],
  detail: string,
): ConfigError {
  const pos = locate(file.root, path);
  return new ConfigError(file.fileName, path, pos.line, pos.column, detail);
}

function issueToError(
  issue: z.ZodIssue,
  root: HujsonNode,
  fileName: string,
): ConfigError {
  const path = issue.path;
  switch (issue.code) {
    case "unrecognized_keys": {
      const key = issue.keys[0] ?? "";
      const full = [...path, key];
      const pos = locate(root, full, true);
      const others = issue.keys.length > 1
        ? ` (and ${
          issue.keys.slice(1).map((k) => JSON.stringify(k)).join(", ")
        })`
        : "";
      return new ConfigError(
        fileName,
        full,
        pos.line,
        pos.column,
        `unknown field ${JSON.stringify(key)}${others}`,
      );
    }
    case "invalid_type": {
      const pos = locate(root, path);
      const detail = issue.received === "undefined"
        ? "required field is missing"
        : `expected ${issue.expected}, got ${issue.received}`;
      return new ConfigError(fileName, path, pos.line, pos.column, detail);
    }
    case "invalid_literal": {
      const pos = locate(root, path);
      return new ConfigError(
        fileName,
        path,
        pos.line,
        pos.column,
        `unsupported value ${JSON.stringify(issue.received)}: expected ${
          JSON.stringify(issue.expected)
        }`,
      );
    }
    case "invalid_enum_value": {
      const pos = locate(root, path);
      return new ConfigError(
        fileName,
        path,
        pos.line,
        pos.column,
        `unsupported value ${JSON.stringify(issue.received)}: expected ${
          issue.options.map((o) => JSON.stringify(o)).join(" or ")
        }`,
      );
    }
    default: {
      const pos = locate(root, path);
      return new ConfigError(
        fileName,
        path,
        pos.line,
        pos.column,
        issue.message,
      );
    }
  }
}
