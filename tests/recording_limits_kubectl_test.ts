/**
 * Client-controlled values that once made the recorder refuse a recording
 * after the command had started: terminal sizes a real terminal reports (0×0
 * under CI, 20,000 columns), and a session that prints past a recorder limit.
 * Real kubectl, both transports: 1.29 speaks SPDY, the dispatcher picks 1.33
 * (WebSocket).
 */
import assert from "node:assert/strict";
import { kubectl, kubectlPty, startStack } from "./_harness.ts";
import {
  asciinemaAccepts,
  parseCast,
  startTestRecorder,
  UPLOADER_TOKEN,
} from "./_recorder.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

const CLIENTS = [
  {
    name: "kubectl 1.29 (SPDY)",
    bin: "/usr/lib/google-cloud-sdk/bin/kubectl.1.29",
  },
  { name: "kubectl 1.33 (WebSocket)", bin: "/usr/bin/kubectl" },
];

Deno.test(
  "terminal sizes: a 0x0 terminal and 20000 columns are recorded as sent, fail closed, exit code kept",
  opts,
  async (t) => {
    const rec = await startTestRecorder();
    const stack = await startStack({
      recorderUrls: [rec.url],
      recorderToken: UPLOADER_TOKEN,
    });
    let uploads = 0;
    try {
      for (const client of CLIENTS) {
        for (const size of [[0, 0], [20000, 50]] as [number, number][]) {
          await t.step(`${client.name}, ${size[0]}x${size[1]}`, async () => {
            const word = `sized-${size[0]}-ok`;
            const r = await kubectlPty(
              stack,
              "alice",
              [
                "exec",
                "-it",
                "demo",
                "-c",
                "main",
                "--",
                "sh",
                "-c",
                `echo ${word.slice(0, 6)}""${word.slice(6)}; exit 4`,
              ],
              [{ expect: word }],
              size,
              client.bin,
            );
            assert.equal(r.failed, null, r.output);
            assert.equal(r.code, 4, r.output);
            const done = await rec.finished(uploads++);
            assert.equal(done.outcome, "complete", done.reason);
            const { manifest, cast } = await rec.read(done.id!);
            assert.equal(manifest.status, "complete");
            const { header, events, output } = parseCast(cast);
            assert.equal(header.tty, true);
            assert.match(output, new RegExp(word));
            const resizes = events.filter((e) => e[1] === "r").map((e) => e[2]);
            assert.ok(
              resizes.includes(`${size[0]}x${size[1]}`),
              `resizes recorded: ${JSON.stringify(resizes)}`,
            );
            assert.equal(manifest.end?.exitCode, 4);
            const play = await asciinemaAccepts(cast);
            assert.ok(play.ok, play.text);
          });
        }
      }
    } finally {
      await stack.close();
      await rec.close();
    }
  },
);

Deno.test(
  "recorder limit: a session printing past maxRecordingBytes ends fail-closed with the message and leaves a partial recording of everything up to the limit",
  opts,
  async (t) => {
    const limit = 1536 * 1024;
    const rec = await startTestRecorder({ maxRecordingBytes: limit });
    const stack = await startStack({
      recorderUrls: [rec.url],
      recorderToken: UPLOADER_TOKEN,
    });
    let uploads = 0;
    try {
      for (const client of CLIENTS) {
        await t.step(client.name, async () => {
          const total = 8 * 1024 * 1024;
          const r = await kubectl(stack, "alice", [
            "exec",
            "demo",
            "-c",
            "main",
            "--",
            "execgate-gen",
            String(total),
            "0123456789abcdef",
          ], { bin: client.bin });
          assert.notEqual(r.code, 0, "the session did not end with success");
          assert.match(r.stderr, /execgate: /);
          assert.ok(r.stdoutBytes.length < total, "the session was cut short");
          const done = await rec.finished(uploads++);
          assert.equal(done.outcome, "partial");
          const { manifest, cast } = await rec.read(done.id!);
          assert.equal(manifest.status, "partial");
          assert.match(manifest.partialReason ?? "", /limit/);
          // Nothing stored was removed: the recording holds its header and
          // the output up to the limit, a prefix of the generator's pattern.
          assert.ok(
            manifest.castBytes > limit / 2,
            `only ${manifest.castBytes} bytes kept`,
          );
          assert.ok(manifest.castBytes <= limit);
          const { output } = parseCast(cast);
          assert.ok(output.length > limit / 4, `output ${output.length}`);
          const pattern = "0123456789abcdef".repeat(
            Math.ceil(output.length / 16),
          );
          assert.ok(pattern.startsWith(output), "output is a prefix");
          const play = await asciinemaAccepts(cast);
          assert.ok(play.ok, play.text);
        });
      }
    } finally {
      await stack.close();
      await rec.close();
    }
  },
);
