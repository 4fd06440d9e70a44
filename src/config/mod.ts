/**
 * Reading the files execgate reads (proxy config, recorder config, token
 * file, policy): one HuJSON parser with positions (`hujson.ts`), zod
 * validation whose every problem reads `FILE:LINE:COLUMN: PATH: PROBLEM`
 * (`hujson_file.ts`), and that error (`config_error.ts`).
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { ConfigError, parseHujsonFile } from "./mod.ts";
 * const schema = z.object({ port: z.number() }).strict();
 * try {
 *   parseHujsonFile('{\n  // the port\n  "port": "80",\n}', "x.hujson", schema);
 *   throw new Error("not refused");
 * } catch (e) {
 *   if (!(e instanceof ConfigError)) throw e;
 *   if (e.message !== "x.hujson:3:11: port: expected number, got string") throw e;
 * }
 * ```
 *
 * @module
 */

export { ConfigError, formatJsonPath, PolicyError } from "./config_error.ts";
export {
  type HujsonMember,
  type HujsonNode,
  HujsonSyntaxError,
  locate,
  parseHujson,
  type Position,
  toPlainValue,
} from "./hujson.ts";
export {
  errorAt,
  type ParsedHujsonFile,
  parseHujsonFile,
  type ParseHujsonFileOptions,
} from "./hujson_file.ts";
