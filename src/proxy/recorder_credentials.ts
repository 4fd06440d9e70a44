/**
 * How the proxy talks to its recorders, from `recorderAuth`: the uploader
 * token (inline or from its file) and the `fetch` (one raw HTTP/1.1
 * connection per upload, `http1_fetch.ts`, trusting `caFile` when set).
 * Read once each by the recording opener and the API events, which upload
 * with the same credentials.
 *
 * @module
 */

import { http1Fetch } from "../adapter/deno/http1_fetch.ts";
import type { ProxyConfig } from "./config.ts";

/** Seams of {@linkcode recorderCredentials}. */
export interface RecorderCredentialsDeps {
  /** Reads `recorderAuth`'s token and CA files. @default {Deno.readTextFile} */
  readTextFile?: (path: string) => Promise<string>;
  /** Fetch towards recorders. @default {http1Fetch, trusting `recorderAuth.caFile`} */
  fetch?: typeof fetch;
}

/**
 * The uploader token and the `fetch` towards recorders.
 * @param config Resolved proxy configuration.
 * @param deps Seams.
 * @returns The token (undefined when none is configured) and the fetch.
 */
export async function recorderCredentials(
  config: ProxyConfig,
  deps: RecorderCredentialsDeps = {},
): Promise<{ token: string | undefined; fetch: typeof fetch }> {
  const read = deps.readTextFile ?? ((p: string) => Deno.readTextFile(p));
  const auth = config.recorderAuth;
  const token = auth.token ??
    (auth.tokenFile ? (await read(auth.tokenFile)).trim() : undefined);
  const doFetch = deps.fetch ??
    http1Fetch(auth.caFile ? { caCerts: [await read(auth.caFile)] } : {});
  return { token, fetch: doFetch };
}
