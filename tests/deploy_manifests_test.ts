/**
 * The cluster manifests of `deploy/`: each overlay is built with the real
 * kustomize (`kubectl kustomize`, built into /usr/bin/kubectl), every object
 * is validated against the Kubernetes schemas (`kubernetes-models`), and the
 * promises the manifests make are asserted on what kustomize produced: the
 * proxy's only cluster permission is impersonation, every pod runs non-root
 * on a read-only root filesystem, the probes reach the ops listener and the
 * recorder port, only the proxy reaches the recorder, every referenced
 * Secret and ConfigMap key exists, every file a config names is mounted, and
 * the embedded configs parse with the parsers execgate itself runs.
 */

import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { ClusterRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole";
import { ClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { loadProxyConfig, type ProxyConfig } from "../src/proxy/config.ts";
import {
  loadRecorderConfig,
  type RecorderConfig,
  resolveIndexConfig,
} from "../src/recorder/config.ts";
import { parsePolicy } from "../src/policy/parse_policy.ts";
import { parseTokenFile } from "../src/identity/tokens.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const KUBECTL = "/usr/bin/kubectl";
/** The Containerfile's `USER deno`: uid and gid 1993 in denoland/deno. */
const DENO_UID = 1993;
/** The Containerfile's `--allow-write`. */
const WRITABLE = "/var/lib/execgate";

// deno-lint-ignore no-explicit-any
type Obj = any;

const MODELS: Record<string, new (o: Obj) => { validate(): void }> = {
  "v1/Namespace": Namespace,
  "v1/ServiceAccount": ServiceAccount,
  "v1/ConfigMap": ConfigMap,
  "v1/Secret": Secret,
  "v1/Service": Service,
  "apps/v1/Deployment": Deployment,
  "apps/v1/StatefulSet": StatefulSet,
  "rbac.authorization.k8s.io/v1/ClusterRole": ClusterRole,
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": ClusterRoleBinding,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
};

/** `kubectl kustomize deploy/overlays/NAME`, parsed into objects. */
async function build(overlay: string): Promise<Obj[]> {
  const out = await new Deno.Command(KUBECTL, {
    args: ["kustomize", `${ROOT}deploy/overlays/${overlay}`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `kubectl kustomize ${overlay} failed: ${err}`);
  const docs = parseAllDocuments(new TextDecoder().decode(out.stdout));
  return (Array.isArray(docs) ? docs : [docs]).map((d) => {
    assert.equal(d.errors.length, 0, `YAML errors: ${d.errors.join("; ")}`);
    return d.toJS();
  });
}

function one(objs: Obj[], kind: string, name: string): Obj {
  const found = objs.filter((o) =>
    o.kind === kind && o.metadata?.name === name
  );
  assert.equal(found.length, 1, `expected one ${kind} ${name}`);
  return found[0];
}

function workloads(objs: Obj[]): Obj[] {
  return objs.filter((o) =>
    o.kind === "Deployment" || o.kind === "StatefulSet"
  );
}

/** A Secret's or ConfigMap's keys and their text values. */
function dataOf(o: Obj): Map<string, string> {
  const m = new Map<string, string>();
  for (const [k, v] of Object.entries(o.stringData ?? {})) {
    m.set(k, String(v));
  }
  for (const [k, v] of Object.entries(o.data ?? {})) {
    m.set(k, o.kind === "Secret" ? atob(String(v)) : String(v));
  }
  return m;
}

/**
 * The text a container would read at `path`: from the volume mounted at
 * the folder, honouring `items`; undefined when nothing is mounted there.
 */
function fileAt(objs: Obj[], pod: Obj, c: Obj, path: string) {
  for (const vm of c.volumeMounts ?? []) {
    const prefix = vm.mountPath.replace(/\/$/, "") + "/";
    if (!path.startsWith(prefix)) continue;
    const rel = path.slice(prefix.length);
    const vol = pod.volumes.find((v: Obj) => v.name === vm.name);
    assert.ok(vol, `volume ${vm.name} of mount ${vm.mountPath} is defined`);
    const src = vol.secret
      ? one(objs, "Secret", vol.secret.secretName)
      : vol.configMap
      ? one(objs, "ConfigMap", vol.configMap.name)
      : undefined;
    if (!src) return { volume: vol, text: undefined };
    const items: Obj[] | undefined = (vol.secret ?? vol.configMap).items;
    const key = items ? items.find((i) => i.path === rel)?.key : rel;
    const text = key === undefined ? undefined : dataOf(src).get(key);
    return { volume: vol, text };
  }
  return undefined;
}

/** The environment a container would see, `valueFrom` resolved. */
function envOf(objs: Obj[], c: Obj): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
    if (!ref) continue;
    const kind = e.valueFrom.secretKeyRef ? "Secret" : "ConfigMap";
    const v = dataOf(one(objs, kind, ref.name)).get(ref.key);
    assert.ok(v !== undefined, `${kind} ${ref.name} has key ${ref.key}`);
    env[e.name] = v;
  }
  return env;
}

function configPath(c: Obj): string {
  const args: string[] = c.args;
  const i = args.indexOf("--config");
  assert.ok(i >= 0 && args[i + 1], `${c.name} is given --config FILE`);
  return args[i + 1]!;
}

/** The proxy's config as the proxy would load it, with the file it names. */
function proxyConfig(objs: Obj[]) {
  const d = one(objs, "Deployment", "execgate-proxy");
  const pod = d.spec.template.spec;
  const c = pod.containers[0];
  const file = configPath(c);
  const text = fileAt(objs, pod, c, file)?.text;
  assert.ok(text, `the proxy config ${file} is mounted`);
  return { pod, c, config: loadProxyConfig(text, file) as ProxyConfig };
}

function recorderConfig(objs: Obj[]) {
  const [w] = workloads(objs).filter((o) =>
    o.metadata.name === "execgate-recorder"
  );
  assert.ok(w, "a recorder workload");
  const pod = w.spec.template.spec;
  const c = pod.containers[0];
  const file = configPath(c);
  const text = fileAt(objs, pod, c, file)?.text;
  assert.ok(text, `the recorder config ${file} is mounted`);
  const config: RecorderConfig = loadRecorderConfig(
    text,
    file,
    envOf(objs, c),
  );
  return { w, pod, c, config };
}

for (const overlay of ["disk", "s3"]) {
  Deno.test(`deploy/${overlay}: every object is valid against the Kubernetes schema`, async () => {
    const objs = await build(overlay);
    for (const o of objs) {
      const Model = MODELS[`${o.apiVersion}/${o.kind}`];
      assert.ok(Model, `a model for ${o.apiVersion} ${o.kind}`);
      new Model(o).validate();
      if (o.kind !== "Namespace" && o.metadata.namespace === undefined) {
        assert.match(o.kind, /^Cluster/, `${o.kind} ${o.metadata.name}`);
      } else if (o.kind !== "Namespace") {
        assert.equal(o.metadata.namespace, "execgate");
      }
    }
    const kinds = objs.map((o) => o.kind).sort();
    for (
      const k of [
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Namespace",
        "NetworkPolicy",
        "Secret",
        "Service",
        "ServiceAccount",
      ]
    ) assert.ok(kinds.includes(k), `${overlay} has a ${k}`);
  });

  Deno.test(`deploy/${overlay}: the proxy may only impersonate users, groups and service accounts`, async () => {
    const objs = await build(overlay);
    const roles = objs.filter((o) => /^(Cluster)?Role$/.test(o.kind));
    assert.deepEqual(roles.map((r) => r.metadata.name), [
      "execgate-proxy-impersonator",
    ]);
    assert.deepEqual(roles[0].rules, [{
      apiGroups: [""],
      resources: ["users", "groups", "serviceaccounts"],
      verbs: ["impersonate"],
    }]);
    const bindings = objs.filter((o) => /RoleBinding$/.test(o.kind));
    assert.equal(bindings.length, 1);
    assert.deepEqual(bindings[0].roleRef, {
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name: "execgate-proxy-impersonator",
    });
    assert.deepEqual(bindings[0].subjects, [{
      kind: "ServiceAccount",
      name: "execgate-proxy",
      namespace: "execgate",
    }]);
    const { pod, config } = proxyConfig(objs);
    assert.equal(pod.serviceAccountName, "execgate-proxy");
    assert.deepEqual(config.upstream, { inCluster: true });
    const { pod: rpod } = recorderConfig(objs);
    assert.equal(rpod.automountServiceAccountToken, false);
    assert.equal(
      one(objs, "ServiceAccount", "execgate-recorder")
        .automountServiceAccountToken,
      false,
    );
  });

  Deno.test(`deploy/${overlay}: every container runs as the image's non-root user, read-only, no privileges`, async () => {
    const objs = await build(overlay);
    const ws = workloads(objs);
    assert.equal(ws.length, 2);
    for (const w of ws) {
      const pod = w.spec.template.spec;
      const at = `${w.kind} ${w.metadata.name}`;
      assert.equal(pod.securityContext.runAsNonRoot, true, at);
      assert.equal(pod.securityContext.runAsUser, DENO_UID, at);
      assert.equal(pod.securityContext.runAsGroup, DENO_UID, at);
      assert.equal(pod.securityContext.seccompProfile.type, "RuntimeDefault");
      assert.equal(pod.hostNetwork ?? false, false);
      for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
        const s = c.securityContext;
        assert.equal(s.readOnlyRootFilesystem, true, `${at} ${c.name}`);
        assert.equal(s.allowPrivilegeEscalation, false, `${at} ${c.name}`);
        assert.deepEqual(s.capabilities, { drop: ["ALL"] });
        assert.equal(s.privileged ?? false, false);
        assert.ok(c.resources?.limits?.memory, `${at} has a memory limit`);
        // Writable places are volumes only.
        for (const vm of c.volumeMounts ?? []) {
          const vol = pod.volumes?.find((v: Obj) => v.name === vm.name) ??
            w.spec.volumeClaimTemplates?.find((t: Obj) =>
              t.metadata.name === vm.name
            );
          assert.ok(vol, `${at}: volume ${vm.name} exists`);
          if (vol.secret || vol.configMap) assert.equal(vm.readOnly, true);
        }
      }
    }
  });

  Deno.test(`deploy/${overlay}: the proxy runs 2 replicas, probed on its ops listener, serving the files its config names`, async () => {
    const objs = await build(overlay);
    const d = one(objs, "Deployment", "execgate-proxy");
    assert.equal(d.spec.replicas, 2);
    const { pod, c, config } = proxyConfig(objs);
    const ops = c.ports.find((p: Obj) => p.name === "ops");
    const api = c.ports.find((p: Obj) => p.name === "https");
    assert.equal(api.containerPort, config.listen.port);
    assert.ok(config.metricsAddress, "the ops listener is on");
    assert.equal(Number(config.metricsAddress.split(":").pop()), 9090);
    assert.equal(ops.containerPort, 9090);
    assert.equal(config.metricsAddress.split(":")[0], "0.0.0.0");
    // The API port forwards every path upstream: probes must not use it.
    assert.deepEqual(c.livenessProbe.httpGet, {
      path: "/healthz",
      port: "ops",
      scheme: "HTTP",
    });
    assert.deepEqual(c.readinessProbe.httpGet, {
      path: "/readyz",
      port: "ops",
      scheme: "HTTP",
    });
    // Every file of the config is mounted and has content.
    assert.ok(config.tls, "the proxy serves TLS");
    assert.equal(config.identity.type, "tokens");
    const files = [
      config.tls.certFile,
      config.tls.keyFile,
      config.identity.type === "tokens" ? config.identity.file : "",
      config.policy!.file,
      config.recorderAuth.tokenFile!,
      config.recorderAuth.caFile!,
    ];
    for (const f of files) {
      assert.ok(fileAt(objs, pod, c, f)?.text, `${f} is mounted`);
    }
    // The files parse as the proxy reads them.
    const policyText = fileAt(objs, pod, c, config.policy!.file)!.text!;
    const policy = parsePolicy(policyText, config.policy!.file);
    assert.ok(policy.grants.length > 0);
    if (config.identity.type === "tokens") {
      const entries = await parseTokenFile(
        fileAt(objs, pod, c, config.identity.file)!.text!,
        config.identity.file,
      );
      assert.ok(entries.length > 0);
    }
    // The Service sends 443 to the API port.
    const svc = one(objs, "Service", "execgate-proxy");
    assert.deepEqual(svc.spec.selector, d.spec.selector.matchLabels);
    assert.equal(svc.spec.ports[0].targetPort, "https");
    // The proxy's recorder URL is the recorder Service, on its port.
    const urls = Object.values(config.recorders).flat();
    assert.deepEqual(urls, ["https://execgate-recorder.execgate.svc:8443"]);
    const rsvc = one(objs, "Service", "execgate-recorder");
    assert.equal(rsvc.spec.ports[0].port, 8443);
  });

  Deno.test(`deploy/${overlay}: the recorder's config parses, its files are mounted, probes reach its TLS port`, async () => {
    const objs = await build(overlay);
    const { w, pod, c, config } = recorderConfig(objs);
    assert.ok(config.tls, "the recorder serves TLS");
    for (const f of [config.tls.certFile, config.tls.keyFile]) {
      assert.ok(fileAt(objs, pod, c, f)?.text, `${f} is mounted`);
    }
    const port = c.ports.find((p: Obj) => p.name === "https");
    assert.equal(port.containerPort, config.listen.port);
    for (const probe of [c.livenessProbe, c.readinessProbe]) {
      assert.deepEqual(probe.httpGet, {
        path: "/healthz",
        port: "https",
        scheme: "HTTPS",
      });
    }
    const rsvc = one(objs, "Service", "execgate-recorder");
    assert.deepEqual(rsvc.spec.selector, w.spec.selector.matchLabels);
    assert.equal(rsvc.spec.ports[0].targetPort, "https");
    // The proxy's uploader token is one the recorder accepts, and the CA the
    // proxy trusts comes from the same Secret as the recorder's certificate.
    const proxy = proxyConfig(objs);
    const token = fileAt(
      objs,
      proxy.pod,
      proxy.c,
      proxy.config.recorderAuth.tokenFile!,
    )!;
    assert.ok(config.auth.uploaderTokens.includes(token.text!.trim()));
    assert.ok(config.auth.viewerTokens.length > 0);
    const ca = fileAt(
      objs,
      proxy.pod,
      proxy.c,
      proxy.config.recorderAuth.caFile!,
    )!;
    const cert = fileAt(objs, pod, c, config.tls.certFile)!;
    assert.equal(ca.volume.secret.secretName, cert.volume.secret.secretName);
  });

  Deno.test(`deploy/${overlay}: only the proxy reaches the recorder, only on its port`, async () => {
    const objs = await build(overlay);
    const policies = objs.filter((o) => o.kind === "NetworkPolicy");
    assert.equal(policies.length, 1);
    const np = policies[0];
    const { w, config } = recorderConfig(objs);
    const proxy = one(objs, "Deployment", "execgate-proxy");
    assert.deepEqual(
      np.spec.podSelector.matchLabels,
      w.spec.selector.matchLabels,
    );
    assert.deepEqual(np.spec.policyTypes, ["Ingress"]);
    assert.deepEqual(np.spec.ingress, [{
      from: [{ podSelector: { matchLabels: proxy.spec.selector.matchLabels } }],
      ports: [{ protocol: "TCP", port: config.listen.port }],
    }]);
    // The selectors do not overlap: the proxy is not a recorder.
    const rl = w.spec.template.metadata.labels;
    const pl = proxy.spec.template.metadata.labels;
    assert.notEqual(rl["app.kubernetes.io/name"], pl["app.kubernetes.io/name"]);
  });

  Deno.test(`deploy/${overlay}: every Secret and ConfigMap a pod refers to exists with its keys`, async () => {
    const objs = await build(overlay);
    for (const w of workloads(objs)) {
      const pod = w.spec.template.spec;
      for (const v of pod.volumes ?? []) {
        const ref = v.secret ?? v.configMap;
        if (!ref) continue;
        const src = one(
          objs,
          v.secret ? "Secret" : "ConfigMap",
          v.secret ? v.secret.secretName : v.configMap.name,
        );
        for (const i of ref.items ?? []) {
          assert.ok(dataOf(src).has(i.key), `${src.metadata.name}/${i.key}`);
        }
      }
      for (const c of pod.containers) envOf(objs, c);
    }
    // Every placeholder is marked as one.
    for (const s of objs.filter((o) => o.kind === "Secret")) {
      const values = [...dataOf(s).values()].join("\n");
      assert.match(values, /REPLACE-ME/, `Secret ${s.metadata.name}`);
    }
  });
}

Deno.test("deploy/disk: one recorder StatefulSet writing its recordings and SQLite index on its volume", async () => {
  const objs = await build("disk");
  const { w, c, config } = recorderConfig(objs);
  assert.equal(w.kind, "StatefulSet");
  assert.equal(w.spec.replicas, 1);
  assert.equal(w.spec.template.spec.securityContext.fsGroup, DENO_UID);
  assert.equal(config.storage.kind, "disk");
  const index = resolveIndexConfig(config);
  assert.equal(index.kind, "sqlite");
  const claim = w.spec.volumeClaimTemplates[0];
  const mount = c.volumeMounts.find((m: Obj) => m.name === claim.metadata.name);
  assert.equal(mount.mountPath, WRITABLE);
  for (
    const p of [
      config.storage.kind === "disk" ? config.storage.dir : "",
      index.kind === "sqlite" ? index.file : "",
    ]
  ) assert.ok(p.startsWith(WRITABLE + "/"), `${p} is on the volume`);
});

Deno.test("deploy/s3: two recorders on S3 with a Postgres index from a Secret", async () => {
  const objs = await build("s3");
  const { w, config } = recorderConfig(objs);
  assert.equal(w.kind, "Deployment");
  assert.equal(w.spec.replicas, 2);
  assert.equal(config.storage.kind, "s3");
  const index = resolveIndexConfig(config);
  assert.equal(index.kind, "postgres");
  assert.deepEqual(config.peers, [], "shared storage needs no peers");
  const env = w.spec.template.spec.containers[0].env;
  const from = (n: string) =>
    env.find((e: Obj) => e.name === n)?.valueFrom?.secretKeyRef?.name;
  assert.equal(
    from("EXECGATE_RECORDER_INDEX_URL"),
    "execgate-recorder-postgres",
  );
  assert.equal(from("AWS_ACCESS_KEY_ID"), "execgate-recorder-s3");
  assert.equal(from("AWS_SECRET_ACCESS_KEY"), "execgate-recorder-s3");
  assert.equal(
    w.spec.template.spec.volumes.some((v: Obj) => v.persistentVolumeClaim),
    false,
  );
});

Deno.test("kubernetes-models validation refuses a wrong field type (the check is live)", () => {
  assert.throws(
    () =>
      new Deployment({
        metadata: { name: "x" },
        spec: {
          selector: {},
          template: {
            spec: {
              containers: [{
                name: "a",
                ports: [{ containerPort: "8443" as unknown as number }],
              }],
            },
          },
        },
      }).validate(),
    /containerPort must be integer/,
  );
});

/** The fenced blocks of `lang` in the docs/deploy.md section starting `heading`. */
function docBlocks(doc: string, heading: string, lang: string): string[] {
  const start = doc.indexOf(`\n${heading}`);
  assert.ok(start >= 0, `docs/deploy.md has "${heading}"`);
  const end = doc.indexOf("\n## ", start + 1);
  const section = doc.slice(start, end < 0 ? undefined : end);
  const re = new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g");
  return [...section.matchAll(re)].map((m) => m[1]!);
}

Deno.test("docs/deploy.md: its certificate and token commands and its own overlay replace every placeholder Secret", async () => {
  const doc = await Deno.readTextFile(`${ROOT}docs/deploy.md`);
  const tmp = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${tmp}/deploy`);
    const cp = await new Deno.Command("cp", {
      args: [
        "-r",
        `${ROOT}deploy/base`,
        `${ROOT}deploy/overlays`,
        `${tmp}/deploy/`,
      ],
    }).output();
    assert.equal(cp.code, 0);
    const mine = `${tmp}/deploy/overlays/mine`;
    await Deno.mkdir(mine);
    const script = docBlocks(doc, "## 2.", "sh").join("\n");
    const sh = await new Deno.Command("bash", {
      args: ["-euo", "pipefail", "-c", script],
      cwd: mine,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(sh.code, 0, new TextDecoder().decode(sh.stderr));
    const [kustomization] = docBlocks(doc, "## 3.", "yaml");
    assert.ok(kustomization);
    await Deno.writeTextFile(`${mine}/kustomization.yaml`, kustomization);
    const out = await new Deno.Command(KUBECTL, {
      args: ["kustomize", mine],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const objs = parseAllDocuments(new TextDecoder().decode(out.stdout)).map(
      (d) => d.toJS(),
    );
    for (const o of objs) {
      // kustomize wraps a generated Secret's base64 over lines, which the API
      // server's decoder accepts and the schema's "byte" format does not.
      if (o.kind === "Secret") {
        for (const k of Object.keys(o.data ?? {})) {
          o.data[k] = o.data[k].replace(/\s+/g, "");
        }
      }
      new MODELS[`${o.apiVersion}/${o.kind}`]!(o).validate();
    }
    const secrets = objs.filter((o) => o.kind === "Secret");
    assert.equal(secrets.length, 4);
    for (const s of secrets) {
      const values = [...dataOf(s).values()].join("\n");
      assert.doesNotMatch(values, /REPLACE-ME/, `Secret ${s.metadata.name}`);
    }
    for (const w of workloads(objs)) {
      for (const c of w.spec.template.spec.containers) {
        assert.equal(c.image, "registry.example.com/execgate:0.1.0");
      }
    }
    // The configs still parse with the real values in the environment, the
    // certificates serve TLS and the placeholders do not.
    const { config } = recorderConfig(objs);
    assert.ok(config.auth.uploaderTokens[0]!.length >= 16);
    const proxy = proxyConfig(objs);
    const read = (f: string) => fileAt(objs, proxy.pod, proxy.c, f)!.text!;
    const entries = await parseTokenFile(
      read("/etc/execgate/tokens/tokens.hujson"),
      "tokens.hujson",
    );
    assert.equal(entries.length, 1);
    const l = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: read(proxy.config.tls!.certFile),
      key: read(proxy.config.tls!.keyFile),
    });
    l.close();
    assert.throws(() =>
      Deno.listenTls({
        hostname: "127.0.0.1",
        port: 0,
        cert: "REPLACE-ME-proxy-certificate-pem",
        key: "REPLACE-ME-proxy-private-key-pem",
      })
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
