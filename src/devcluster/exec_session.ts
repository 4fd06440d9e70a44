/**
 * `pods/exec` over a channel WebSocket: run a command in the pod's scratch
 * directory and join its stdio to the channels.
 *
 * The process starts when the client has sent its first message (with a
 * TTY: its first resize) or after `startDelayMs`, whichever comes first. client-go can drop output that
 * arrives right after the 101 (`Unknown stream id 1, discarding message`):
 * this gives it a moment. With a TTY the first resize is known before the
 * process starts, so the pty begins with the client's size.
 *
 * Back-pressure both ways: a full socket pauses the process's output; a full
 * stdin pipe pauses reading from the socket.
 *
 * @module
 */

import type { Readable } from "node:stream";
import { exitCodeStatus, SUCCESS_STATUS } from "../k8s/status.ts";
import {
  CHANNEL_STDERR,
  CHANNEL_STDIN,
  CHANNEL_STDOUT,
} from "../k8s/constants.ts";
import type { ChannelSocket } from "./channel_socket.ts";
import {
  type ContainerProcess,
  spawnContainerProcess,
} from "./container_process.ts";

/** What to run, from the exec request's query. */
export interface ExecRequest {
  /** argv (`command=` values). */
  argv: string[];
  /** Working directory. */
  cwd: string;
  /** Extra environment. */
  env: Record<string, string>;
  /** `stdin=true`. */
  stdin: boolean;
  /** `stdout=true`. */
  stdout: boolean;
  /** `stderr=true`. */
  stderr: boolean;
  /** `tty=true`. */
  tty: boolean;
}

/**
 * Longest wait for the first resize of a TTY session. kubectl always sends
 * one at the start, but from another goroutine than stdin, so under load its
 * stdin can come first; input written to the pty before the size would run
 * at the old size. Only a client that never sends a resize waits this long.
 */
export const TTY_RESIZE_WAIT_MS = 2000;

/**
 * Waits until the client is ready for output: its first message, at most
 * `ms`; with a TTY its first resize, at most `max(ms, TTY_RESIZE_WAIT_MS)`.
 * @param ch The channel socket.
 * @param ms Longest wait without a TTY.
 * @param tty Wait for the first resize rather than any message.
 */
export async function clientReady(
  ch: ChannelSocket,
  ms: number,
  tty = false,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    tty ? ch.firstResize : ch.firstMessage,
    new Promise<void>((
      r,
    ) => (timer = setTimeout(r, tty ? Math.max(ms, TTY_RESIZE_WAIT_MS) : ms))),
  ]);
  clearTimeout(timer);
}

/**
 * Sends a readable's bytes on a channel, pausing it while the socket is full.
 * @param readable Source.
 * @param ch Channel socket.
 * @param channel Channel id; `undefined` discards the bytes.
 */
export function pumpToChannel(
  readable: Readable,
  ch: ChannelSocket,
  channel: number | undefined,
): void {
  readable.on("data", (chunk: Uint8Array) => {
    if (channel === undefined) return;
    if (!ch.send(channel, chunk)) {
      readable.pause();
      ch.onDrain(() => readable.resume());
    }
  });
}

/**
 * Runs one exec session to its end: status on channel 3, then close. When
 * the client goes away first, the process is killed.
 * @param ch The upgraded connection.
 * @param req The command and flags.
 * @param startDelayMs Longest wait for the client's first message.
 */
export async function runExecSession(
  ch: ChannelSocket,
  req: ExecRequest,
  startDelayMs: number,
): Promise<void> {
  await clientReady(ch, startDelayMs, req.tty);
  if (ch.isClosed) return;
  // Set once the process starts; handlers run before that hold their input.
  const started: { proc?: ContainerProcess } = {};
  let size: { cols: number; rows: number } | undefined;
  const early: Uint8Array[] = [];
  let stdinClosed = false;
  let stdinBlocked = false;
  const writeStdin = (data: Uint8Array) => {
    const stdin = started.proc?.stdin;
    if (!stdin || stdin.writableEnded) return;
    if (!stdin.write(data) && !stdinBlocked) {
      stdinBlocked = true;
      ch.pauseInput();
      stdin.once("drain", () => {
        stdinBlocked = false;
        ch.resumeInput();
      });
    }
  };
  ch.start({
    stdin(data) {
      if (started.proc) writeStdin(data);
      else early.push(data);
    },
    resize(cols, rows) {
      size = { cols, rows };
      started.proc?.resize(cols, rows);
    },
    closeChannel(channel) {
      if (channel !== CHANNEL_STDIN) return;
      stdinClosed = true;
      started.proc?.stdin?.end();
    },
  });
  const running = spawnContainerProcess({
    argv: req.argv,
    cwd: req.cwd,
    env: req.env,
    tty: req.tty,
    stdin: req.stdin,
    size: size ?? { cols: 80, rows: 24 },
  });
  started.proc = running;
  pumpToChannel(running.stdout, ch, req.stdout ? CHANNEL_STDOUT : undefined);
  if (running.stderr) {
    pumpToChannel(running.stderr, ch, req.stderr ? CHANNEL_STDERR : undefined);
  }
  for (const d of early) writeStdin(d);
  if (stdinClosed) running.stdin?.end();
  let finished = false;
  ch.closed.then(() => {
    if (!finished) running.kill();
  });
  const code = await running.exited;
  finished = true;
  ch.finish(code === 0 ? SUCCESS_STATUS : exitCodeStatus(code));
}
