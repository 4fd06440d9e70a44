/**
 * Reads a request target the way kube-apiserver does, so the simulated
 * cluster routes on what a real one would run. Written independently of the
 * proxy's parser on purpose: two implementations, so a bug in one shows up
 * against the other.
 *
 * - Go's `net/http` parses the target with `url.ParseRequestURI` and puts the
 *   percent-decoded path in `URL.Path` (a bad `%` escape is a `400 Bad
 *   Request` before any handler); `RequestInfoFactory.NewRequestInfo` and
 *   go-restful split `strings.Trim(URL.Path, "/")` on `/`. So `%65xec`,
 *   `demo%2Fexec`, `/%61pi/…` and a trailing `%2F` all name `pods/exec`.
 * - `URL.Query()` is `url.ParseQuery(RawQuery)`: pairs split on `&`, a pair
 *   holding `;` dropped (Go ≥ 1.17), key and value unescaped with `+` as a
 *   space, a pair with a bad escape dropped, repeated keys kept in order.
 * - apimachinery's `Convert_Slice_string_To_bool`: false when absent or when
 *   the FIRST value is `0` or case-insensitively `false`; else true (`yes`,
 *   the empty string, `False ` with a space…).
 *
 * Sources: go `src/net/url/url.go` (`unescape`, `parse`, `parseQuery`),
 * kubernetes `staging/src/k8s.io/apimachinery/pkg/runtime/conversion.go`,
 * `staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go`.
 *
 * Bytes that are not UTF-8 after decoding become U+FFFD (Go keeps the raw
 * byte); no real pod or namespace name can hold one.
 *
 * @module
 */

/** A decoded query: `[key, value]` pairs in request order. */
export type GoQuery = [string, string][];

/** A request target as kube-apiserver reads it. */
export interface GoTarget {
  /** `URL.Path`: the percent-decoded path. */
  path: string;
  /** `URL.RawQuery`: everything after the first `?`, as sent. */
  rawQuery: string;
  /** `url.ParseQuery(RawQuery)`. */
  query: GoQuery;
  /** `strings.Split(strings.Trim(path, "/"), "/")`; `[]` for `/`. */
  segments: string[];
}

const HEX = /^[0-9a-fA-F]{2}$/;
const utf8 = new TextDecoder();

/**
 * Go's `url.unescape` in path or query-component mode.
 * @param s Escaped text.
 * @param query Query-component mode (`+` is a space).
 * @param what Where `s` comes from, for the error.
 * @returns The unescaped text.
 * @throws {SyntaxError} A `%` not followed by two hex digits.
 */
function unescape(s: string, query: boolean, what: string): string {
  if (!s.includes("%") && !(query && s.includes("+"))) return s;
  let out = "";
  let bytes: number[] = [];
  const flush = () => {
    if (bytes.length === 0) return;
    out += utf8.decode(Uint8Array.from(bytes));
    bytes = [];
  };
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "%") {
      const hex = s.slice(i + 1, i + 3);
      if (!HEX.test(hex)) {
        throw new SyntaxError(
          `Cannot parse ${what}: "${
            s.slice(i, i + 3)
          }" at offset ${i} is not a valid escape`,
        );
      }
      bytes.push(parseInt(hex, 16));
      i += 2;
      continue;
    }
    flush();
    out += query && c === "+" ? " " : c;
  }
  flush();
  return out;
}

/**
 * Decodes a request target's path as Go's `net/http` does (`URL.Path`).
 * Accepts origin form (`/api/…`), absolute form (`https://host/api/…`,
 * the path after the authority) and `*`.
 * @param rawTarget The request target exactly as sent (Node's `req.url`).
 * @returns The decoded path.
 * @throws {SyntaxError} A bad `%` escape in the path, a control character,
 * an empty target, or a target that is neither a path nor an absolute URL;
 * Go's server answers these with `400 Bad Request`.
 * @example
 * ```ts
 * import { goPath } from "./go_request.ts";
 * goPath("/api/v1/namespaces/default/pods/demo%2F%65xec?command=id");
 * // → "/api/v1/namespaces/default/pods/demo/exec"
 * ```
 */
export function goPath(rawTarget: string): string {
  const what = `request target ${JSON.stringify(rawTarget)}`;
  if (rawTarget === "") throw new SyntaxError(`Cannot parse ${what}: empty`);
  for (let i = 0; i < rawTarget.length; i++) {
    const code = rawTarget.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) {
      throw new SyntaxError(
        `Cannot parse ${what}: control character at offset ${i}`,
      );
    }
  }
  if (rawTarget === "*") return "*";
  let rest = rawTarget;
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(rest);
  if (rest.startsWith(":")) {
    throw new SyntaxError(`Cannot parse ${what}: missing protocol scheme`);
  }
  if (scheme) rest = rest.slice(scheme[0].length);
  const q = rest.indexOf("?");
  if (q >= 0) rest = rest.slice(0, q);
  if (!rest.startsWith("/")) {
    // Go: an opaque URL (`mailto:x`) has an empty Path; no scheme is an error.
    if (scheme) return "";
    throw new SyntaxError(`Cannot parse ${what}: not a path or absolute URL`);
  }
  if (scheme && rest.startsWith("//")) {
    const slash = rest.indexOf("/", 2);
    rest = slash < 0 ? "" : rest.slice(slash);
  }
  return unescape(rest, false, what);
}

/**
 * Go's `url.ParseQuery`, keeping order: split on `&`, drop a pair holding
 * `;`, drop empty pairs, split at the first `=`, unescape both halves with
 * `+` as a space, drop a pair whose escape is bad.
 * @param rawQuery The query without the `?`.
 * @returns The pairs that survive, in order.
 * @example
 * ```ts
 * import { goQuery } from "./go_request.ts";
 * goQuery("command=echo%20a;&command=echo&command=b&tty=%zz");
 * // → [["command", "echo"], ["command", "b"]]
 * ```
 */
export function goQuery(rawQuery: string): GoQuery {
  const out: GoQuery = [];
  if (rawQuery === "") return out;
  for (const part of rawQuery.split("&")) {
    if (part.includes(";") || part === "") continue;
    const eq = part.indexOf("=");
    const rawKey = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? "" : part.slice(eq + 1);
    try {
      out.push([
        unescape(rawKey, true, "query key"),
        unescape(rawValue, true, "query value"),
      ]);
    } catch {
      // Go drops the pair and reports the first error, which the API server ignores.
    }
  }
  return out;
}

/**
 * All values of a key, in order (Go's `url.Values[key]`).
 * @param query Decoded pairs.
 * @param key The key (case-sensitive, as in Go).
 * @returns The values; `[]` when absent.
 */
export function goValues(query: GoQuery, key: string): string[] {
  return query.filter(([k]) => k === key).map(([, v]) => v);
}

/**
 * Kubernetes' query-to-bool conversion (`Convert_Slice_string_To_bool`).
 * @param values All values of the parameter.
 * @returns False when there is none or the first is `0` or `false` (any
 * case); true otherwise, the empty string included.
 * @example
 * ```ts
 * import { goBool } from "./go_request.ts";
 * goBool(["yes"]); // true
 * goBool(["FALSE", "true"]); // false
 * goBool([]); // false
 * ```
 */
export function goBool(values: readonly string[]): boolean {
  const first = values[0];
  if (first === undefined) return false;
  return !(first === "0" || first.toLowerCase() === "false");
}

/**
 * Reads a whole target: decoded path, raw and decoded query, segments.
 * @param rawTarget The request target exactly as sent.
 * @returns What kube-apiserver would route on.
 * @throws {SyntaxError} See {@linkcode goPath}.
 */
export function goTarget(rawTarget: string): GoTarget {
  const path = goPath(rawTarget);
  const q = rawTarget.indexOf("?");
  const rawQuery = q < 0 ? "" : rawTarget.slice(q + 1);
  const trimmed = path.replace(/^\/+/, "").replace(/\/+$/, "");
  return {
    path,
    rawQuery,
    query: goQuery(rawQuery),
    segments: trimmed === "" ? [] : trimmed.split("/"),
  };
}

/**
 * Re-encodes a read target so that a WHATWG-URL reader (Hono, `new URL`)
 * sees the same segments and pairs: each segment and each key and value
 * percent-encoded with `encodeURIComponent`, no trailing slash.
 * @param target A target from {@linkcode goTarget}.
 * @returns An origin-form target, e.g. `/api/v1/namespaces/default/pods`.
 */
export function canonicalTarget(target: GoTarget): string {
  const path = "/" + target.segments.map(encodeURIComponent).join("/");
  if (target.query.length === 0) return path;
  return path + "?" +
    target.query.map(([k, v]) =>
      `${encodeURIComponent(k)}=${encodeURIComponent(v)}`
    ).join("&");
}

/**
 * What Go's `net/http` server writes for a request it cannot parse (a bad
 * escape in the path, among others), before any handler runs; the
 * connection is then closed.
 */
export const GO_BAD_REQUEST =
  "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request";
