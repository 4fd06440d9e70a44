/**
 * Memory and CPU of a process from `/proc` (Linux): current and peak resident
 * set size, a peak reset, and CPU time.
 *
 * @module
 */

/** Resident set sizes of a process, in bytes. */
export interface ProcMem {
  /** `VmRSS`: resident now. */
  rss: number;
  /** `VmHWM`: peak resident since start or the last {@linkcode resetPeak}. */
  hwm: number;
}

/**
 * Reads `VmRSS` and `VmHWM` of a process.
 * @param pid Process id.
 * @returns Both in bytes.
 * @throws {Error} The process is gone or the fields are missing.
 */
export async function readMem(pid: number): Promise<ProcMem> {
  const text = await Deno.readTextFile(`/proc/${pid}/status`);
  const field = (name: string) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text);
    if (!m) {
      throw new Error(`Cannot read ${name} of process ${pid}: field missing`);
    }
    return Number(m[1]) * 1024;
  };
  return { rss: field("VmRSS"), hwm: field("VmHWM") };
}

/**
 * Resets a process's peak RSS (`VmHWM`) to its current RSS
 * (`echo 5 > /proc/PID/clear_refs`, Linux ≥ 4.0, own processes only).
 * @param pid Process id.
 * @returns Whether the reset was accepted.
 */
export async function resetPeak(pid: number): Promise<boolean> {
  try {
    await Deno.writeTextFile(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/**
 * CPU time (user + system) a process has used, from `/proc/PID/stat`.
 * @param pid Process id.
 * @returns Seconds.
 */
export async function readCpuSeconds(pid: number): Promise<number> {
  const text = await Deno.readTextFile(`/proc/${pid}/stat`);
  // Fields after the command name (which may hold spaces) start at ")".
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return (utime + stime) / 100; // USER_HZ is 100 on Linux
}

/**
 * Samples a process's RSS every `intervalMs` until stopped; the highest
 * sample complements `VmHWM` when the peak cannot be reset.
 * @param pid Process id.
 * @param intervalMs Sampling period. @default {50}
 * @returns `stop()` resolving with the highest RSS seen, in bytes.
 */
export function sampleRss(
  pid: number,
  intervalMs = 50,
): { stop(): Promise<number> } {
  let max = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        max = Math.max(max, (await readMem(pid)).rss);
      } catch { /* gone */ }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return max;
    },
  };
}
