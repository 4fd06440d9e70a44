/**
 * Joins an identity source and the policy into the proxy's
 * {@linkcode Authorize} step: 401 without a valid identity, 403 without an
 * accepting acl.
 *
 * @module
 */

import type { Identity, IdentitySource } from "../identity/identity.ts";
import type { Decision } from "../policy/decision.ts";
import type { Authorize } from "./proxy.ts";

/**
 * Builds the authorize step.
 * @param source Identity source.
 * @param decide Evaluates the current policy for an identity.
 * @returns The step.
 */
export function createAuthorize(
  source: IdentitySource,
  decide: (identity: Identity) => Decision,
): Authorize {
  return async function authorize(peer) {
    let identity;
    try {
      identity = await source.identify(peer);
    } catch (e) {
      return {
        status: 503,
        message: `execgate cannot identify callers right now: ${
          (e as Error).message
        }`,
      };
    }
    if (!identity) {
      return {
        status: 401,
        message:
          `Unauthorized: no valid ${source.name} identity was presented to execgate`,
      };
    }
    const decision = decide(identity);
    if (!decision.admitted) {
      const who = identity.loginName ?? identity.hostname;
      return {
        status: 403,
        message: `forbidden: "${who}" may not use this execgate proxy: ${
          decision.reason ?? "no acl accepts it"
        }`,
      };
    }
    return { identity, decision };
  };
}
