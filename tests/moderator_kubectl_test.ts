/**
 * A moderator ends a live `kubectl exec` from the recorder: kubectl prints
 * who ended it and why and exits non-zero; the recording says the same; a
 * viewer cannot. Real kubectl (WebSocket and SPDY), proxy, recorder and
 * simulated cluster.
 */
import assert from "node:assert/strict";
import { interactiveKubectl, startStack } from "./_harness.ts";
import {
  MODERATOR_TOKEN,
  startTestRecorder,
  UPLOADER_TOKEN,
  VIEWER_TOKEN,
} from "./_recorder.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "a moderator ends a live kubectl exec from the recorder; a viewer cannot",
  opts,
  async (t) => {
    const rec = await startTestRecorder();
    const stack = await startStack({
      recorderUrls: [rec.url],
      recorderToken: UPLOADER_TOKEN,
    });
    const terminate = (id: string, token: string, reason: string) =>
      fetch(`${rec.url}/v1/recordings/${id}/terminate`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({ reason }),
      });
    let n = 0;
    try {
      for (
        const [name, env] of [
          ["WebSocket", {}],
          ["SPDY", { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: "false" }],
        ] as [string, Record<string, string>][]
      ) {
        await t.step(name, async () => {
          const k = interactiveKubectl(stack, "alice", [
            "exec",
            "-i",
            "demo",
            "-c",
            "main",
            "--",
            "sh",
            "-c",
            "echo started; cat",
          ], env);
          await k.waitFor("started");
          const live = (await rec.list("status=recording"))[0];
          assert.ok(live, "the live session is listed");
          // A viewer may look but not end it.
          const refused = await terminate(live.id, VIEWER_TOKEN, "nope");
          assert.equal(refused.status, 403);
          await refused.body?.cancel();
          const res = await terminate(
            live.id,
            MODERATOR_TOKEN,
            "policy review",
          );
          assert.equal(res.status, 202, await res.text());
          const done = await k.done();
          assert.notEqual(done.code, 0);
          assert.match(
            done.stdout + done.stderr,
            /execgate: session ended by mod-mallory: policy review/,
          );
          const r = await rec.finished(n++);
          const { manifest } = await rec.read(r.id!);
          assert.equal(manifest.terminated?.by, "mod-mallory");
          assert.equal(manifest.terminated?.reason, "policy review");
          assert.equal(manifest.end?.reason, "terminated");
          // Not live any more: a second attempt says so.
          const again = await terminate(live.id, MODERATOR_TOKEN, "again");
          assert.equal(again.status, 409);
          await again.body?.cancel();
        });
      }
    } finally {
      await stack.close();
      await rec.close();
    }
  },
);
