import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { withCluster } from "./_test_fixture.ts";

const PYTHON = "/usr/bin/python3";

// python3-kubernetes (Debian) offers only v4.channel.k8s.io, sends
// `stdout=True`-style flags and does not GET the pod first.
const SCRIPT = `
import json, sys
from kubernetes import client, config
from kubernetes.stream import stream
config.load_kube_config(config_file=sys.argv[1])
api = client.CoreV1Api()
resp = stream(api.connect_get_namespaced_pod_exec, "demo", "default",
              command=["sh", "-c", "echo out; echo err >&2; exit 3"],
              stderr=True, stdin=False, stdout=True, tty=False,
              _preload_content=False)
resp.run_forever(timeout=30)
print(json.dumps({"stdout": resp.read_stdout(), "stderr": resp.read_stderr(),
                  "code": resp.returncode}))
`;

Deno.test({
  name: "devcluster serves exec to python3-kubernetes over v4.channel.k8s.io",
  ignore: !existsSync(PYTHON),
  async fn() {
    await withCluster(async (f) => {
      const out = await new Deno.Command(PYTHON, {
        args: ["-c", SCRIPT, f.kube.kubeconfig],
        env: { HOME: f.kube.home },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      if (stderr.includes("No module named 'kubernetes'")) {
        console.log("python3-kubernetes is not installed; skipping");
        return;
      }
      assert.equal(out.code, 0, stderr);
      const r = JSON.parse(new TextDecoder().decode(out.stdout));
      assert.deepEqual(r, { stdout: "out\n", stderr: "err\n", code: 3 });
    });
  },
});
