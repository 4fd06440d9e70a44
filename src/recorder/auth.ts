/**
 * Who may do what on the recorder: uploader tokens may only upload, viewer
 * tokens may only read. Tokens are compared in constant time (SHA-256 of
 * both sides, then a full XOR over the digests).
 *
 * Credentials: `Authorization: Bearer <token>` for both roles; for viewers
 * also the `execgate_viewer` cookie set by the UI's login form (never for
 * uploads, so a browser cannot be tricked into uploading).
 *
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { sha256, timingSafeEqual } from "../digest.ts";

/** A recorder role. */
export type Role = "uploader" | "viewer" | "moderator";

/** Name of the UI's login cookie. */
export const VIEWER_COOKIE = "execgate_viewer";

/**
 * The recorder's Hono environment: what {@linkcode requireRole} sets on a
 * request it lets through (typed per app, not by a global augmentation of
 * Hono's types, so embedding the recorder changes no one else's Hono).
 */
export interface RecorderEnv {
  /** Request-scoped values. */
  Variables: {
    /** The authenticated role of the request. */
    role: Role;
    /** The moderator's name, when the role is `moderator`. */
    moderator: string;
  };
}

/** Tells the role a token grants. */
export class TokenAuthority {
  #tokens: Promise<{ role: Role; digest: Uint8Array; name?: string }[]>;

  /**
   * Creates the authority; it keeps only the tokens' SHA-256 digests.
   * @param tokens Uploader and viewer tokens.
   * @throws {RangeError} When a token is in both lists.
   */
  constructor(
    tokens: {
      uploader: string[];
      viewer: string[];
      /** Moderators: viewers who may also end a live session. */
      moderators?: { name: string; token: string }[];
    },
  ) {
    for (const t of tokens.uploader) {
      if (tokens.viewer.includes(t)) {
        throw new RangeError(
          "Cannot configure recorder tokens: a token is both an uploader and a viewer token",
        );
      }
    }
    this.#tokens = Promise.all([
      ...tokens.uploader.map(async (t) => ({
        role: "uploader" as const,
        digest: await sha256(t),
      })),
      ...tokens.viewer.map(async (t) => ({
        role: "viewer" as const,
        digest: await sha256(t),
      })),
      ...(tokens.moderators ?? []).map(async (m) => ({
        role: "moderator" as const,
        digest: await sha256(m.token),
        name: m.name,
      })),
    ]);
  }

  /**
   * Tells the role a token grants.
   * @param token A presented token.
   * @returns The role it grants, or `undefined`. Every token is compared.
   */
  async roleOf(token: string): Promise<Role | undefined> {
    return (await this.identify(token))?.role;
  }

  /**
   * Tells who a token is: its role and, for a moderator, the name. The
   * digests are compared in constant time; an empty token matches nothing.
   * @param token A presented token.
   * @returns Its role and, for a moderator, the name. Every token is compared.
   */
  async identify(
    token: string,
  ): Promise<{ role: Role; name?: string } | undefined> {
    const d = await sha256(token);
    let found: { role: Role; name?: string } | undefined;
    for (const t of await this.#tokens) {
      if (timingSafeEqual(d, t.digest) && token.length > 0) {
        found = t.name === undefined
          ? { role: t.role }
          : { role: t.role, name: t.name };
      }
    }
    return found;
  }
}

/**
 * Reads the credential of a request.
 * @param c The Hono context.
 * @param allowCookie Whether the viewer cookie counts.
 * @returns The token, or `undefined`.
 */
export function presentedToken(
  c: Context,
  allowCookie: boolean,
): string | undefined {
  const auth = c.req.header("authorization");
  if (auth) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m ? m[1] : "";
  }
  if (allowCookie) return getCookie(c, VIEWER_COOKIE);
  return undefined;
}

/** Options of {@linkcode requireRole}. */
export interface RequireRoleOptions {
  /** Answer for a missing or unknown credential. @default JSON 401 */
  unauthorized?: (
    c: Context<RecorderEnv>,
    message: string,
  ) => Response | Promise<Response>;
  /** Answer for the wrong role. @default JSON 403 */
  forbidden?: (
    c: Context<RecorderEnv>,
    message: string,
  ) => Response | Promise<Response>;
}

/**
 * A middleware that lets only one role through: `401` without a valid
 * credential, `403` with the other role's.
 * @param authority The tokens.
 * @param role The role required.
 * @param options Custom answers (the UI renders pages).
 * @returns The middleware.
 */
export function requireRole(
  authority: TokenAuthority,
  role: Role,
  options: RequireRoleOptions = {},
): MiddlewareHandler<RecorderEnv> {
  const unauthorized = options.unauthorized ??
    ((c: Context<RecorderEnv>, message: string) => {
      c.header("www-authenticate", 'Bearer realm="execgate-recorder"');
      return c.json({ error: message }, 401);
    });
  const forbidden = options.forbidden ??
    ((c: Context<RecorderEnv>, message: string) =>
      c.json({ error: message }, 403));
  return async function requireRoleMiddleware(c, next) {
    // A moderator is a viewer too; both may use the UI's cookie.
    const token = presentedToken(c, role !== "uploader");
    if (token === undefined) {
      return await unauthorized(c, `This needs a ${role} credential`);
    }
    const who = await authority.identify(token);
    const got = who?.role;
    if (got === undefined) {
      return await unauthorized(c, "The credential is not valid");
    }
    if (got !== role && !(role === "viewer" && got === "moderator")) {
      return await forbidden(
        c,
        `A ${got} credential cannot do this: it needs a ${role} credential`,
      );
    }
    c.set("role", got);
    if (who?.name !== undefined) c.set("moderator", who.name);
    await next();
  };
}
