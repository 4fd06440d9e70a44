import assert from "node:assert/strict";
import { parseProxyConfig } from "./config.ts";

const base = {
  identity: { type: "tokens", file: "t.json" },
  policy: { file: "p.hujson" },
};

Deno.test("parseProxyConfig: metricsAddress is off by default and must be host:port", () => {
  assert.equal(parseProxyConfig(base).metricsAddress, undefined);
  assert.equal(
    parseProxyConfig({ ...base, metricsAddress: "[::1]:9090" }).metricsAddress,
    "[::1]:9090",
  );
  for (const bad of ["9090", "localhost", "http://127.0.0.1:9090", 9090]) {
    assert.throws(
      () => parseProxyConfig({ ...base, metricsAddress: bad }),
      /metricsAddress: (expected host:port|Expected string)/,
      String(bad),
    );
  }
});
