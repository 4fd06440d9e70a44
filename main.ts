/**
 * The `execgate` command.
 *
 * ```
 * execgate proxy --config proxy.hujson      run the recording API proxy
 * execgate recorder --config recorder.hujson run the recorder service
 * execgate policy test --policy FILE …      explain what the policy decides
 * ```
 *
 * @module
 */

import { loadProxyConfig } from "./src/proxy/config.ts";
import { startProxy } from "./src/proxy/start.ts";
import { openRecordings } from "./src/proxy/open_recordings.ts";
import {
  loadRecorderConfig,
  reindexRecorder,
  runRecorder,
} from "./src/recorder/mod.ts";
import { runPolicyTest } from "./src/policy/mod.ts";
import {
  runKeygen,
  runVerify,
} from "./src/recorder/integrity/verify_command.ts";

const USAGE = `Usage:
  execgate proxy --config FILE       Run the proxy (config: see README "Proxy configuration").
  execgate recorder --config FILE    Run the recorder (config: see README "Recorder").
  execgate recorder reindex --config FILE
                                     Rebuild the recorder's index from its storage.
  execgate recorder keygen --out PREFIX
                                     Make a signing key pair (PREFIX.key, PREFIX.pub).
  execgate policy test --policy FILE [--login NAME] [--group G]... [--tag T]...
                                     Explain the decision for one caller.
  execgate verify RECORDING [--key PUB]... [--cast FILE]
                                     Check a recording's chain, signature and views
                                     (a disk path, a bundle, or s3://bucket/…).
  execgate help                      This text.

The proxy's config file may also come from EXECGATE_CONFIG, the recorder's
from EXECGATE_RECORDER_CONFIG.`;

function flagValue(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i >= 0) return args[i + 1];
  const eq = args.find((a) => a.startsWith(name + "="));
  return eq?.slice(name.length + 1);
}

async function readConfig(args: string[]): Promise<[string, string]> {
  const file = flagValue(args, "--config") ?? Deno.env.get("EXECGATE_CONFIG");
  if (!file) {
    throw new Error(
      "no config file: pass --config FILE or set EXECGATE_CONFIG",
    );
  }
  return [file, await Deno.readTextFile(file)];
}

function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
      Deno.addSignalListener(sig, () => resolve(sig));
    }
  });
}

async function main(args: string[]): Promise<number> {
  const [cmd, ...rest] = args;
  switch (cmd) {
    case "proxy": {
      const [file, text] = await readConfig(rest);
      const proxy = await startProxy(loadProxyConfig(text, file), {
        openTap: openRecordings,
      });
      await waitForSignal();
      await proxy.close();
      return 0;
    }
    case "verify": {
      const r = await runVerify(rest, Deno.env.toObject());
      console.log(r.output);
      return r.exitCode;
    }
    case "recorder": {
      if (rest[0] === "keygen") {
        const r = await runKeygen(rest.slice(1));
        console.log(r.output);
        return r.exitCode;
      }
      const file = flagValue(rest, "--config") ??
        Deno.env.get("EXECGATE_RECORDER_CONFIG");
      // Without a file, EXECGATE_RECORDER_* variables alone configure it.
      const config = loadRecorderConfig(
        file ? await Deno.readTextFile(file) : "{}",
        file ?? "(no config file)",
        Deno.env.toObject(),
      );
      if (rest[0] === "reindex") {
        console.log(await reindexRecorder(config));
        return 0;
      }
      await runRecorder(config);
      return 0;
    }
    case "policy": {
      if (rest[0] !== "test") break;
      const r = await runPolicyTest(rest.slice(1), (p) => Deno.readTextFile(p));
      console.log(r.output);
      return r.exitCode;
    }
    case "help":
    case "--help":
    case "-h":
      console.log(USAGE);
      return 0;
  }
  console.error(USAGE);
  return 2;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`execgate: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
