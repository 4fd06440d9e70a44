import assert from "node:assert/strict";
import { PolicyError } from "../config/config_error.ts";
import { startFakeLocalApi } from "../testing/fake_localapi.ts";
import { createIdentitySource } from "./create_identity_source.ts";

Deno.test("createIdentitySource builds a tokens source from the configured file", async () => {
  const source = await createIdentitySource(
    { type: "tokens", file: "/etc/execgate/tokens.json" },
    {
      readTextFile: (p) => {
        assert.equal(p, "/etc/execgate/tokens.json");
        return Promise.resolve(
          '{"tokens": [{"token": "s3cret", "loginName": "a@example.com"}]}',
        );
      },
    },
  );
  assert.equal(source.name, "tokens");
  const who = await source.identify({
    remoteAddr: "127.0.0.1:1",
    headers: new Headers({ authorization: "Bearer s3cret" }),
  });
  assert.equal(who?.loginName, "a@example.com");
});

Deno.test("createIdentitySource names the token file in errors", async () => {
  await assert.rejects(
    () =>
      createIdentitySource({ type: "tokens", file: "t.json" }, {
        readTextFile: () => Promise.resolve('{"tokens": 1}'),
      }),
    (e) =>
      e instanceof PolicyError &&
      e.message === "t.json:1:12: tokens: expected array, got number",
  );
});

Deno.test("createIdentitySource builds mtls and tailscale sources", async () => {
  assert.equal(
    (await createIdentitySource({ type: "mtls", caFile: "ca.pem" })).name,
    "mtls",
  );
  const api = await startFakeLocalApi([{
    ip: "100.64.0.1",
    hostname: "alice-laptop",
    stableId: "nA",
    user: { id: 1, loginName: "alice@example.com" },
  }]);
  try {
    const source = await createIdentitySource({
      type: "tailscale",
      socket: api.socketPath,
    });
    assert.equal(source.name, "tailscale");
    const who = await source.identify({
      remoteAddr: "100.64.0.1:999",
      headers: new Headers(),
    });
    assert.equal(who?.loginName, "alice@example.com");
  } finally {
    await api.close();
  }
});
