/**
 * `execgate policy test`: explains what the policy decides for a given
 * caller, without running the proxy.
 *
 * @module
 */

import type { Identity } from "../identity/identity.ts";
import { evaluate, type ProxySelf } from "./evaluate.ts";
import { parsePolicy } from "./parse_policy.ts";
import { PolicyError } from "../config/config_error.ts";

/** The caller to test, as the command line describes it. */
export interface TestCaller {
  /** Login name, e.g. `alice@example.com`. */
  login?: string;
  /**
   * Groups. A name defined in the policy's `groups` (`group:…`) makes the
   * caller count as a member of it; any other name is a group the identity
   * source asserts (mTLS `O`, token file `groups`), impersonated as such.
   */
  groups?: string[];
  /** Tags, for a tagged device. */
  tags?: string[];
  /** Hostname. @default {login's local part, else "test-device"} */
  hostname?: string;
}

/**
 * Evaluates a policy for a caller and explains the outcome in plain text:
 * admitted or not (and why), the impersonated user and groups, the recorders,
 * fail open or closed, and which acl/grant lines (file:line) produced it.
 *
 * @param policyText The policy file's text.
 * @param fileName Its name (shown in the output and errors).
 * @param caller Who is calling.
 * @param proxy The proxy's hostname and tags (and optionally port).
 * @returns The explanation, ending with a newline.
 * @throws {PolicyError} When the policy is invalid.
 * @example
 * ```ts
 * import { explainDecision } from "./explain.ts";
 * const text = explainDecision(
 *   '{"acls": [{"action": "accept", "src": ["*"], "dst": ["*"]}]}', "p.hujson",
 *   { login: "bob@example.com" }, { hostname: "execgate", tags: [] },
 * );
 * if (!text.includes("admitted:  yes")) throw new Error(text);
 * ```
 */
export function explainDecision(
  policyText: string,
  fileName: string,
  caller: TestCaller,
  proxy: ProxySelf,
): string {
  return explain(policyText, fileName, caller, proxy).text;
}

function explain(
  policyText: string,
  fileName: string,
  caller: TestCaller,
  proxy: ProxySelf,
): { text: string; admitted: boolean } {
  const parsed = parsePolicy(policyText, fileName);
  const login = caller.login;
  const memberOf: string[] = [];
  const asserted: string[] = [];
  for (const g of caller.groups ?? []) {
    if (parsed.groups.has(g)) memberOf.push(g);
    else asserted.push(g);
  }
  // Count the caller as a member of the groups given on the command line.
  const groups = new Map(parsed.groups);
  if (login !== undefined) {
    for (const g of memberOf) groups.set(g, [...groups.get(g)!, login]);
  }
  const policy = { ...parsed, groups };
  const tags = caller.tags ?? [];
  const hostname = caller.hostname ?? login?.split("@")[0] ?? "test-device";
  const identity: Identity = {
    hostname,
    nodeId: "policy-test",
    groups: asserted,
    ...(tags.length ? { tags } : {}),
    ...(login !== undefined ? { loginName: login, userId: login } : {}),
  };
  const d = evaluate(policy, identity, proxy);

  const who = login ?? `${hostname} (${tags.join(", ") || "no tags"})`;
  const where = `${proxy.hostname} (${proxy.tags.join(", ") || "no tags"}${
    proxy.port !== undefined ? `, port ${proxy.port}` : ""
  })`;
  const lines = [`${fileName}: ${who} → ${where}`];
  const extra: string[] = [];
  if (login !== undefined && tags.length) extra.push(`tags ${tags.join(", ")}`);
  if (memberOf.length) extra.push(`member of ${memberOf.join(", ")}`);
  if (login === undefined && memberOf.length) {
    extra.push("group membership needs --login");
  }
  if (asserted.length) extra.push(`asserted groups ${asserted.join(", ")}`);
  if (extra.length) lines.push(`  caller:    ${extra.join("; ")}`);

  if (!d.admitted) {
    lines.push(`  admitted:  no: ${d.reason}`);
    lines.push("  result:    the proxy answers 403 Forbidden");
    return { text: lines.join("\n") + "\n", admitted: false };
  }
  lines.push("  admitted:  yes");
  lines.push(`  user:      ${d.user}  (Impersonate-User)`);
  lines.push(
    `  groups:    ${
      d.groups.length ? d.groups.join(", ") : "none"
    }  (Impersonate-Group)`,
  );
  if (d.recorders.length === 0) {
    lines.push("  recorders: none: exec and attach sessions are not recorded");
  } else {
    lines.push(`  recorders: ${d.recorders.join(", ")}`);
    lines.push(
      d.enforceRecorder
        ? "  failure:   fail closed: sessions are refused when no recorder accepts them (enforceRecorder)"
        : "  failure:   fail open: sessions go on unrecorded when no recorder accepts them",
    );
    if (d.allowProxySubresources) {
      lines.push(
        "  proxy:     .../proxy subresources allowed, unrecorded (allowProxySubresources)",
      );
    }
  }
  lines.push("  matched:");
  for (const m of d.matched) {
    lines.push(
      `    ${m.kind.padEnd(5)} #${m.index}  ${fileName}:${m.line}`,
    );
  }
  if (!d.matched.some((m) => m.kind === "grant")) {
    lines.push(
      "    (no grant with tailscale.com/cap/kubernetes rules applies)",
    );
  }
  return { text: lines.join("\n") + "\n", admitted: true };
}

/** The parsed flags of `execgate policy test`. */
export interface PolicyTestArgs {
  /** `--help` was given. */
  help: boolean;
  /** `--policy FILE`. */
  policy: string;
  /** `--login NAME`. */
  login?: string;
  /** `--group NAME`, repeatable. */
  groups: string[];
  /** `--tag tag:NAME`, repeatable. */
  tags: string[];
  /** `--hostname NAME`. */
  hostname?: string;
  /** `--proxy-hostname NAME`. @default {"execgate"} */
  proxyHostname: string;
  /** `--proxy-tag tag:NAME`, repeatable. */
  proxyTags: string[];
  /** `--proxy-port N`. */
  proxyPort?: number;
}

/** Usage text of `execgate policy test`. */
export const POLICY_TEST_USAGE =
  `Usage: execgate policy test --policy FILE (--login NAME | --tag tag:NAME ...) [options]

Explains what the policy decides for one caller of the proxy.

Caller:
  --login NAME           login name, e.g. alice@example.com
  --group NAME           a policy group (group:…) the caller is a member of,
                         or a group the identity source asserts; repeatable
  --tag tag:NAME         a tag of the calling device; repeatable
  --hostname NAME        the calling device's hostname
Proxy:
  --proxy-hostname NAME  the proxy's hostname (default: execgate)
  --proxy-tag tag:NAME   a tag of the proxy; repeatable
  --proxy-port N         the port the caller connects to (default: not checked)

Exit status: 0 admitted, 1 refused, 2 usage or policy error.
`;

/**
 * Parses the flags of `execgate policy test` (after `policy test`).
 * Accepts `--flag value` and `--flag=value`.
 *
 * @param argv The arguments.
 * @returns The parsed flags.
 * @throws {TypeError} On an unknown flag, a missing value, a missing
 *   `--policy`, or neither `--login` nor `--tag`.
 * @example
 * ```ts
 * import { parsePolicyTestArgs } from "./explain.ts";
 * const a = parsePolicyTestArgs(["--policy", "p.hujson", "--login=alice@example.com", "--proxy-tag", "tag:k8s-proxy"]);
 * if (a.login !== "alice@example.com" || a.proxyTags[0] !== "tag:k8s-proxy") throw new Error();
 * ```
 */
export function parsePolicyTestArgs(argv: readonly string[]): PolicyTestArgs {
  const out: PolicyTestArgs = {
    help: false,
    policy: "",
    groups: [],
    tags: [],
    proxyHostname: "execgate",
    proxyTags: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--help" || arg === "-h") {
      out.help = true;
      continue;
    }
    const eq = arg.indexOf("=");
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (eq > 0) return arg.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined || v.startsWith("--")) {
        throw new TypeError(`Flag ${JSON.stringify(flag)} needs a value`);
      }
      return v;
    };
    switch (flag) {
      case "--policy":
        out.policy = value();
        break;
      case "--login":
        out.login = value();
        break;
      case "--group":
        out.groups.push(value());
        break;
      case "--tag":
        out.tags.push(tagValue(flag, value()));
        break;
      case "--hostname":
        out.hostname = value();
        break;
      case "--proxy-hostname":
        out.proxyHostname = value();
        break;
      case "--proxy-tag":
        out.proxyTags.push(tagValue(flag, value()));
        break;
      case "--proxy-port": {
        const v = value();
        const n = Number(v);
        if (!/^\d+$/.test(v) || n < 1 || n > 65535) {
          throw new TypeError(
            `Flag "--proxy-port" needs a port from 1 to 65535, got ${
              JSON.stringify(v)
            }`,
          );
        }
        out.proxyPort = n;
        break;
      }
      default:
        throw new TypeError(`Unknown flag ${JSON.stringify(arg)}`);
    }
  }
  if (out.help) return out;
  if (!out.policy) throw new TypeError('Flag "--policy FILE" is required');
  if (out.login === undefined && out.tags.length === 0) {
    throw new TypeError(
      'Give the caller with "--login NAME" or "--tag tag:NAME"',
    );
  }
  return out;
}

function tagValue(flag: string, v: string): string {
  if (!/^tag:[A-Za-z][A-Za-z0-9-]*$/.test(v)) {
    throw new TypeError(
      `Flag ${JSON.stringify(flag)} needs a tag like "tag:name", got ${
        JSON.stringify(v)
      }`,
    );
  }
  return v;
}

/**
 * Runs `execgate policy test` end to end: parses flags, reads the policy,
 * explains. The caller prints `output` and exits with `exitCode`.
 *
 * @param argv Arguments after `policy test`.
 * @param readTextFile How to read the policy file (e.g. `Deno.readTextFile`).
 * @returns Exit code (0 admitted, 1 refused, 2 usage or policy error) and
 *   the text to print (to stdout when 0 or 1, to stderr when 2).
 */
export async function runPolicyTest(
  argv: readonly string[],
  readTextFile: (path: string) => Promise<string>,
): Promise<{ exitCode: 0 | 1 | 2; output: string }> {
  let args: PolicyTestArgs;
  try {
    args = parsePolicyTestArgs(argv);
  } catch (e) {
    return {
      exitCode: 2,
      output: `${(e as Error).message}\n\n${POLICY_TEST_USAGE}`,
    };
  }
  if (args.help) return { exitCode: 0, output: POLICY_TEST_USAGE };
  try {
    const text = await readTextFile(args.policy);
    const { text: output, admitted } = explain(text, args.policy, {
      ...(args.login !== undefined ? { login: args.login } : {}),
      groups: args.groups,
      tags: args.tags,
      ...(args.hostname !== undefined ? { hostname: args.hostname } : {}),
    }, {
      hostname: args.proxyHostname,
      tags: args.proxyTags,
      ...(args.proxyPort !== undefined ? { port: args.proxyPort } : {}),
    });
    return { exitCode: admitted ? 0 : 1, output };
  } catch (e) {
    if (e instanceof PolicyError) {
      return { exitCode: 2, output: e.message + "\n" };
    }
    return {
      exitCode: 2,
      output: `Cannot read policy file ${JSON.stringify(args.policy)}: ${
        (e as Error).message
      }\n`,
    };
  }
}
