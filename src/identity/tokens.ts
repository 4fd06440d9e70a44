/**
 * The `tokens` identity source: bearer tokens from a file.
 *
 * The file is JSON or HuJSON:
 *
 * ```jsonc
 * {
 *   "tokens": [
 *     // A person: login name, optional groups.
 *     {"token": "alice-token", "loginName": "alice@example.com", "groups": ["team-a"]},
 *     // A tagged device; the token may be given as its SHA-256 (hex) instead.
 *     {"tokenSha256": "9f86d0…", "hostname": "ci-runner", "tags": ["tag:ci"]},
 *   ],
 * }
 * ```
 *
 * Each entry needs `loginName` or `tags` (not both). Defaults: `hostname` is
 * the login name's local part, `nodeId` is `token:` + hostname, `userId` is
 * the login name. Tokens are compared in constant time: both sides are
 * hashed with SHA-256 and every entry's digest is compared byte by byte
 * without early exit.
 *
 * @module
 */

import { z } from "zod";
import { errorAt, parseHujsonFile } from "../config/hujson_file.ts";
import type { Identity, IdentitySource } from "./identity.ts";
import { sha256, timingSafeEqual, toHex } from "../digest.ts";

/**
 * Compares two SHA-256 digests in time independent of where they differ
 * (`digest.ts` {@linkcode timingSafeEqual}).
 */
export const digestsEqual: (a: Uint8Array, b: Uint8Array) => boolean =
  timingSafeEqual;

const entrySchema = z.object({
  token: z.string().min(1).optional(),
  tokenSha256: z.string().regex(/^[0-9a-fA-F]{64}$/, {
    message: "expected 64 hex digits",
  }).optional(),
  hostname: z.string().min(1).optional(),
  nodeId: z.string().min(1).optional(),
  loginName: z.string().min(1).optional(),
  userId: z.string().min(1).optional(),
  tags: z.array(
    z.string().regex(/^tag:[A-Za-z][A-Za-z0-9-]*$/, {
      message: 'expected a tag like "tag:name"',
    }),
  ).min(1).optional(),
  groups: z.array(z.string()).optional(),
}).strict();

const tokenFileSchema = z.object({ tokens: z.array(entrySchema) }).strict();

/** One token and the identity it stands for. */
export interface TokenEntry {
  /** SHA-256 of the token. */
  sha256: Uint8Array;
  /** The identity it grants. */
  identity: Identity;
}

/**
 * Parses a token file. Tokens written in clear are hashed here.
 *
 * @param text The JSON/HuJSON text.
 * @param fileName Name used in errors.
 * @returns The entries.
 * @throws {PolicyError} With `file:line:column: path: detail` for syntax
 *   errors, unknown fields, wrong types, entries without (or with both)
 *   `token`/`tokenSha256` or `loginName`/`tags`, and duplicate tokens.
 * @example
 * ```ts
 * import { parseTokenFile } from "./tokens.ts";
 * const entries = await parseTokenFile('{"tokens": [{"token": "t1", "loginName": "a@example.com"}]}', "tokens.json");
 * if (entries[0]?.identity.hostname !== "a") throw new Error();
 * ```
 */
export async function parseTokenFile(
  text: string,
  fileName: string,
): Promise<TokenEntry[]> {
  const file = parseHujsonFile(text, fileName, tokenFileSchema);
  const seen = new Set<string>();
  const out: TokenEntry[] = [];
  for (const [i, e] of file.value.tokens.entries()) {
    const at = ["tokens", i];
    if ((e.token === undefined) === (e.tokenSha256 === undefined)) {
      throw errorAt(
        file,
        at,
        'an entry needs exactly one of "token" or "tokenSha256"',
      );
    }
    if ((e.loginName === undefined) === (e.tags === undefined)) {
      throw errorAt(
        file,
        at,
        'an entry needs exactly one of "loginName" or "tags"',
      );
    }
    const digest = e.token !== undefined
      ? await sha256(e.token)
      : Uint8Array.from(e.tokenSha256!.match(/../g)!, (h) => parseInt(h, 16));
    const hex = toHex(digest);
    if (seen.has(hex)) {
      throw errorAt(file, at, "this token is already used by an earlier entry");
    }
    seen.add(hex);
    const hostname = e.hostname ?? e.loginName?.split("@")[0] ?? `token-${i}`;
    const identity: Identity = {
      hostname,
      nodeId: e.nodeId ?? `token:${hostname}`,
      groups: e.groups ?? [],
      ...(e.tags
        ? { tags: e.tags }
        : { loginName: e.loginName!, userId: e.userId ?? e.loginName! }),
    };
    out.push({ sha256: digest, identity });
  }
  return out;
}

/**
 * Creates the tokens identity source.
 *
 * @param entries From {@linkcode parseTokenFile}.
 * @returns The source: reads `Authorization: Bearer …`; `undefined` when the
 *   header is absent, not a bearer token, or the token is unknown.
 * @example
 * ```ts
 * import { createTokenIdentitySource, parseTokenFile } from "./tokens.ts";
 * const source = createTokenIdentitySource(
 *   await parseTokenFile('{"tokens": [{"token": "t1", "loginName": "a@example.com"}]}', "t.json"),
 * );
 * const who = await source.identify({
 *   remoteAddr: "127.0.0.1:1", headers: new Headers({ authorization: "Bearer t1" }),
 * });
 * if (who?.loginName !== "a@example.com") throw new Error();
 * ```
 */
export function createTokenIdentitySource(
  entries: readonly TokenEntry[],
  options: TokenIdentityOptions = {},
): IdentitySource {
  const digestOf = options.sha256 ?? sha256;
  return {
    name: "tokens",
    async identify(peer) {
      const m = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(
        peer.headers.get("authorization") ?? "",
      );
      if (!m) return undefined;
      const digest = await digestOf(m[1]!);
      let found: Identity | undefined;
      for (const entry of entries) {
        if (timingSafeEqual(digest, entry.sha256)) found = entry.identity;
      }
      return found && copyIdentity(found);
    },
  };
}

/** Options of {@linkcode createTokenIdentitySource}. */
export interface TokenIdentityOptions {
  /**
   * The SHA-256 of a presented token's UTF-8. Every request pays it: the
   * proxy passes a synchronous native one (`adapter/deno/sha256.ts`), where
   * WebCrypto's asynchronous digest cost ~0.1 ms per request.
   * @default {WebCrypto `crypto.subtle.digest`}
   */
  sha256?: (token: string) => Uint8Array | Promise<Uint8Array>;
}

/** A copy the caller may change without changing the entry. */
function copyIdentity(id: Identity): Identity {
  return {
    ...id,
    groups: [...id.groups],
    ...(id.tags ? { tags: [...id.tags] } : {}),
  };
}

/**
 * Loads a token file and creates the source.
 * @param path The file.
 * @param readTextFile File reader. @default {Deno.readTextFile}
 * @returns The source.
 * @throws {PolicyError} When the file is invalid.
 */
export async function loadTokenIdentitySource(
  path: string,
  readTextFile: (path: string) => Promise<string> = Deno.readTextFile,
): Promise<IdentitySource> {
  return createTokenIdentitySource(
    await parseTokenFile(await readTextFile(path), path),
  );
}
