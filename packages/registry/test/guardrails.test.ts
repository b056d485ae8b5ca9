import { appendFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import { GuardrailSpecSchema, type InstalledBundle } from "@aria/core-types";
import {
  type GuardrailCheck,
  type GuardrailConfig,
  type GuardrailTrip,
  ibanValid,
  jsonBytes,
  luhnValid,
  mapStrings,
  piiCheck,
  REDACTED,
  ToolRegistry,
} from "@aria/registry";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { caught, context, removeDir, tempDir, writeBundle } from "./fixtures.ts";

let root: string;
beforeAll(async () => {
  root = await tempDir("aria-guardrails-");
});
afterAll(() => removeDir(root));

const ctx = { tool: "t", on: "input" as const, runId: "r", stepId: "s" };
const check = async (fn: GuardrailCheck, value: unknown) => fn(value, ctx);

describe("PII detection", () => {
  it("validates card numbers with Luhn and IBANs with mod 97", () => {
    expect(luhnValid("4111 1111 1111 1111")).toBe(true);
    expect(luhnValid("4111-1111-1111-1112")).toBe(false);
    expect(luhnValid("1234")).toBe(false);
    expect(ibanValid("GB82 WEST 1234 5698 7654 32")).toBe(true);
    expect(ibanValid("DE89370400440532013000")).toBe(true);
    expect(ibanValid("GB82 WEST 1234 5698 7654 33")).toBe(false);
  });

  it.each([
    ["email", "write to alice.smith+x@mail.example.org today"],
    ["phone", "call +44 20 7946 0958 please"],
    ["phone", "call (415) 555-0123 please"],
    ["credit-card", "card 4111 1111 1111 1111 exp 12/29"],
    ["iban", "pay to GB82 WEST 1234 5698 7654 32 now"],
    ["api-key", "key sk-ant-api03-abcdefghijklmnopqrstuvwx here"],
    ["api-key", "aws AKIAIOSFODNN7EXAMPLE here"],
    ["api-key", "token ghp_abcdefghijklmnopqrstuvwxyz0123456789 here"],
  ])("finds and redacts %s in %j", async (kind, text) => {
    const result = await check(piiCheck(), { nested: [{ text }] });
    expect(result.ok).toBe(false);
    expect(result.findings).toContain(kind);
    const redacted = JSON.stringify(result.redacted);
    expect(redacted).toContain(REDACTED);
    // The sensitive part is gone; the words around it stay.
    const [first, ...rest] = text.split(" ");
    expect(redacted).toContain(first as string);
    expect(redacted).toContain(rest.at(-1) as string);
    expect(result.message ?? "").not.toContain(text.split(" ")[1] as string);
  });

  it("leaves ordinary text and numbers alone", async () => {
    for (const text of [
      "order 12345 shipped on 2026-11-24 at 10:30, total 1999.50",
      "4111 1111 1111 1112 is not a valid card",
      "version 1.2.3 of task-runner, see https://example.invalid/docs",
    ]) {
      expect(await check(piiCheck(), { text }), text).toEqual({ ok: true });
    }
  });

  it("walks strings deeply without touching keys or non-plain objects", () => {
    const date = new Date(0);
    const out = mapStrings({ "a@b.co": ["x", { y: "z" }], date, n: 1 }, (s) => s.toUpperCase());
    expect(out).toEqual({ "a@b.co": ["X", { y: "Z" }], date, n: 1 });
    expect(jsonBytes({ text: "é" })).toBe(13);
    expect(jsonBytes(undefined)).toBe(0);
  });
});

// ---- every kind × action × direction on a tool registered without a bundle ----------------------

const OFFENDING = "contact alice@example.com now";
const CLEAN = "hi";

/** A custom check: trips on anything that looks like an address, redacting it. */
const noAddresses: GuardrailCheck = (value) => {
  const text = JSON.stringify(value);
  if (!/\S+@\S+/.test(text)) return { ok: true };
  return {
    ok: false,
    message: "an address was found",
    redacted: mapStrings(value, (s) => s.replace(/\S+@\S+/g, REDACTED)),
  };
};

const KINDS: Record<string, { spec: Omit<GuardrailConfig, "on" | "action">; redacted?: string }> = {
  schema: {
    spec: {
      kind: "schema",
      schema: { type: "object", properties: { text: { type: "string", maxLength: 10 } } },
    },
  },
  size: { spec: { kind: "size", maxBytes: 20 } },
  regex: {
    spec: { kind: "regex", pattern: "alice@\\w+" },
    redacted: `contact ${REDACTED}.com now`,
  },
  pii: { spec: { kind: "pii" }, redacted: `contact ${REDACTED} now` },
  custom: { spec: { kind: "custom", export: "noAddresses" }, redacted: `contact ${REDACTED} now` },
};

function echoTool(guardrails: GuardrailConfig[], output: string | undefined) {
  const trips: GuardrailTrip[] = [];
  const received: unknown[] = [];
  const registry = new ToolRegistry({ onGuardrail: (trip) => trips.push(trip) });
  const tool = registry.register({
    name: "echo",
    description: "echoes",
    inputSchema: { type: "object", properties: { text: { type: "string" } }, required: ["text"] },
    guardrails,
    guardrailChecks: { noAddresses },
    handler: async (input) => {
      received.push(input);
      return { text: output ?? (input as { text: string }).text };
    },
  });
  return { registry, tool, trips, received };
}

describe.each(Object.entries(KINDS))("%s guardrail", (kind, { spec, redacted }) => {
  describe.each(["input", "output"] as const)("on %s", (on) => {
    const run = (action: "block" | "redact" | "warn") => {
      const setup = echoTool(
        [{ ...spec, on, action } as GuardrailConfig],
        on === "output" ? OFFENDING : undefined,
      );
      const input = { text: on === "input" ? OFFENDING : CLEAN };
      return { ...setup, result: setup.registry.execute("echo", input, context()) };
    };
    const expectTrip = (trips: GuardrailTrip[], action: string) =>
      expect(trips).toEqual([
        expect.objectContaining({
          tool: "echo",
          kind,
          on,
          action,
          runId: "run-1",
          stepId: "step-1",
        }),
      ]);

    it("block: GUARDRAIL_TRIPPED naming guardrail, direction and tool, without the content", async () => {
      const { result, trips, received } = run("block");
      const error = await caught(result);
      expect(error.code).toBe("GUARDRAIL_TRIPPED");
      expect(error.message).toContain(`(${kind})`);
      expect(error.message).toContain(`the ${on} of tool 'echo'`);
      expect(error.message).not.toContain("alice@example.com");
      expect(JSON.stringify(error.toBody())).not.toContain("alice@example.com");
      expect(error.details).toMatchObject({ guardrail: kind, on, action: "block" });
      expect(error.context).toMatchObject({ tool: "echo", runId: "run-1", stepId: "step-1" });
      expect(received).toHaveLength(on === "input" ? 0 : 1);
      expectTrip(trips, "block");
    });

    it(
      redacted ? "redact: replaces the match and continues" : "redact: cannot redact, so it blocks",
      async () => {
        const { result, trips, received } = run("redact");
        if (!redacted) {
          expect((await caught(result)).code).toBe("GUARDRAIL_TRIPPED");
        } else if (on === "input") {
          await expect(result).resolves.toEqual({ text: redacted });
          expect(received).toEqual([{ text: redacted }]);
        } else {
          await expect(result).resolves.toEqual({ text: redacted });
          expect(received).toEqual([{ text: CLEAN }]);
        }
        expectTrip(trips, "redact");
      },
    );

    it("warn: continues unchanged and reports the trip", async () => {
      const { result, trips, received } = run("warn");
      await expect(result).resolves.toEqual({ text: OFFENDING });
      expect(received).toEqual([{ text: on === "input" ? OFFENDING : CLEAN }]);
      expectTrip(trips, "warn");
    });
  });
});

describe("guardrails on a registered tool", () => {
  it("checks only the direction a guardrail is for, and both by default", async () => {
    const outputOnly = echoTool([{ kind: "pii", on: "output" }], CLEAN);
    await expect(
      outputOnly.registry.execute("echo", { text: OFFENDING }, context()),
    ).resolves.toEqual({ text: CLEAN });
    expect(outputOnly.trips).toEqual([]);

    const both = echoTool([{ kind: "pii", action: "warn" }], undefined);
    await both.registry.execute("echo", { text: OFFENDING }, context());
    expect(both.trips.map((t) => t.on)).toEqual(["input", "output"]);
    expect(both.tool.guardrails).toEqual([{ kind: "pii", on: "both", action: "warn" }]);
  });

  it("composes in order: a redacting guardrail feeds the next one", async () => {
    const { registry, trips } = echoTool(
      [
        { kind: "pii", on: "input", action: "redact" },
        { kind: "regex", pattern: "@", on: "input", action: "block" },
      ],
      undefined,
    );
    await expect(registry.execute("echo", { text: OFFENDING }, context())).resolves.toEqual({
      text: `contact ${REDACTED} now`,
    });
    expect(trips.map((t) => t.kind)).toEqual(["pii"]);
  });

  it("runs after schema validation, and a clean call trips nothing", async () => {
    const { registry, trips, received } = echoTool([{ kind: "size", maxBytes: 5 }], undefined);
    expect((await caught(registry.execute("echo", { nope: 1 }, context()))).code).toBe(
      "VALIDATION_FAILED",
    );
    expect(trips).toEqual([]);
    const ok = echoTool([{ kind: "pii" }, { kind: "size", maxBytes: 100 }], undefined);
    await expect(ok.registry.execute("echo", { text: CLEAN }, context())).resolves.toEqual({
      text: CLEAN,
    });
    expect(ok.trips).toEqual([]);
    expect(received).toEqual([]);
  });

  it("gives a custom check only the value and the call's names (no credentials)", async () => {
    const seen: unknown[] = [];
    const registry = new ToolRegistry();
    registry.register({
      name: "probe",
      description: "probe",
      inputSchema: { type: "object" },
      guardrails: [{ kind: "custom", export: "spy", on: "input" }],
      guardrailChecks: {
        spy: (value, c) => {
          seen.push(value, c);
          return { ok: true };
        },
      },
      handler: async () => ({}),
    });
    await registry.execute("probe", { a: 1 }, context({ workspaceDir: "/tmp/x" }));
    expect(seen).toEqual([
      { a: 1 },
      { tool: "probe", on: "input", runId: "run-1", stepId: "step-1" },
    ]);
  });

  it("turns a failing custom check into GUARDRAIL_TRIPPED and a missing one into BUNDLE_INVALID", async () => {
    const registry = new ToolRegistry();
    registry.register({
      name: "boom",
      description: "boom",
      inputSchema: { type: "object" },
      guardrails: [{ kind: "custom", export: "explode" }],
      guardrailChecks: {
        explode: () => {
          throw new Error("check crashed");
        },
      },
      handler: async () => ({}),
    });
    const error = await caught(registry.execute("boom", {}, context()));
    expect(error.code).toBe("GUARDRAIL_TRIPPED");
    expect(error.details).toMatchObject({ reason: "check_failed" });

    registry.register({
      name: "missing",
      description: "missing",
      inputSchema: { type: "object" },
      guardrails: [{ kind: "custom", export: "nowhere" }],
      handler: async () => ({}),
    });
    expect((await caught(registry.execute("missing", {}, context()))).code).toBe("BUNDLE_INVALID");
  });

  it("refuses guardrails missing what their kind needs at registration", () => {
    const registry = new ToolRegistry();
    for (const guardrail of [
      { kind: "regex" },
      { kind: "regex", pattern: "(" },
      { kind: "size" },
      { kind: "schema" },
      { kind: "schema", schema: { type: "nonsense" } },
      { kind: "custom" },
    ] as GuardrailConfig[]) {
      let code: string | undefined;
      try {
        registry.register({
          name: "x",
          description: "x",
          inputSchema: { type: "object" },
          guardrails: [guardrail],
        });
      } catch (error) {
        code = (error as { code?: string }).code;
      }
      expect(code, JSON.stringify(guardrail)).toBe("BUNDLE_INVALID");
    }
    expect(registry.has("x")).toBe(false);
  });

  it("survives an onGuardrail listener that throws", async () => {
    const registry = new ToolRegistry({
      onGuardrail: () => {
        throw new Error("listener down");
      },
    });
    registry.register({
      name: "echo",
      description: "echo",
      inputSchema: { type: "object" },
      guardrails: [{ kind: "pii", action: "redact" }],
      handler: async (input) => input,
    });
    await expect(registry.execute("echo", { t: OFFENDING }, context())).resolves.toEqual({
      t: `contact ${REDACTED} now`,
    });
  });
});

// ---- bundle tools: guardrails from the manifest, a custom check exported by the bundle -----------

async function guardedBundle(
  version: string,
  guardrails: GuardrailConfig[],
  options: { execution?: "inprocess" | "container"; loadMarker?: string } = {},
): Promise<{ installed: InstalledBundle; dir: string }> {
  const { installed, dir } = await writeBundle(root, {
    name: "mail-tools",
    version,
    tools: [
      {
        name: "lookup",
        handler:
          "async (input) => ({ owner: 'Alice', email: 'alice@example.com', query: input.query })",
        inputSchema: { type: "object", properties: { query: { type: "string" } } },
        ...(options.execution ? { execution: options.execution } : {}),
      },
    ],
    ...(options.loadMarker ? { loadMarker: options.loadMarker } : {}),
  });
  await appendFile(
    join(dir, "dist", "index.js"),
    "export function noSecrets(value) { return JSON.stringify(value).includes('secret') ? { ok: false, message: 'mentions a secret' } : { ok: true }; }\n",
  );
  const tool = installed.manifest.tools[0];
  if (tool) tool.guardrails = guardrails.map((g) => GuardrailSpecSchema.parse(g));
  return { installed, dir };
}

describe("guardrails of bundle tools", () => {
  it("redacts an email address from a tool result and blocks an oversized input", async () => {
    const trips: GuardrailTrip[] = [];
    const registry = new ToolRegistry({ onGuardrail: (t) => trips.push(t) });
    const { installed, dir } = await guardedBundle("1.0.0", [
      { kind: "pii", on: "output", action: "redact" },
      { kind: "size", on: "input", maxBytes: 64 },
    ]);
    const [tool] = await registry.registerBundle(installed, dir);
    expect(tool?.guardrails).toEqual([
      { kind: "pii", on: "output", action: "redact" },
      { kind: "size", on: "input", action: "block", maxBytes: 64 },
    ]);
    await expect(
      registry.execute("mail-tools/lookup", { query: "owner" }, context()),
    ).resolves.toEqual({ owner: "Alice", email: REDACTED, query: "owner" });

    const error = await caught(
      registry.execute("mail-tools/lookup", { query: "x".repeat(100) }, context()),
    );
    expect(error.code).toBe("GUARDRAIL_TRIPPED");
    expect(error.message).toContain("input of tool 'mail-tools/lookup'");
    expect(error.message).not.toContain("xxxx");
    expect(trips.map((t) => [t.tool, t.kind, t.on, t.action])).toEqual([
      ["mail-tools/lookup", "pii", "output", "redact"],
      ["mail-tools/lookup", "size", "input", "block"],
    ]);
  });

  it("runs a custom check exported by the bundle, loading the module only when needed", async () => {
    const marker = join(root, "custom-load.txt");
    const registry = new ToolRegistry();
    const { installed, dir } = await guardedBundle(
      "1.1.0",
      [{ kind: "custom", export: "noSecrets", on: "input" }],
      { loadMarker: marker },
    );
    await registry.registerBundle(installed, dir);
    expect(registry.loadedBundles()).toEqual([]);
    const error = await caught(
      registry.execute("mail-tools/lookup", { query: "the secret plan" }, context()),
    );
    expect(error.code).toBe("GUARDRAIL_TRIPPED");
    expect(error.details).toMatchObject({ guardrail: "custom", on: "input" });
    await expect(
      registry.execute("mail-tools/lookup", { query: "public" }, context()),
    ).resolves.toMatchObject({ query: "public" });
    // One import serves the check and the handler.
    expect(await readFile(marker, "utf8")).toBe("mail-tools@1.1.0\n");
  });

  it("refuses a custom guardrail on a container tool, and a missing export fails the call", async () => {
    const registry = new ToolRegistry();
    const container = await guardedBundle("1.2.0", [{ kind: "custom", export: "noSecrets" }], {
      execution: "container",
    });
    const refused = await caught(registry.registerBundle(container.installed, container.dir));
    expect(refused.code).toBe("BUNDLE_INVALID");
    expect(refused.details).toMatchObject({ reason: "bad_guardrail" });

    const missing = await guardedBundle("1.3.0", [{ kind: "custom", export: "absent" }]);
    await registry.registerBundle(missing.installed, missing.dir);
    const error = await caught(registry.execute("mail-tools/lookup", { query: "q" }, context()));
    expect(error.code).toBe("BUNDLE_INVALID");
    expect(error.details).toMatchObject({ reason: "missing_export" });
  });
});
