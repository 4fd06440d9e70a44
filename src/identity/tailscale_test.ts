import assert from "node:assert/strict";
import { startFakeLocalApi } from "../testing/fake_localapi.ts";
import { createTailscaleIdentitySource, whoisToIdentity } from "./tailscale.ts";

const PEERS = [
  {
    ip: "100.64.0.7",
    hostname: "alice-laptop",
    stableId: "nAL1CE7CNTRL",
    user: { id: 4242, loginName: "alice@example.com" },
    capMap: {
      "tailscale.com/cap/kubernetes": [
        { impersonate: { groups: ["system:masters"] } },
        { recorder: ["tag:k8s-recorder"], enforceRecorder: true },
      ],
      "tailscale.com/cap/other": [{ x: 1 }],
    },
  },
  {
    ip: "100.64.0.9",
    hostname: "ci-runner",
    stableId: "nC1RUNNERCNTRL",
    tags: ["tag:ci", "tag:builder"],
  },
  {
    ip: "fd7a:115c:a1e0::5",
    hostname: "bob-desktop",
    stableId: "nB0B5CNTRL",
    user: { id: 77, loginName: "bob@example.com" },
  },
];

const peer = (remoteAddr: string) => ({ remoteAddr, headers: new Headers() });

Deno.test("tailscale source identifies a user's device from the LocalAPI whois answer", async () => {
  const api = await startFakeLocalApi(PEERS);
  try {
    const source = createTailscaleIdentitySource({
      socketPath: api.socketPath,
    });
    assert.equal(source.name, "tailscale");
    assert.deepEqual(await source.identify(peer("100.64.0.7:51234")), {
      hostname: "alice-laptop",
      nodeId: "nAL1CE7CNTRL",
      userId: "4242",
      loginName: "alice@example.com",
      groups: [],
      capRules: [
        { impersonate: { groups: ["system:masters"] } },
        { recorder: ["tag:k8s-recorder"], enforceRecorder: true },
      ],
    });
    assert.deepEqual(api.requests, [
      "GET /localapi/v0/whois?addr=100.64.0.7%3A51234 host=local-tailscaled.sock",
    ]);
  } finally {
    await api.close();
  }
});

Deno.test("tailscale source identifies a tagged device without user fields and with empty capRules", async () => {
  const api = await startFakeLocalApi(PEERS);
  try {
    const source = createTailscaleIdentitySource({
      socketPath: api.socketPath,
    });
    assert.deepEqual(await source.identify(peer("100.64.0.9:443")), {
      hostname: "ci-runner",
      nodeId: "nC1RUNNERCNTRL",
      tags: ["tag:ci", "tag:builder"],
      groups: [],
      capRules: [],
    });
  } finally {
    await api.close();
  }
});

Deno.test("tailscale source brackets IPv6 peers and unmaps IPv4-mapped ones", async () => {
  const api = await startFakeLocalApi(PEERS);
  try {
    const source = createTailscaleIdentitySource({
      socketPath: api.socketPath,
    });
    const bob = await source.identify(peer("fd7a:115c:a1e0::5:40000"));
    assert.equal(bob?.loginName, "bob@example.com");
    const bob2 = await source.identify(peer("[fd7a:115c:a1e0::5]:40000"));
    assert.equal(bob2?.nodeId, "nB0B5CNTRL");
    const alice = await source.identify(peer("::ffff:100.64.0.7:1000"));
    assert.equal(alice?.loginName, "alice@example.com");
    assert.deepEqual(api.requests.map((r) => r.split(" ")[1]), [
      "/localapi/v0/whois?addr=%5Bfd7a%3A115c%3Aa1e0%3A%3A5%5D%3A40000",
      "/localapi/v0/whois?addr=%5Bfd7a%3A115c%3Aa1e0%3A%3A5%5D%3A40000",
      "/localapi/v0/whois?addr=100.64.0.7%3A1000",
    ]);
  } finally {
    await api.close();
  }
});

Deno.test("tailscale source yields no identity for a peer tailscaled does not know (404)", async () => {
  const api = await startFakeLocalApi(PEERS);
  try {
    const source = createTailscaleIdentitySource({
      socketPath: api.socketPath,
    });
    assert.equal(await source.identify(peer("100.64.0.99:1")), undefined);
  } finally {
    await api.close();
  }
});

Deno.test("tailscale source fails clearly when tailscaled is down", async () => {
  const api = await startFakeLocalApi(PEERS);
  const socketPath = api.socketPath;
  await api.close();
  const source = createTailscaleIdentitySource({ socketPath });
  await assert.rejects(
    () => source.identify(peer("100.64.0.7:1")),
    (e: Error) => {
      assert.match(
        e.message,
        new RegExp(
          `^Cannot reach tailscaled LocalAPI at "${
            socketPath.replaceAll(".", "\\.")
          }": `,
        ),
      );
      return true;
    },
  );
});

Deno.test("tailscale source reports other LocalAPI failures with status and body", async () => {
  const source = createTailscaleIdentitySource({
    localApi: () =>
      Promise.resolve({ status: 403, body: "whois access denied\n" }),
  });
  await assert.rejects(() => source.identify(peer("100.64.0.7:1")), {
    message:
      'tailscaled LocalAPI whois for "100.64.0.7:1" answered 403: whois access denied',
  });
});

Deno.test("whoisToIdentity falls back to Name's first label, then Hostinfo.Hostname", () => {
  const base = {
    UserProfile: { ID: 1, LoginName: "a@example.com" },
    CapMap: { "tailscale.com/cap/kubernetes": null },
  };
  assert.equal(
    whoisToIdentity({
      ...base,
      Node: { StableID: "n1", Name: "box.tail1234.ts.net.", Hostinfo: {} },
    }).hostname,
    "box",
  );
  assert.equal(
    whoisToIdentity({
      ...base,
      Node: { StableID: "n1", Hostinfo: { Hostname: "raw-host" } },
    }).hostname,
    "raw-host",
  );
});

Deno.test("whoisToIdentity refuses a malformed Kubernetes rule instead of dropping it", () => {
  assert.throws(
    () =>
      whoisToIdentity({
        Node: { StableID: "n1", ComputedName: "x" },
        UserProfile: { ID: 1, LoginName: "a@example.com" },
        CapMap: {
          "tailscale.com/cap/kubernetes": [{ enforceRecorder: "true" }],
        },
      }, "100.64.0.1:2"),
    {
      message:
        'tailscaled LocalAPI whois for "100.64.0.1:2": rule 0 of "tailscale.com/cap/kubernetes" is malformed at enforceRecorder: Expected boolean, received string',
    },
  );
  assert.throws(
    () => whoisToIdentity({ Node: {}, UserProfile: null }),
    /is malformed at Node\.StableID: Required/,
  );
});
