/**
 * Describes the machine a benchmark ran on: CPUs, memory, CPU model, Deno,
 * kubectl and kernel versions.
 *
 * @module
 */

/** Facts about the machine. */
export interface Machine {
  nproc: number;
  memTotalBytes: number;
  cpuModel: string;
  deno: string;
  v8: string;
  kernel: string;
  kubectl: string;
  fdLimit: string;
}

async function run(cmd: string, args: string[]): Promise<string> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      stdout: "piped",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(out.stdout).trim();
  } catch {
    return "unknown";
  }
}

/**
 * Reads the machine's facts (Linux).
 * @returns The facts; unknown ones say `unknown`.
 */
export async function describeMachine(): Promise<Machine> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? "unknown";
  const memKb = Number(/^MemTotal:\s+(\d+) kB/m.exec(meminfo)?.[1] ?? NaN);
  const kubectl = await run("/usr/bin/kubectl", [
    "version",
    "--client",
    "-o",
    "json",
  ]);
  let kubectlVersion = "unknown";
  try {
    kubectlVersion = JSON.parse(kubectl).clientVersion.gitVersion;
  } catch { /* keep unknown */ }
  return {
    nproc: Number(await run("nproc", [])) || navigator.hardwareConcurrency,
    memTotalBytes: memKb * 1024,
    cpuModel: model,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    kernel: await run("uname", ["-sr"]),
    kubectl: kubectlVersion,
    fdLimit: await run("sh", ["-c", "ulimit -n"]),
  };
}
