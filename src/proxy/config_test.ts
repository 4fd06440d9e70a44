import assert from "node:assert/strict";
import { loadProxyConfig, parseProxyConfig } from "./config.ts";

Deno.test("parseProxyConfig fills every default", () => {
  const c = parseProxyConfig({
    identity: { type: "tokens", file: "tokens.json" },
    policy: { file: "policy.hujson" },
  });
  assert.equal(c.hostname, "execgate");
  assert.deepEqual(c.upstream, { inCluster: true });
  assert.deepEqual(c.listen, {
    host: "0.0.0.0",
    port: 8443,
    handshakeTimeoutMs: 10_000,
    headTimeoutMs: 10_000,
    idleTimeoutMs: 120_000,
  });
  assert.equal(c.recording.connectTimeoutMs, 5000);
  assert.deepEqual(c.recorders, {});
});

Deno.test("parseProxyConfig names the path of each problem", () => {
  assert.throws(
    () =>
      parseProxyConfig({
        identity: { type: "tokens" },
        listen: { port: 70000 },
        recorders: { "tag:rec": ["not a url"] },
        bogus: 1,
      }, "proxy.json"),
    (e: Error) => {
      assert.match(e.message, /proxy\.json: identity\.file: Required/);
      assert.match(
        e.message,
        /proxy\.json: listen\.port: Number must be less than or equal to 65535/,
      );
      assert.match(
        e.message,
        /proxy\.json: recorders\.tag:rec\.0: Invalid url/,
      );
      assert.match(e.message, /Unrecognized key\(s\) in object: 'bogus'/);
      return true;
    },
  );
});

Deno.test("parseProxyConfig requires a policy file outside tailscale mode", () => {
  assert.throws(
    () => parseProxyConfig({ identity: { type: "mtls", caFile: "ca.pem" } }),
    /policy: a policy file is required with identity type "mtls"/,
  );
  const c = parseProxyConfig({ identity: { type: "tailscale" } });
  assert.equal(
    c.identity.type === "tailscale" && c.identity.socket,
    "/var/run/tailscale/tailscaled.sock",
  );
});

Deno.test("loadProxyConfig locates problems and resolves paths against the file", () => {
  const c = loadProxyConfig(
    `{
  // comments and trailing commas are fine
  "identity": {"type": "tokens", "file": "tokens.hujson"},
  "policy": {"file": "/etc/execgate/policy.hujson"},
}`,
    "/etc/execgate/proxy.hujson",
  );
  assert.equal(
    c.identity.type === "tokens" && c.identity.file,
    "/etc/execgate/tokens.hujson",
  );
  assert.equal(c.policy?.file, "/etc/execgate/policy.hujson");
  assert.throws(
    () =>
      loadProxyConfig(
        `{
  "identity": {"type": "tokens", "file": "t"},
  "policy": {"file": "p"},
  "listen": {"port": "8443"},
}`,
        "proxy.hujson",
      ),
    /proxy\.hujson:4:22: listen\.port: .*number/i,
  );
});
