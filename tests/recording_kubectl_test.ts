/**
 * Session recording with real kubectl through the proxy: what is recorded,
 * and the failure policy (fail closed / fail open) at start and midway.
 */
import assert from "node:assert/strict";
import { concatBytes } from "../src/bytes.ts";
import { RecordType } from "../src/protocol/records.ts";
import { startFakeRecorder } from "../src/testing/fake_recorder.ts";
import {
  interactiveKubectl,
  kubectl,
  kubectlPty,
  startStack,
} from "./_harness.ts";
import {
  allStoredText,
  asciinemaAccepts,
  parseCast,
  startTestRecorder,
  UPLOADER_TOKEN,
} from "./_recorder.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function sha256(text: string): Promise<string> {
  const d = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(text),
  );
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/**
 * The session's recorded output is exactly what kubectl's terminal showed
 * of it (kubectl adds only its own notes around it, such as "If you don't
 * see a command prompt…"), the header names the caller, and asciinema
 * plays the file.
 */
async function assertRecordedWhatKubectlShowed(shown: string, cast: string) {
  const { header, output } = parseCast(cast);
  assert.ok(output.length > 0);
  assert.ok(
    shown.includes(output),
    `recorded ${JSON.stringify(output)}\nshown ${JSON.stringify(shown)}`,
  );
  assert.equal(header.srcNodeUser, "alice@example.com");
  assert.equal(header.srcNode, "alice-laptop");
  assert.equal(header.tty, true);
  assert.equal(header.proxy, "execgate-test");
  const play = await asciinemaAccepts(cast);
  assert.ok(play.ok, play.text);
}

/** A port nothing listens on. */
function closedPortUrl(): string {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return `http://127.0.0.1:${port}`;
}

Deno.test(
  "recorded sessions: exec, TTY exec with resize, attach, debug, run -it",
  opts,
  async (t) => {
    const rec = await startTestRecorder();
    const stack = await startStack({
      recorderUrls: [rec.url],
      recorderToken: UPLOADER_TOKEN,
    });
    let uploads = 0;
    const next = async () => {
      const r = await rec.finished(uploads++);
      assert.equal(r.outcome, "complete", r.reason);
      return await rec.read(r.id!);
    };
    try {
      await t.step(
        "non-TTY exec: stdout, stderr, exit code, header, digests; stdin never stored",
        async () => {
          const started = Date.now() / 1000;
          const r = await kubectl(stack, "alice", [
            "exec",
            "-i",
            "demo",
            "--",
            "sh",
            "-c",
            "read secret; echo out; echo err >&2; exit 3",
          ], { stdin: "hunter2-stdin-secret\n" });
          assert.equal(r.code, 3);
          assert.equal(r.stdout, "out\n");
          assert.match(r.stderr, /^err$/m);
          const { manifest, cast } = await next();
          const { header, events, output } = parseCast(cast);
          assert.equal(header.version, 2);
          assert.equal(header.tty, false);
          assert.equal(header.width, 80);
          assert.equal(header.height, 24);
          assert.ok(
            Math.abs(header.timestamp - started) < 60,
            "timestamp is the session start",
          );
          assert.equal(
            header.command,
            "sh -c 'read secret; echo out; echo err >&2; exit 3'",
          );
          assert.deepEqual(header.argv, [
            "sh",
            "-c",
            "read secret; echo out; echo err >&2; exit 3",
          ]);
          assert.equal(header.srcNode, "alice-laptop");
          assert.equal(header.srcNodeID, "n-alice");
          assert.equal(header.srcNodeUserID, "u-alice");
          assert.equal(header.srcNodeUser, "alice@example.com");
          assert.equal(header.srcNodeTags, undefined);
          assert.deepEqual(header.kubernetes, {
            podName: "demo",
            namespace: "default",
            container: "main",
            sessionType: "exec",
          });
          assert.equal(header.proxy, "execgate-test");
          assert.match(header.sessionId, /^[0-9a-f]{32}$/);
          // The protocol is known only after the upgrade: in the manifest.
          assert.equal(header.protocol, undefined);
          assert.equal(manifest.end!.protocol, "v5.channel.k8s.io");
          // What kubectl printed, as a terminal shows it (stdout and stderr).
          assert.equal(
            output.replaceAll("\r\n", "\n").split("\n").sort().join("|"),
            "|err|out",
          );
          // Output, then the exit marker the recorder's view ends with.
          assert.deepEqual(events.at(-1)?.slice(1), ["m", "exit 3"]);
          assert.ok(events.slice(0, -1).every((e) => e[1] === "o"));
          const end = manifest.end!;
          assert.equal(end.exitCode, 3);
          assert.equal(end.reason, "normal");
          assert.deepEqual(end.channels.stdout, {
            bytes: 4,
            sha256: await sha256("out\n"),
          });
          assert.deepEqual(end.channels.stderr, {
            bytes: 4,
            sha256: await sha256("err\n"),
          });
          const play = await asciinemaAccepts(cast);
          assert.ok(play.ok, play.text);
          assert.match(play.text, /out/);
          assert.ok(
            !(await allStoredText(rec.dir)).includes("hunter2"),
            "stdin is never stored",
          );
        },
      );

      await t.step(
        "TTY exec in a terminal with a resize: recorded output equals what kubectl showed",
        async () => {
          const r = await kubectlPty(stack, "alice", [
            "exec",
            "-it",
            "demo",
            "--",
            "sh",
          ], [
            { expect: "[#$] $" },
            { send: "echo hel''lo-tty\n" },
            { expect: "hello-tty\r\n" },
            // A password prompt: the terminal does not echo what is typed.
            {
              send:
                "stty -echo; echo ready-for-pw; read pw; stty echo; echo got''-pw\n",
            },
            { expect: "ready-for-pw\r\n" },
            { send: "typed-pw-s3cret\n" },
            { expect: "got-pw\r\n" },
            { resize: [120, 40] },
            // The resize travels kubectl → proxy → pod on its own: wait for it there.
            {
              send:
                'until [ "$(stty size)" = "40 120" ]; do sleep 0.05; done; echo re""sized\n',
            },
            { expect: "resized\r\n" },
            { send: "exit 0\n" },
          ], [100, 30]);
          assert.equal(r.failed, null, r.output);
          assert.equal(r.code, 0, r.output);
          const { cast } = await next();
          const { header, events, output } = parseCast(cast);
          assert.equal(header.tty, true);
          // The header is written before the terminal's size is known.
          assert.equal(header.width, 80);
          assert.equal(header.height, 24);
          assert.deepEqual(header.argv, ["sh"]);
          // Every size kubectl sent, the first one included, as sent.
          assert.deepEqual(
            events.filter((e) => e[1] === "r").map((e) => e[2]),
            ["100x30", "120x40"],
          );
          assert.equal(output, r.output);
          assert.ok(
            !(await allStoredText(rec.dir)).includes("typed-pw-s3cret"),
          );
          const play = await asciinemaAccepts(cast);
          assert.ok(play.ok, play.text);
        },
      );

      await t.step("attach to a running container", async () => {
        stack.cluster.createPod({
          name: "attach-me",
          containers: [{
            name: "main",
            image: "busybox",
            command: ["sh"],
            stdin: true,
            tty: true,
          }],
        });
        await stack.cluster.waitForPod("default", "attach-me");
        const r = await kubectlPty(stack, "alice", [
          "attach",
          "-it",
          "attach-me",
        ], [
          { expect: "pressing enter" },
          { send: "echo attached-ok\n" },
          { expect: "attached-ok\r\n" },
          { send: "exit 0\n" },
        ]);
        assert.equal(r.failed, null, r.output);
        const { cast } = await next();
        const { header, output } = parseCast(cast);
        assert.equal(header.kubernetes.sessionType, "attach");
        assert.equal(header.kubernetes.podName, "attach-me");
        assert.deepEqual(header.argv, []);
        assert.match(output, /attached-ok/);
        await assertRecordedWhatKubectlShowed(r.output, cast);
      });

      await t.step(
        "kubectl debug: the ephemeral container's session is recorded",
        async () => {
          const r = await kubectlPty(stack, "alice", [
            "debug",
            "-it",
            "demo",
            "--image=busybox",
            "--container=dbg",
            "--",
            "sh",
          ], [
            { expect: "pressing enter" },
            { send: "\n" },
            { expect: "[#$] $" },
            { send: "echo debug-ok\n" },
            { expect: "debug-ok\r\n" },
            { send: "exit 0\n" },
          ]);
          assert.equal(r.failed, null, r.output);
          const { cast } = await next();
          const { header, output } = parseCast(cast);
          assert.equal(header.kubernetes.sessionType, "attach");
          assert.equal(header.kubernetes.container, "dbg");
          assert.match(output, /debug-ok/);
          await assertRecordedWhatKubectlShowed(r.output, cast);
        },
      );

      await t.step(
        "kubectl run -it: the new pod's session is recorded",
        async () => {
          const r = await kubectlPty(stack, "alice", [
            "run",
            "runner",
            "--image=busybox",
            "-it",
            "--restart=Never",
            "--",
            "sh",
          ], [
            { expect: "pressing enter" },
            { send: "\n" },
            { expect: "[#$] $" },
            { send: "echo run-ok\n" },
            { expect: "run-ok\r\n" },
            { send: "exit 0\n" },
          ]);
          assert.equal(r.failed, null, r.output);
          const { cast } = await next();
          const { header, output } = parseCast(cast);
          assert.equal(header.kubernetes.podName, "runner");
          assert.equal(header.kubernetes.sessionType, "attach");
          assert.match(output, /run-ok/);
          await assertRecordedWhatKubectlShowed(r.output, cast);
        },
      );

      await t.step(
        "SPDY exec (kubectl 1.29, and 1.31 with WebSockets off) is recorded the same way",
        async () => {
          const runs: { bin: string; env: Record<string, string> }[] = [
            { bin: "/usr/lib/google-cloud-sdk/bin/kubectl.1.29", env: {} },
            {
              bin: "/usr/bin/kubectl",
              env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: "false" },
            },
          ];
          for (const run of runs) {
            const r = await kubectl(stack, "alice", [
              "exec",
              "-i",
              "demo",
              "--",
              "sh",
              "-c",
              "read secret; echo spdy-out; echo spdy-err >&2; exit 5",
            ], { stdin: "spdy-stdin-secret\n", ...run });
            assert.equal(r.code, 5, r.stderr);
            assert.equal(r.stdout, "spdy-out\n");
            const { manifest, cast } = await next();
            const { header, output } = parseCast(cast);
            assert.equal(manifest.end!.protocol, "v5.channel.k8s.io");
            assert.equal(header.kubernetes.podName, "demo");
            assert.match(output, /spdy-out\r\n/);
            assert.match(output, /spdy-err\r\n/);
            assert.equal(manifest.end!.exitCode, 5);
            assert.equal(manifest.end!.reason, "normal");
            assert.deepEqual(manifest.end!.channels.stdout, {
              bytes: 9,
              sha256: await sha256("spdy-out\n"),
            });
            assert.ok(
              !(await allStoredText(rec.dir)).includes("spdy-stdin-secret"),
            );
          }
        },
      );

      await t.step("an unrecorded identity leaves no recording", async () => {
        const before = (await rec.list()).length;
        const r = await kubectl(stack, "bob", [
          "exec",
          "demo",
          "--",
          "echo",
          "plain",
        ]);
        assert.equal(r.stdout, "plain\n");
        assert.equal((await rec.list()).length, before);
      });

      await t.step(
        "recordings can be found by pod and by what they printed",
        async () => {
          const byPod = await rec.list("pod=attach-me");
          assert.equal(byPod.length, 1);
          const byText = await rec.list("q=debug-ok");
          assert.ok(
            byText.some((m) => m.header.kubernetes.container === "dbg"),
          );
        },
      );
    } finally {
      await stack.close();
      await rec.close();
    }
  },
);

Deno.test(
  "fail closed: no recorder reachable refuses the session before it starts",
  opts,
  async () => {
    const dead = closedPortUrl();
    const stack = await startStack({ recorderUrls: [dead] });
    try {
      const r = await kubectl(stack, "alice", [
        "exec",
        "demo",
        "--",
        "touch",
        "marker-closed",
      ]);
      assert.notEqual(r.code, 0);
      assert.match(
        r.stderr,
        new RegExp(
          `forbidden: this session must be recorded, but no recorder is reachable \\(tried: ${dead}`,
        ),
      );
      const ls = await kubectl(stack, "bob", ["exec", "demo", "--", "ls"]);
      assert.equal(ls.code, 0, ls.stderr);
      assert.ok(!ls.stdout.includes("marker-closed"), "the command never ran");
    } finally {
      await stack.close();
    }
  },
);

for (
  const [transport, env] of [
    ["WebSocket", {}],
    ["SPDY", { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: "false" }],
  ] as const
) {
  Deno.test(
    `fail closed (${transport}): a recorder that dies midway ends the session, nothing later reaches the client, and the recording holds every byte the client received`,
    opts,
    async () => {
      const rec = await startFakeRecorder({ token: UPLOADER_TOKEN });
      const stack = await startStack({
        recorderUrls: [rec.url],
        recorderToken: UPLOADER_TOKEN,
      });
      try {
        const k = interactiveKubectl(stack, "alice", [
          "exec",
          "-i",
          "demo",
          "--",
          "cat",
        ], env);
        const lines = Array.from(
          { length: 200 },
          (_, i) => `before-failure-${i}-${"y".repeat(200)}\n`,
        );
        await k.write(lines.join(""));
        await k.waitFor(lines.at(-1)!);
        // More output in flight while the recorder dies.
        const burst = k.write(`in-flight-${"z".repeat(64 * 1024)}\n`);
        await rec.kill();
        await burst;
        await k.write("after-failure\n");
        const r = await k.done();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /execgate: session ended: the recording failed/);
        assert.ok(!r.stdout.includes("after-failure"), r.stdout.slice(-200));
        assert.ok(
          stack.logs.some((l) =>
            l.msg === "session end" && l.reason === "recording-failed"
          ),
        );
        // Every byte the client received was acknowledged, hence recorded.
        const u = rec.uploads[0]!;
        const acked = new TextDecoder().decode(
          concatBytes(
            u.records.filter((x) =>
              x.type === RecordType.STDOUT &&
              x.offset + 13 + x.payload.length <= u.acked
            ).map((x) => x.payload),
          ),
        );
        assert.ok(
          acked.startsWith(r.stdout),
          `the client received ${r.stdout.length} bytes, the recorder acknowledged ${acked.length}`,
        );
        assert.ok(r.stdout.length >= lines.join("").length);
      } finally {
        await stack.close();
        await rec.close();
      }
    },
  );
}

Deno.test(
  "fail open: sessions run unrecorded, with a warning, at start and midway",
  opts,
  async (t) => {
    const rec = await startFakeRecorder({ token: UPLOADER_TOKEN });
    const dead = closedPortUrl();
    await t.step("no recorder at start", async () => {
      const stack = await startStack({ recorderUrls: [dead] });
      try {
        const r = await kubectl(stack, "dave", [
          "exec",
          "demo",
          "--",
          "sh",
          "-c",
          "echo open; exit 0",
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, "open\n");
        assert.ok(
          stack.logs.some((l) =>
            l.level === "warn" && /not recorded|unrecorded/i.test(String(l.msg))
          ),
          JSON.stringify(stack.logs),
        );
      } finally {
        await stack.close();
      }
    });
    await t.step("recorder dies midway", async () => {
      const stack = await startStack({
        recorderUrls: [rec.url],
        recorderToken: UPLOADER_TOKEN,
      });
      try {
        const k = interactiveKubectl(stack, "dave", [
          "exec",
          "-i",
          "demo",
          "--",
          "cat",
        ]);
        await k.write("one\n");
        await k.waitFor("one");
        await rec.kill();
        await k.write("two\n");
        await k.waitFor("two");
        await k.closeStdin();
        const r = await k.done();
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, "one\ntwo\n");
        assert.ok(
          stack.logs.some((l) => l.level === "warn"),
          JSON.stringify(stack.logs),
        );
      } finally {
        await stack.close();
        await rec.close();
      }
    });
  },
);

Deno.test(
  "two recorders, the first down: the second receives the recording",
  opts,
  async () => {
    const rec = await startTestRecorder();
    const stack = await startStack({
      recorderUrls: [closedPortUrl(), rec.url],
      recorderToken: UPLOADER_TOKEN,
    });
    try {
      const r = await kubectl(stack, "alice", [
        "exec",
        "demo",
        "--",
        "echo",
        "second-one",
      ]);
      assert.equal(r.code, 0, r.stderr);
      const done = await rec.finished(0);
      assert.equal(done.outcome, "complete");
      const { cast } = await rec.read(done.id!);
      assert.match(parseCast(cast).output, /second-one/);
    } finally {
      await stack.close();
      await rec.close();
    }
  },
);
