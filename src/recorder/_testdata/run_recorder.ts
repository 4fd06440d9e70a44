/**
 * Runs a recorder from a JSON config given as the first argument and prints
 * `{"url": …}` once listening. Used by tests that kill a recorder hard.
 *
 * @module
 */

import { parseRecorderConfig } from "../config.ts";
import { serveRecorder } from "../serve.ts";

const served = await serveRecorder(
  parseRecorderConfig(JSON.parse(Deno.args[0] ?? "{}")),
);
console.log(JSON.stringify({ url: served.url }));
await served.finished;
