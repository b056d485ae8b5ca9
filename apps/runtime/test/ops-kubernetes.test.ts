/**
 * The Kubernetes manifests under deploy/kubernetes, offline: every object of the base and of each
 * overlay (rendered as kustomize renders them) validated against the Kubernetes OpenAPI schemas
 * of `kubernetes-models`, the cross-references between them, `apply.sh` against a stub kubectl,
 * and Debian's `yamllint` over every YAML file under deploy/.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";

const deploy = path.resolve(import.meta.dirname, "../../../deploy");
const base = path.join(deploy, "kubernetes");
const overlays = fs.readdirSync(path.join(base, "overlays")).sort();

// biome-ignore lint/suspicious/noExplicitAny: manifests are walked by path; the schemas check their shape
type Doc = { apiVersion: string; kind: string; metadata: Record<string, any>; [k: string]: any };
type Kustomization = {
  namespace?: string;
  resources: string[];
  replicas?: Array<{ name: string; count: number }>;
  images?: Array<{ name: string; newName?: string; newTag?: string }>;
  secretGenerator?: Array<{ name: string; literals: string[] }>;
  generatorOptions?: { disableNameSuffixHash: boolean };
  patches?: Array<{ target: { kind: string; name: string }; patch: string }>;
};

const readYaml = (file: string) =>
  parseAllDocuments(fs.readFileSync(file, "utf8"))
    .map((d) => d.toJS() as Doc)
    .filter(Boolean);

/**
 * Renders a kustomization the way kustomize does, for exactly the features these files use (the
 * test refuses any other, so an overlay cannot silently outgrow it): resources, namespace,
 * replicas, images, secretGenerator with literals (no name hash), and JSON 6902 patches.
 */
function render(dir: string): Doc[] {
  const k = readYaml(path.join(dir, "kustomization.yaml"))[0] as unknown as Kustomization;
  const known = new Set([
    "apiVersion",
    "kind",
    "namespace",
    "resources",
    "replicas",
    "images",
    "secretGenerator",
    "generatorOptions",
    "patches",
  ]);
  for (const key of Object.keys(k))
    if (!known.has(key)) throw new Error(`${dir}: the test's renderer does not support '${key}'`);
  const docs: Doc[] = k.resources.flatMap((r) => readYaml(path.resolve(dir, r)));
  for (const generator of k.secretGenerator ?? []) {
    expect(k.generatorOptions?.disableNameSuffixHash).toBe(true);
    docs.push({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: generator.name },
      type: "Opaque",
      data: Object.fromEntries(
        generator.literals.map((l) => {
          const i = l.indexOf("=");
          return [l.slice(0, i), Buffer.from(l.slice(i + 1)).toString("base64")];
        }),
      ),
    });
  }
  for (const doc of docs) {
    if (k.namespace === undefined) continue;
    if (doc.kind === "Namespace") doc.metadata.name = k.namespace;
    else doc.metadata.namespace = k.namespace;
  }
  for (const { name, count } of k.replicas ?? []) {
    const target = docs.find((d) => d.metadata.name === name && d.spec?.replicas !== undefined);
    expect(target, `replicas: ${name}`).toBeDefined();
    target!.spec.replicas = count;
  }
  for (const image of k.images ?? []) {
    let used = false;
    for (const doc of docs)
      for (const c of doc.spec?.template?.spec?.containers ?? []) {
        const [name, tag] = (c.image as string).split(":");
        if (name !== image.name) continue;
        c.image = `${image.newName ?? name}:${image.newTag ?? tag}`;
        used = true;
      }
    expect(used, `images: ${image.name}`).toBe(true);
  }
  for (const { target, patch } of k.patches ?? []) {
    const doc = docs.find((d) => d.kind === target.kind && d.metadata.name === target.name);
    expect(doc, `patch target ${target.kind}/${target.name}`).toBeDefined();
    for (const op of parseAllDocuments(patch)[0]!.toJS() as Array<{
      op: string;
      path: string;
      value?: unknown;
    }>)
      applyOp(doc!, op);
  }
  return docs;
}

/** One JSON Patch (RFC 6902) operation: add, replace or remove. */
function applyOp(doc: Doc, op: { op: string; path: string; value?: unknown }): void {
  const parts = op.path
    .split("/")
    .slice(1)
    .map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"));
  const last = parts.pop()!;
  // biome-ignore lint/suspicious/noExplicitAny: a JSON pointer walks any shape
  let node: any = doc;
  for (const part of parts) {
    node = node[part];
    if (node === undefined) throw new Error(`patch path ${op.path} does not exist`);
  }
  if (op.op !== "add" && !(last in node)) throw new Error(`patch path ${op.path} does not exist`);
  if (op.op === "remove") {
    if (Array.isArray(node)) node.splice(Number(last), 1);
    else delete node[last];
  } else if (op.op === "add" || op.op === "replace") node[last] = op.value;
  else throw new Error(`patch op ${op.op} is not supported by the test's renderer`);
}

/** Validates an object against its kind's schema (kubernetes-models); throws on any violation. */
async function validate(doc: Doc): Promise<void> {
  const models = (await import(`kubernetes-models/${doc.apiVersion}`)) as Record<
    string,
    new (
      data: unknown,
    ) => { validate(): void }
  >;
  const Model = models[doc.kind];
  if (!Model) throw new Error(`kubernetes-models has no ${doc.apiVersion} ${doc.kind}`);
  new Model(doc).validate();
}

const baseKustomization = readYaml(
  path.join(base, "kustomization.yaml"),
)[0] as unknown as Kustomization;
const variants: Array<[string, Doc[]]> = [
  ["base", render(base)],
  ...overlays.map((o): [string, Doc[]] => [o, render(path.join(base, "overlays", o))]),
];

describe("Kubernetes manifests (offline)", () => {
  it("have overlays for dev and prod that list exactly the base's files", () => {
    expect(overlays).toEqual(expect.arrayContaining(["dev", "prod"]));
    for (const overlay of overlays) {
      const k = readYaml(
        path.join(base, "overlays", overlay, "kustomization.yaml"),
      )[0] as unknown as Kustomization;
      expect(k.resources.map((r) => path.basename(r))).toEqual(baseKustomization.resources);
    }
  });

  it.each(variants)(
    "%s: every object is valid against the Kubernetes schemas",
    async (_name, docs) => {
      expect(docs.length).toBeGreaterThanOrEqual(12);
      for (const doc of docs)
        await expect(validate(doc), `${doc.kind}/${doc.metadata.name}`).resolves.toBeUndefined();
    },
  );

  it("the schema validation catches a broken object", async () => {
    const deployment = structuredClone(variants[0]![1].find((d) => d.kind === "Deployment")!);
    deployment.spec.replicas = "two";
    await expect(validate(deployment)).rejects.toThrow(/replicas must be integer/);
    const pdb = structuredClone(variants[0]![1].find((d) => d.kind === "PodDisruptionBudget")!);
    pdb.spec.minAvailable = { count: 1 };
    await expect(validate(pdb)).rejects.toThrow();
  });

  it.each(variants)(
    "%s: references resolve (services, PDBs, HPAs, ingress, config, secrets)",
    (name, docs) => {
      const find = (kind: string, n: string) =>
        docs.find((d) => d.kind === kind && d.metadata.name === n);
      const deployments = docs.filter((d) => d.kind === "Deployment" || d.kind === "StatefulSet");
      const podsMatching = (selector: Record<string, string>) =>
        deployments.filter((d) =>
          Object.entries(selector).every(([k, v]) => d.spec.template.metadata.labels[k] === v),
        );
      for (const service of docs.filter((d) => d.kind === "Service"))
        expect(
          podsMatching(service.spec.selector),
          `Service ${service.metadata.name}`,
        ).toHaveLength(1);
      for (const pdb of docs.filter((d) => d.kind === "PodDisruptionBudget"))
        expect(
          podsMatching(pdb.spec.selector.matchLabels),
          `PDB ${pdb.metadata.name}`,
        ).toHaveLength(1);
      for (const hpa of docs.filter((d) => d.kind === "HorizontalPodAutoscaler")) {
        expect(find("Deployment", hpa.spec.scaleTargetRef.name)).toBeDefined();
        expect(hpa.spec.maxReplicas).toBeGreaterThanOrEqual(hpa.spec.minReplicas);
      }
      for (const d of deployments) {
        expect(d.spec.selector.matchLabels).toEqual(
          expect.objectContaining(
            Object.fromEntries(
              Object.keys(d.spec.selector.matchLabels).map((k) => [
                k,
                d.spec.template.metadata.labels[k],
              ]),
            ),
          ),
        );
        for (const c of d.spec.template.spec.containers)
          for (const from of c.envFrom ?? [])
            expect(find("ConfigMap", from.configMapRef.name)).toBeDefined();
      }
      // Credentials: the Secret is generated in dev only; elsewhere it is created out of band.
      const secret = find("Secret", "aria-secrets");
      if (name === "dev") {
        expect(Object.keys(secret!.data).sort()).toEqual([
          "anthropic-api-key",
          "api-keys",
          "icc-signing-key",
          "openai-api-key",
        ]);
      } else
        expect(
          secret,
          "no Secret outside dev: applying must not overwrite credentials",
        ).toBeUndefined();
      for (const role of ["aria-api", "aria-worker"]) {
        const spec = find("Deployment", role)!.spec.template.spec;
        const volume = spec.volumes.find(
          (v: { secret?: { secretName: string } }) => v.secret?.secretName === "aria-secrets",
        );
        const mount = spec.containers[0].volumeMounts.find(
          (m: { name: string }) => m.name === volume.name,
        );
        expect(mount.readOnly).toBe(true);
        // Every *_FILE variable points at a key of the mounted Secret; no credential is inline.
        const env = spec.containers[0].env as Array<{ name: string; value?: string }>;
        for (const e of env) {
          expect(e.name).not.toMatch(/(KEY|KEYS|TOKEN|SECRET)$/);
          if (e.name.endsWith("_FILE")) {
            expect(path.dirname(e.value!)).toBe(mount.mountPath);
            if (secret) expect(Object.keys(secret.data)).toContain(path.basename(e.value!));
          }
        }
        expect(env.map((e) => e.name)).toContain("ARIA_ICC_SIGNING_KEY_FILE");
      }
      // Every namespaced object lands in the overlay's namespace.
      const namespace = docs.find((d) => d.kind === "Namespace")!.metadata.name;
      if (name !== "base")
        for (const d of docs.filter((x) => x.kind !== "Namespace"))
          expect(d.metadata.namespace).toBe(namespace);
    },
  );

  it.each(variants)("%s: the ingress serves the API with SSE-friendly settings", (_name, docs) => {
    const ingress = docs.find((d) => d.kind === "Ingress")!;
    const a = ingress.metadata.annotations as Record<string, string>;
    expect(a["nginx.ingress.kubernetes.io/proxy-buffering"]).toBe("off");
    expect(Number(a["nginx.ingress.kubernetes.io/proxy-read-timeout"])).toBeGreaterThanOrEqual(
      3600,
    );
    expect(Number(a["nginx.ingress.kubernetes.io/proxy-send-timeout"])).toBeGreaterThanOrEqual(
      3600,
    );
    const backend = ingress.spec.rules[0].http.paths[0].backend.service;
    const service = docs.find((d) => d.kind === "Service" && d.metadata.name === backend.name)!;
    expect(service.spec.ports.map((p: { name: string }) => p.name)).toContain(backend.port.name);
    expect(service.spec.selector["app.kubernetes.io/name"]).toBe("aria-api");
  });

  it("overlays set what differs between environments", () => {
    const [dev, prod] = ["dev", "prod"].map((o) => variants.find(([n]) => n === o)![1]);
    const image = (docs: Doc[]) =>
      docs.find((d) => d.metadata.name === "aria-api" && d.kind === "Deployment")!.spec.template
        .spec.containers[0].image;
    expect(image(dev!)).toBe("aria-runtime:dev");
    expect(image(prod!)).toMatch(/aria-runtime:\d+\.\d+\.\d+$/);
    const replicas = (docs: Doc[]) =>
      docs.find((d) => d.metadata.name === "aria-api" && d.kind === "Deployment")!.spec.replicas;
    expect(replicas(dev!)).toBe(1);
    expect(replicas(prod!)).toBeGreaterThanOrEqual(2);
    expect(dev!.find((d) => d.kind === "Ingress")!.spec.tls).toBeUndefined();
    expect(prod!.find((d) => d.kind === "Ingress")!.spec.tls[0].secretName).toBe("aria-tls");
  });
});

describe("deploy/kubernetes/apply.sh (against a stub kubectl)", () => {
  const script = path.join(base, "apply.sh");

  function stub(options: { secretExists: boolean }) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "aria-kubectl-"));
    const log = path.join(dir, "calls.log");
    const applied = path.join(dir, "applied.yaml");
    fs.writeFileSync(
      path.join(dir, "kubectl"),
      `#!/usr/bin/env bash
echo "$*" >> "${log}"
case "$*" in
  kustomize*) printf 'apiVersion: v1\\nkind: Namespace\\nmetadata:\\n  name: aria-stub\\n---\\nkind: Deployment\\n' ;;
  "get namespace "*) exit 0 ;;
  *"get secret aria-secrets") exit ${options.secretExists ? 0 : 1} ;;
  "apply -f -") cat > "${applied}" ;;
esac
`,
      { mode: 0o755 },
    );
    const run = (...args: string[]) =>
      spawnSync("bash", [script, ...args], {
        encoding: "utf8",
        env: { ...process.env, PATH: `${dir}:/usr/bin:/bin` },
      });
    const calls = () => (fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : []);
    return { run, calls, applied };
  }

  it("renders the overlay, checks the Secret, applies and waits for the rollout", () => {
    const kubectl = stub({ secretExists: true });
    const result = kubectl.run("prod");
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(kubectl.calls()).toEqual([
      `kustomize --load-restrictor LoadRestrictionsNone ${path.join(base, "overlays", "prod")}`,
      "get namespace aria-stub",
      "-n aria-stub get secret aria-secrets",
      "apply -f -",
      "-n aria-stub rollout status statefulset/aria-redis --timeout=5m",
      "-n aria-stub rollout status deployment/aria-api --timeout=5m",
      "-n aria-stub rollout status deployment/aria-worker --timeout=5m",
    ]);
    expect(fs.readFileSync(kubectl.applied, "utf8")).toContain("name: aria-stub");
  });

  it("refuses to apply without the Secret, and says how to create it", () => {
    const kubectl = stub({ secretExists: false });
    const result = kubectl.run("prod");
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("create secret generic aria-secrets");
    expect(kubectl.calls().some((c) => c.startsWith("apply"))).toBe(false);
  });

  it("renders only, or refuses an unknown environment", () => {
    const kubectl = stub({ secretExists: false });
    const render = kubectl.run("dev", "--render-only");
    expect(render.status).toBe(0);
    expect(render.stdout).toContain("kind: Namespace");
    expect(kubectl.calls()).toHaveLength(1);
    for (const bad of [[], ["staging"], ["../x"], ["dev", "--bogus"]]) {
      const result = kubectl.run(...bad);
      expect(result.status, bad.join(" ")).toBe(2);
      expect(result.stderr).toContain("usage:");
    }
  });
});

describe("yamllint", () => {
  it("passes on every YAML file under deploy/ (deploy/.yamllint)", () => {
    const result = spawnSync(
      "yamllint",
      ["--strict", "-c", path.join(deploy, ".yamllint"), deploy],
      {
        encoding: "utf8",
      },
    );
    if ((result.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT")
      throw new Error(
        "yamllint is not installed: apt-get install yamllint (Debian's package; .ci/run installs it)",
      );
    expect(`${result.stdout}${result.stderr}`).toBe("");
    expect(result.status).toBe(0);
    const files = fs
      .readdirSync(deploy, { recursive: true })
      .map(String)
      .filter((f) => /\.ya?ml$/.test(f));
    expect(files.length).toBeGreaterThanOrEqual(12);
  });
});
