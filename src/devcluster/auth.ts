/**
 * Who a request is, the way kube-apiserver decides it: a bearer token from a
 * static token table, or a TLS client certificate verified against the
 * client CA (CN = user, O = groups); then `Impersonate-*` headers, which
 * replace the user when present. Every authenticated user may impersonate
 * anyone here (a real cluster checks RBAC `impersonate`).
 *
 * As kube-apiserver does, `system:authenticated` is added to the groups of
 * an authenticated (or impersonated) user.
 *
 * @module
 */

import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import { certSubject } from "./certs.ts";

/** A user as the API server sees it (`authentication.k8s.io/v1` UserInfo). */
export interface UserInfo {
  /** User name. */
  username: string;
  /** Groups. */
  groups: string[];
  /** Uid, when known. */
  uid?: string;
  /** Extra attributes. */
  extra?: Record<string, string[]>;
}

/** A token table entry. */
export interface TokenUser {
  /** User name. */
  username: string;
  /** Groups. @default {[]} */
  groups?: string[];
}

/** The outcome of authentication. */
export interface AuthResult {
  /** The user the credentials prove. */
  authenticated: UserInfo;
  /** The user the request acts as (impersonated, or the authenticated one). */
  effective: UserInfo;
  /** How the credentials were presented. */
  method: "token" | "client-cert";
}

/** Header values of one name, repeated headers kept apart. */
function headerValues(req: IncomingMessage, name: string): string[] {
  const out: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!);
  }
  return out;
}

function withAuthenticatedGroup(groups: string[]): string[] {
  return groups.includes("system:authenticated")
    ? groups
    : [...groups, "system:authenticated"];
}

/**
 * Reads the `Impersonate-*` headers.
 * @param req The request.
 * @returns The impersonated user, or undefined when there is no
 * `Impersonate-User`.
 */
export function impersonatedUser(req: IncomingMessage): UserInfo | undefined {
  const user = headerValues(req, "impersonate-user")[0];
  if (user === undefined) return undefined;
  const groups = headerValues(req, "impersonate-group");
  const uid = headerValues(req, "impersonate-uid")[0];
  const extra: Record<string, string[]> = {};
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    if (name.startsWith("impersonate-extra-")) {
      const key = decodeURIComponent(name.slice("impersonate-extra-".length));
      (extra[key] ??= []).push(req.rawHeaders[i + 1]!);
    }
  }
  return {
    username: user,
    groups: withAuthenticatedGroup(groups),
    ...(uid !== undefined ? { uid } : {}),
    ...(Object.keys(extra).length > 0 ? { extra } : {}),
  };
}

/**
 * Authenticates a request.
 * @param req The incoming request (its socket carries the TLS peer).
 * @param tokens Accepted bearer tokens.
 * @returns The result, or undefined when no valid credentials were presented.
 */
export function authenticate(
  req: IncomingMessage,
  tokens: ReadonlyMap<string, TokenUser>,
): AuthResult | undefined {
  let authenticated: UserInfo | undefined;
  let method: AuthResult["method"] = "token";
  const authz = headerValues(req, "authorization")[0];
  const m = authz ? /^Bearer\s+(\S+)\s*$/i.exec(authz) : null;
  if (m) {
    const t = tokens.get(m[1]!);
    if (!t) return undefined; // A bad token is a 401 even with a good cert.
    authenticated = {
      username: t.username,
      groups: withAuthenticatedGroup(t.groups ?? []),
    };
  } else {
    const socket = req.socket as TLSSocket;
    if (socket.authorized) {
      const raw = socket.getPeerCertificate?.(false)?.raw;
      if (raw && raw.length > 0) {
        const subject = certSubject(new Uint8Array(raw));
        if (subject.commonName !== "") {
          authenticated = {
            username: subject.commonName,
            groups: withAuthenticatedGroup(subject.organizations),
          };
          method = "client-cert";
        }
      }
    }
  }
  if (!authenticated) return undefined;
  return {
    authenticated,
    effective: impersonatedUser(req) ?? authenticated,
    method,
  };
}
