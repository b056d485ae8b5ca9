import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";

const dir = path.resolve(import.meta.dirname, "../../../deploy/kubernetes");
// biome-ignore lint/suspicious/noExplicitAny: manifests are walked by path; the assertions check the shape
type Doc = { kind: string; metadata: { name: string }; spec?: Record<string, any> };
const docs: Doc[] = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")
  .flatMap((f) =>
    parseAllDocuments(fs.readFileSync(path.join(dir, f), "utf8")).map((d) => d.toJS() as Doc),
  );
const find = (kind: string, name: string) =>
  docs.find((d) => d.kind === kind && d.metadata.name === name);

describe("Kubernetes manifests", () => {
  it("list every file in the kustomization", () => {
    const kustomization = parseAllDocuments(
      fs.readFileSync(path.join(dir, "kustomization.yaml"), "utf8"),
    )[0]!.toJS() as { resources: string[] };
    const files = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml");
    expect(kustomization.resources.sort()).toEqual(files.sort());
  });

  it.each(["api", "worker"])(
    "run the %s role with probes on /health and /ready, resources, non-root",
    (role) => {
      const deployment = find("Deployment", `aria-${role}`);
      const container = deployment?.spec?.template.spec.containers[0];
      expect(container.args).toEqual(["serve", "--role", role]);
      expect(container.livenessProbe.httpGet.path).toBe("/health");
      expect(container.readinessProbe.httpGet.path).toBe("/ready");
      expect(container.resources.requests).toMatchObject({
        cpu: expect.any(String),
        memory: expect.any(String),
      });
      expect(deployment?.spec?.template.spec.securityContext.runAsNonRoot).toBe(true);
      expect(container.env.map((e: { name: string }) => e.name)).toEqual(
        expect.arrayContaining([
          "OPENAI_API_KEY_FILE",
          "ANTHROPIC_API_KEY_FILE",
          "ARIA_API_KEYS_FILE",
        ]),
      );
    },
  );

  it("run Redis with AOF and scale workers with an HPA", () => {
    const redis = find("StatefulSet", "aria-redis");
    expect(redis?.spec?.template.spec.containers[0].args).toEqual(
      expect.arrayContaining(["--appendonly", "yes"]),
    );
    const hpa = find("HorizontalPodAutoscaler", "aria-worker");
    expect(hpa?.spec?.scaleTargetRef.name).toBe("aria-worker");
    expect(hpa?.spec?.maxReplicas).toBeGreaterThan(hpa?.spec?.minReplicas);
    expect(find("ConfigMap", "aria-config")?.kind).toBe("ConfigMap");
    expect(find("Service", "aria-api")).toBeDefined();
  });
});
