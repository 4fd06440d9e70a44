/**
 * `pods/attach` over a channel WebSocket: join a session to a container's
 * running main process. Output from the moment of attaching goes to the
 * client; stdin and resizes go to the process. The session ends with a
 * `Success` status when the process exits (the exit code is in the pod's
 * status, where `kubectl run` reads it) or when the client leaves; a client
 * closing stdin closes the process's stdin only with `stdinOnce`.
 *
 * @module
 */

import {
  CHANNEL_STDERR,
  CHANNEL_STDIN,
  CHANNEL_STDOUT,
} from "../k8s/constants.ts";
import { SUCCESS_STATUS } from "../k8s/status.ts";
import type { ChannelSocket } from "./channel_socket.ts";
import { clientReady } from "./exec_session.ts";
import type { RunningContainer } from "./running_container.ts";

/** Flags of the attach request. */
export interface AttachRequest {
  /** `tty=true`. */
  tty: boolean;
  /** `stdin=true`. */
  stdin: boolean;
  /** `stdout=true`. */
  stdout: boolean;
  /** `stderr=true`. */
  stderr: boolean;
}

/**
 * Runs one attach session to its end.
 * @param ch The upgraded connection.
 * @param container The running container.
 * @param req Flags.
 * @param startDelayMs Longest wait for the client's first message.
 */
export async function runAttachSession(
  ch: ChannelSocket,
  container: RunningContainer,
  req: AttachRequest,
  startDelayMs: number,
): Promise<void> {
  await clientReady(ch, startDelayMs, req.tty && container.tty);
  if (ch.isClosed) return;
  const detach = container.attach({
    write(stream, data) {
      if (stream === 1 && !req.stdout) return true;
      if (stream === 2 && !req.stderr) return true;
      return ch.send(stream === 1 ? CHANNEL_STDOUT : CHANNEL_STDERR, data);
    },
    onDrain: (fn) => ch.onDrain(fn),
  });
  let blocked = false;
  ch.start({
    stdin(data) {
      if (!req.stdin) return;
      const ok = container.writeStdin(data, () => {
        blocked = false;
        ch.resumeInput();
      });
      if (!ok && !blocked) {
        blocked = true;
        ch.pauseInput();
      }
    },
    resize(cols, rows) {
      container.resize(cols, rows);
    },
    closeChannel(channel) {
      if (channel === CHANNEL_STDIN && container.stdinOnce) {
        container.closeStdin();
      }
    },
  });
  const ended = await Promise.race([
    container.exited.then(() => "exited" as const),
    ch.closed.then(() => "client" as const),
  ]);
  detach();
  if (ended === "exited") ch.finish(SUCCESS_STATUS);
  else if (container.stdinOnce && req.stdin) container.closeStdin();
}
