/**
 * Parses and validates a HuJSON policy file (a Tailscale-shaped subset:
 * `groups`, `tagOwners`, `acls`, `grants`).
 *
 * @module
 */

import { z } from "zod";
import { locate } from "../config/hujson.ts";
import {
  errorAt,
  type ParsedHujsonFile,
  parseHujsonFile,
} from "../config/hujson_file.ts";
import {
  type AclRule,
  type DstPattern,
  type GrantRule,
  KUBERNETES_CAP,
  type Policy,
} from "./policy.ts";
import type { KubernetesCapRule } from "../identity/identity.ts";

/** A `tailscale.com/cap/kubernetes` rule as written in a policy file. */
export const kubernetesCapRuleSchema: z.ZodType<
  KubernetesCapRule,
  z.ZodTypeDef,
  unknown
> = z.object({
  impersonate: z.object({ groups: z.array(z.string()).optional() }).strict()
    .optional(),
  recorder: z.array(z.string()).optional(),
  enforceRecorder: z.boolean().optional(),
  recordPortForward: z.boolean().optional(),
  allowProxySubresources: z.boolean().optional(),
  enableEvents: z.boolean().optional(),
}).strict();

const selectors: z.ZodArray<z.ZodString> = z.array(z.string());

/** A policy file as written, before the semantic checks of {@linkcode parsePolicy}. */
export interface PolicyFile {
  /** `group:name` → members (login names, other groups). */
  groups?: Record<string, string[]>;
  /** `tag:name` → owners (accepted, not evaluated). */
  tagOwners?: Record<string, string[]>;
  /** Who may reach the proxy at all. */
  acls?: { action: "accept"; src: string[]; dst: string[] }[];
  /** What callers get: `app` holds each application's capability rules. */
  grants?: {
    src: string[];
    dst: string[];
    app?: {
      [KUBERNETES_CAP]?: KubernetesCapRule[];
      [capability: string]: unknown[] | undefined;
    };
  }[];
}

/** The zod schema of a policy file (before semantic checks). */
export const policyFileSchema: z.ZodType<PolicyFile, z.ZodTypeDef, unknown> = z
  .object({
    groups: z.record(z.array(z.string())).optional(),
    tagOwners: z.record(z.array(z.string())).optional(),
    acls: z.array(
      z.object({
        action: z.literal("accept"),
        src: selectors,
        dst: selectors,
      }).strict(),
    ).optional(),
    grants: z.array(
      z.object({
        src: selectors,
        dst: selectors,
        app: z.object({ [KUBERNETES_CAP]: z.array(kubernetesCapRuleSchema) })
          .partial()
          // Other applications' capabilities are allowed and ignored.
          .catchall(z.array(z.unknown()))
          .optional(),
      }).strict(),
    ).optional(),
  }).strict();

const TAG = /^tag:[A-Za-z][A-Za-z0-9-]*$/;
const GROUP = /^group:[A-Za-z0-9][A-Za-z0-9._-]*$/;
const AUTOGROUPS = new Set(["autogroup:member", "autogroup:tagged"]);

/**
 * Parses a policy file. Pure: no I/O.
 *
 * @param text The HuJSON text.
 * @param fileName The name used in errors, e.g. `policy.hujson`.
 * @returns The policy.
 * @throws {PolicyError} For bad syntax, unknown fields, wrong types, bad
 *   actions, undefined groups and malformed selectors, each with
 *   `file:line:column: path: detail`.
 * @example
 * ```ts
 * import { parsePolicy } from "./parse_policy.ts";
 * const policy = parsePolicy(`{
 *   "groups": {"group:eng": ["alice@example.com"]},
 *   "acls": [{"action": "accept", "src": ["group:eng"], "dst": ["tag:k8s-proxy:443"]}],
 * }`, "policy.hujson");
 * if (policy.acls[0]?.line !== 3) throw new Error();
 * ```
 */
export function parsePolicy(text: string, fileName: string): Policy {
  const file = parseHujsonFile(text, fileName, policyFileSchema);
  const raw = file.value;

  const groups = new Map<string, string[]>();
  for (const [name, members] of Object.entries(raw.groups ?? {})) {
    if (!GROUP.test(name)) {
      throw errorAt(
        file,
        ["groups", name],
        `group name ${JSON.stringify(name)} must look like "group:name"`,
      );
    }
    members.forEach((m, i) => {
      if (!m.includes("@")) {
        throw errorAt(
          file,
          ["groups", name, i],
          `group member ${
            JSON.stringify(m)
          } must be a login name like "alice@example.com"`,
        );
      }
    });
    groups.set(name, members);
  }
  for (const tag of Object.keys(raw.tagOwners ?? {})) {
    if (!TAG.test(tag)) {
      throw errorAt(
        file,
        ["tagOwners", tag],
        `tag ${JSON.stringify(tag)} must look like "tag:name"`,
      );
    }
  }

  const acls: AclRule[] = (raw.acls ?? []).map((acl, index) => {
    const at = ["acls", index];
    checkSources(file, groups, at, acl.src);
    return {
      index,
      line: locate(file.root, at).line,
      action: acl.action,
      src: acl.src,
      dst: acl.dst.map((d, i) => parseDst(file, [...at, "dst", i], d)),
    };
  });

  const grants: GrantRule[] = (raw.grants ?? []).map((grant, index) => {
    const at = ["grants", index];
    checkSources(file, groups, at, grant.src);
    const rules = grant.app?.[KUBERNETES_CAP] ?? [];
    return {
      index,
      line: locate(file.root, at).line,
      src: grant.src,
      dst: grant.dst.map((d, i) => parseDst(file, [...at, "dst", i], d)),
      rules: rules.map((r) => ({
        ...(r.impersonate
          ? { impersonate: { groups: r.impersonate.groups ?? [] } }
          : {}),
        ...(r.recorder ? { recorder: r.recorder } : {}),
        ...(r.enforceRecorder !== undefined
          ? { enforceRecorder: r.enforceRecorder }
          : {}),
        ...(r.recordPortForward !== undefined
          ? { recordPortForward: r.recordPortForward }
          : {}),
        ...(r.allowProxySubresources !== undefined
          ? { allowProxySubresources: r.allowProxySubresources }
          : {}),
        ...(r.enableEvents !== undefined
          ? { enableEvents: r.enableEvents }
          : {}),
      })),
    };
  });

  return { fileName, groups, acls, grants };
}

function checkSources(
  file: ParsedHujsonFile<unknown>,
  groups: ReadonlyMap<string, unknown>,
  at: (string | number)[],
  src: string[],
): void {
  src.forEach((s, i) => {
    const path = [...at, "src", i];
    if (s === "*" || AUTOGROUPS.has(s)) return;
    if (s.startsWith("group:")) {
      if (!groups.has(s)) {
        throw errorAt(file, path, `group ${JSON.stringify(s)} is not defined`);
      }
      return;
    }
    if (s.startsWith("tag:")) {
      if (!TAG.test(s)) {
        throw errorAt(
          file,
          path,
          `tag ${JSON.stringify(s)} must look like "tag:name"`,
        );
      }
      return;
    }
    if (s.startsWith("autogroup:")) {
      throw errorAt(
        file,
        path,
        `${
          JSON.stringify(s)
        } is not supported: use "autogroup:member" or "autogroup:tagged"`,
      );
    }
    if (!s.includes("@")) {
      throw errorAt(
        file,
        path,
        `source ${
          JSON.stringify(s)
        } must be "*", a login name, "group:…", "tag:…" or "autogroup:…"`,
      );
    }
  });
}

/**
 * Parses a destination: `*`, `*:PORTS`, `tag:name` or `tag:name:PORTS`, where
 * PORTS is `*` or a comma list of ports and ranges (`443`, `80,443`, `1-1024`).
 */
function parseDst(
  file: ParsedHujsonFile<unknown>,
  path: (string | number)[],
  text: string,
): DstPattern {
  const m = /^(\*|tag:[^:]+)(?::(.+))?$/.exec(text);
  const fail = () =>
    errorAt(
      file,
      path,
      `destination ${
        JSON.stringify(text)
      } must be "*", "*:PORTS", "tag:name" or "tag:name:PORTS"`,
    );
  if (!m) throw fail();
  const [, host, portText] = m;
  if (host !== "*" && !TAG.test(host!)) throw fail();
  const out: DstPattern = { text, ...(host === "*" ? {} : { tag: host }) };
  if (portText === undefined || portText === "*") return out;
  const ports: { from: number; to: number }[] = [];
  for (const part of portText.split(",")) {
    const r = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part);
    const from = Number(r?.[1]);
    const to = r?.[2] === undefined ? from : Number(r[2]);
    if (!r || from < 1 || to > 65535 || to < from) {
      throw errorAt(
        file,
        path,
        `port ${JSON.stringify(part)} in destination ${
          JSON.stringify(text)
        } must be "*", a port or a range like "1-1024"`,
      );
    }
    ports.push({ from, to });
  }
  return { ...out, ports };
}
