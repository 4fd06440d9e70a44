/**
 * Failover mid-session with no byte lost: two recorders, the first a real
 * process that is killed (SIGKILL) or stopped (SIGSTOP) while a fail-closed
 * `kubectl exec` runs through the proxy. The session goes on with the
 * second recorder from the last acknowledged byte, and kubectl's output
 * equals the recording byte for byte: one joined recording when the two
 * recorders share storage, two parts naming each other's place otherwise.
 * WebSocket and SPDY.
 */
import assert from "node:assert/strict";
import { interactiveKubectl, startStack } from "./_harness.ts";
import {
  spawnRecorderProcess,
  UPLOADER_TOKEN,
  VIEWER_TOKEN,
} from "./_recorder.ts";
import { parseRecorderConfig, serveRecorder } from "../src/recorder/mod.ts";
import { DiskStorage } from "../src/recorder/disk_storage.ts";
import { parseRecordingId, partId } from "../src/recorder/recording_id.ts";
import { RecordDecoder, RecordType } from "../src/protocol/records.ts";
import { concatBytes } from "../src/bytes.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

function recorderConfig(dir: string) {
  return {
    listen: { hostname: "127.0.0.1", port: 0 },
    auth: { uploaderTokens: [UPLOADER_TOKEN], viewerTokens: [VIEWER_TOKEN] },
    storage: { kind: "disk", dir },
    ackIntervalMs: 100,
  };
}

/** Recorder A: a real process, to be killed or stopped. */
async function spawnRecorder(dir: string) {
  const file = `${dir}.json`;
  await Deno.writeTextFile(file, JSON.stringify(recorderConfig(dir)));
  return await spawnRecorderProcess(file);
}

/** The stdout records of a stored record stream, up to `upTo` bytes. */
function stdoutOf(records: Uint8Array, upTo = Infinity): Uint8Array {
  const d = new RecordDecoder();
  const out: Uint8Array[] = [];
  for (const r of d.push(records.subarray(0, Math.min(upTo, records.length)))) {
    if (r.type === RecordType.STDOUT) out.push(r.payload.slice());
  }
  return concatBytes(out);
}

const view = async (url: string, path: string) => {
  const res = await fetch(`${url}${path}`, {
    headers: { authorization: `Bearer ${VIEWER_TOKEN}` },
  });
  assert.equal(res.status, 200, `GET ${path}: ${res.status}`);
  return res;
};

Deno.test(
  "a fail-closed kubectl exec survives its recorder dying or stalling: the next recorder takes the rest, no byte lost",
  opts,
  async (t) => {
    const cases: {
      name: string;
      env: Record<string, string>;
      signal: "SIGKILL" | "SIGSTOP";
      shared: boolean;
    }[] = [
      {
        name: "WebSocket, killed, shared storage",
        env: {},
        signal: "SIGKILL",
        shared: true,
      },
      {
        name: "SPDY, killed, separate storage",
        env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: "false" },
        signal: "SIGKILL",
        shared: false,
      },
      {
        name: "WebSocket, stopped, separate storage",
        env: {},
        signal: "SIGSTOP",
        shared: false,
      },
      {
        name: "SPDY, stopped, shared storage",
        env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: "false" },
        signal: "SIGSTOP",
        shared: true,
      },
    ];
    for (const c of cases) {
      await t.step(c.name, async () => {
        const root = await Deno.makeTempDir({ prefix: "execgate-failover-" });
        const dirA = `${root}/a`;
        const dirB = c.shared ? dirA : `${root}/b`;
        const a = await spawnRecorder(dirA);
        const b = await serveRecorder(
          parseRecorderConfig(recorderConfig(dirB)),
        );
        const stack = await startStack({
          recorderUrls: [a.url, b.url],
          recorderToken: UPLOADER_TOKEN,
          // SIGSTOP: A stops acknowledging; the proxy notices within this.
          recording: { ackTimeoutMs: 1500, connectTimeoutMs: 1500 },
        });
        try {
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
          ], c.env);
          await k.waitFor("started");
          // Some output recorded by A, then A goes away mid-session.
          const before = Array.from({ length: 50 }, (_, i) => `before ${i}`);
          assert.ok(await k.write(before.join("\n") + "\n"));
          await k.waitFor("before 49");
          a.child.kill(c.signal);
          // The session goes on: what kubectl sees now B acknowledged.
          const after = Array.from({ length: 50 }, (_, i) => `after ${i}`);
          assert.ok(await k.write(after.join("\n") + "\n"));
          await k.waitFor("after 49");
          await k.closeStdin();
          const done = await k.done();
          assert.equal(done.code, 0, done.stderr);
          const printed = new TextEncoder().encode(done.stdout);
          assert.ok(done.stdout.includes("after 49"));

          const failedOver = stack.logs.find((l) =>
            /failed over to the next recorder/.test(String(l.msg))
          );
          assert.ok(failedOver, "the proxy logged the failover");
          assert.equal(failedOver.to, b.url);

          // B has the rest as part 2 of the session.
          const listed = (await (await view(b.url, "/v1/recordings")).json())
            .items as { id: string; status: string; parts?: unknown[] }[];
          if (c.shared) {
            // One recording: the first part's id, both parts joined.
            assert.equal(listed.length, 1, JSON.stringify(listed));
            const one = listed[0]!;
            assert.equal(parseRecordingId(one.id)?.part, undefined);
            const m = await (await view(b.url, `/v1/recordings/${one.id}`))
              .json();
            assert.equal(m.status, "complete", m.partialReason);
            assert.equal(m.parts.length, 2);
            assert.equal(m.parts[1].failover.from, a.url);
            const stdout = new Uint8Array(
              await (await view(b.url, `/v1/recordings/${one.id}/stdout`))
                .arrayBuffer(),
            );
            assert.deepEqual(stdout, printed);
            const cast =
              await (await view(b.url, `/v1/recordings/${one.id}/cast`))
                .text();
            assert.match(cast, /before 49/);
            assert.match(cast, /after 49/);
            // The recording's page says where it failed over.
            const page = await (await fetch(`${b.url}/ui/r/${one.id}`, {
              headers: { cookie: `execgate_viewer=${VIEWER_TOKEN}` },
            })).text();
            assert.match(page, /Failed over/);
            assert.ok(page.includes(`${one.id}~2`), "the page names part 2");
          } else {
            assert.equal(listed.length, 1, JSON.stringify(listed));
            const part2 = listed[0]!;
            const pid = parseRecordingId(part2.id)!;
            assert.equal(pid.part, 2);
            const m = await (await view(b.url, `/v1/recordings/${part2.id}`))
              .json();
            assert.equal(m.status, "complete", m.partialReason);
            assert.match(m.unverified, /not in this recorder's storage/);
            const cont = m.header.continues;
            assert.equal(cont.recorder, a.url);
            assert.equal(cont.recording, partId(pid, 1).id);
            // Part 1 is in A's storage (A is dead or stopped: read its files).
            const first = partId(pid, 1);
            const evidence = await Deno.readFile(
              `${dirA}/${first.year}/${first.month}/${first.day}/${first.sessionId}.records`,
            );
            const own = new Uint8Array(
              await (await view(b.url, `/v1/recordings/${part2.id}/stdout`))
                .arrayBuffer(),
            );
            // Part 1 up to where part 2 starts, then part 2: kubectl's bytes.
            assert.deepEqual(
              concatBytes([stdoutOf(evidence, cont.offset), own]),
              printed,
            );
            // And A's own storage names the same session start.
            const st = new DiskStorage({ dir: dirA });
            assert.ok(await st.get(first));
            await st.close();

            // With `peers`, each recorder asks the other for the parts it
            // lacks: A (restarted over its folder) and B both serve the
            // whole session under the first part's id, naming both parts.
            if (c.signal === "SIGSTOP") {
              a.child.kill("SIGKILL");
              await a.child.status;
            }
            const peer = (url: string) => [{ url, token: VIEWER_TOKEN }];
            const a2 = await serveRecorder(parseRecorderConfig({
              ...recorderConfig(dirA),
              peers: peer(b.url),
            }));
            const b2 = await serveRecorder(parseRecorderConfig({
              ...recorderConfig(dirB),
              peers: peer(a2.url),
            }));
            try {
              for (const r of [a2, b2]) {
                const j =
                  await (await view(r.url, `/v1/recordings/${first.id}`))
                    .json();
                assert.equal(j.id, first.id);
                assert.equal(j.parts.length, 2, JSON.stringify(j.parts));
                assert.equal(j.parts[1].id, part2.id);
                assert.equal(j.parts[1].failover.from, a.url);
                assert.equal(j.status, "complete", j.partialReason);
                assert.match(j.unverified, /joined at read time/);
                const held = r === a2
                  ? j.parts[1].recorder
                  : j.parts[0].recorder;
                assert.equal(held, r === a2 ? b.url : a2.url);
                const whole = new Uint8Array(
                  await (await view(r.url, `/v1/recordings/${first.id}/stdout`))
                    .arrayBuffer(),
                );
                assert.deepEqual(whole, printed);
                const cast =
                  await (await view(r.url, `/v1/recordings/${first.id}/cast`))
                    .text();
                assert.match(cast, /before 49/);
                assert.match(cast, /after 49/);
              }
              // A's page names part 2; B's page of part 2 links the whole.
              const cookie = { cookie: `execgate_viewer=${VIEWER_TOKEN}` };
              const pageA = await (await fetch(`${a2.url}/ui/r/${first.id}`, {
                headers: cookie,
              })).text();
              assert.ok(pageA.includes(part2.id), "A's page names part 2");
              assert.ok(pageA.includes(`held by ${b.url}`));
              const pageB = await (await fetch(`${b2.url}/ui/r/${part2.id}`, {
                headers: cookie,
              })).text();
              assert.ok(
                pageB.includes(`href="/ui/r/${first.id}"`),
                "B's page of part 2 links the whole session",
              );
              // A peer asked for its own part answers unjoined.
              const own = await (await view(
                a2.url,
                `/v1/recordings/${first.id}?own=1`,
              )).json();
              assert.equal(own.parts, undefined);
              assert.equal(own.status, "partial");
            } finally {
              await b2.close();
              await a2.close();
            }
          }
        } finally {
          try {
            if (c.signal === "SIGSTOP") a.child.kill("SIGKILL");
          } catch { /* gone */ }
          await a.child.status;
          await stack.close();
          await b.close();
          await Deno.remove(root, { recursive: true }).catch(() => {});
        }
      });
    }
  },
);
