/**
 * The `execgate` command as users run it: subprocesses of `main.ts`.
 */
import assert from "node:assert/strict";
import { generateCa, issueCert } from "../src/devcluster/certs.ts";
import { writeKubeconfig } from "../src/devcluster/kubeconfig.ts";
import { startDevCluster } from "../src/devcluster/server.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const root = new URL("..", import.meta.url).pathname;
const deno = Deno.execPath();

function execgate(args: string[]) {
  return new Deno.Command(deno, {
    args: ["run", "-A", `${root}main.ts`, ...args],
    stdout: "piped",
    stderr: "piped",
  });
}

/** Reads a child's stream line by line until one matches. */
async function lineMatching(
  stream: ReadableStream<Uint8Array>,
  re: RegExp,
): Promise<{ line: string; rest: ReadableStreamDefaultReader<string> }> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  while (true) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended before ${re}; got: ${buf}`);
    buf += value;
    const line = buf.split("\n").find((l) => re.test(l));
    if (line) return { line, rest: reader };
  }
}

Deno.test("execgate policy test prints the decision and exits 0 or 1", async () => {
  const policy = `${root}src/policy/testdata/dev_policy.hujson`;
  const ok = await execgate([
    "policy",
    "test",
    "--policy",
    policy,
    "--login",
    "alice@example.com",
    "--proxy-tag",
    "tag:k8s-proxy",
  ]).output();
  assert.equal(ok.code, 0);
  const text = new TextDecoder().decode(ok.stdout);
  assert.match(text, /admitted: {2}yes/);
  assert.match(text, /groups: {4}system:masters/);
  assert.match(text, /fail closed/);
  const no = await execgate([
    "policy",
    "test",
    "--policy",
    policy,
    "--login",
    "carol@example.com",
  ]).output();
  assert.equal(no.code, 1);
  assert.match(new TextDecoder().decode(no.stdout), /admitted: {2}no/);
});

Deno.test("execgate proxy refuses a broken config with file:line:column", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/proxy.hujson`,
      `{\n  "identity": {"type": "tokens", "file": "t"},\n  "policy": {"file": "p"},\n  "listen": {"port": "x"},\n}\n`,
    );
    const r = await execgate(["proxy", "--config", `${dir}/proxy.hujson`])
      .output();
    assert.equal(r.code, 1);
    assert.match(
      new TextDecoder().decode(r.stderr),
      /proxy\.hujson:4:22: listen\.port: expected number, got string/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(
  "execgate proxy serves kubectl from a config file and stops on SIGTERM",
  opts,
  async () => {
    const dir = await Deno.makeTempDir();
    const cluster = await startDevCluster({ rootDir: `${dir}/pods` });
    try {
      await writeKubeconfig(`${dir}/upstream.kubeconfig`, {
        server: cluster.url,
        caPem: cluster.caPem,
        users: [{ name: "execgate", token: cluster.token }],
      });
      const ca = await generateCa("cli-test-ca");
      const leaf = await issueCert(ca, {
        commonName: "execgate",
        usage: "server",
      });
      await Deno.writeTextFile(`${dir}/tls.crt`, leaf.certPem);
      await Deno.writeTextFile(`${dir}/tls.key`, leaf.keyPem);
      await Deno.writeTextFile(
        `${dir}/proxy.hujson`,
        `{
  "tags": ["tag:k8s-proxy"],
  "listen": {"host": "127.0.0.1", "port": 0},
  "tls": {"certFile": "tls.crt", "keyFile": "tls.key"},
  "upstream": {"kubeconfig": "upstream.kubeconfig"},
  "identity": {"type": "tokens", "file": "${root}src/identity/testdata/dev_tokens.hujson"},
  "policy": {"file": "${root}src/policy/testdata/dev_policy.hujson"},
}`,
      );
      const child = execgate(["proxy", "--config", `${dir}/proxy.hujson`])
        .spawn();
      const { line, rest } = await lineMatching(
        child.stderr,
        /proxy listening/,
      );
      const url = JSON.parse(line).url as string;
      await writeKubeconfig(`${dir}/kubeconfig`, {
        server: url,
        caPem: ca.certPem,
        users: [{ name: "bob", token: "bob-token" }],
      });
      await Deno.mkdir(`${dir}/home`);
      const k = await new Deno.Command("/usr/bin/kubectl", {
        args: [
          "--kubeconfig",
          `${dir}/kubeconfig`,
          "exec",
          "demo",
          "--",
          "echo",
          "via-cli",
        ],
        env: { HOME: `${dir}/home` },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(
        new TextDecoder().decode(k.stdout),
        "via-cli\n",
        new TextDecoder().decode(k.stderr),
      );
      child.kill("SIGTERM");
      const status = await child.status;
      await rest.cancel();
      await child.stdout.cancel();
      assert.equal(status.code, 0);
    } finally {
      await cluster.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
