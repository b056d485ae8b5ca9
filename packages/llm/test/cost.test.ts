import { AriaError } from "@aria/errors";
import { costFromPrice, createLlmHandler, PriceTable } from "@aria/llm";
import { reply, startFakeAnthropic, startFakeOpenAI } from "@aria/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { ANTHROPIC_KEY, collect, OPENAI_KEY, rejectionOf, serverPool } from "./helpers.ts";

const pool = serverPool();
afterEach(() => pool.closeAll());

describe("cost accounting", () => {
  it("sums tokens and cost per run, session, agent and provider", async () => {
    const openai = await pool.add(
      startFakeOpenAI(reply.text("o", { usage: { inputTokens: 1000, outputTokens: 100 } })),
    );
    const anthropic = await pool.add(
      startFakeAnthropic(
        reply.text("a", {
          usage: { inputTokens: 2000, outputTokens: 200, cachedInputTokens: 1000 },
        }),
      ),
    );
    const llm = createLlmHandler({
      config: {
        providers: ["openai", "anthropic"],
        openai: { apiKey: OPENAI_KEY, baseURL: openai.baseURL, model: "gpt-4o-mini" },
        anthropic: { apiKey: ANTHROPIC_KEY, baseURL: anthropic.baseURL, model: "claude-haiku-4-5" },
      },
    });
    const ask = (content: string) => [{ role: "user" as const, content }];
    await llm.complete({ messages: ask("1"), runId: "r1", sessionId: "s1", agent: "planner" });
    await llm.complete({
      messages: ask("2"),
      runId: "r1",
      sessionId: "s1",
      agent: "writer",
      provider: "anthropic",
    });
    await llm.complete({
      messages: ask("3"),
      runId: "r2",
      sessionId: "s1",
      agent: "writer",
      provider: "anthropic",
    });

    const openaiCost = (1000 * 0.15 + 100 * 0.6) / 1e6;
    const anthropicCost = (1000 * 1 + 1000 * 0.1 + 200 * 5) / 1e6;
    expect(llm.accounting.run("r1")).toMatchObject({
      calls: 2,
      inputTokens: 3000,
      outputTokens: 300,
      cachedInputTokens: 1000,
      totalTokens: 3300,
    });
    expect(llm.accounting.run("r1").costUsd).toBeCloseTo(openaiCost + anthropicCost, 12);
    expect(llm.accounting.run("r2").calls).toBe(1);
    expect(llm.accounting.session("s1")).toMatchObject({ calls: 3, totalTokens: 1100 + 2200 * 2 });
    expect(llm.accounting.session("s1").costUsd).toBeCloseTo(openaiCost + 2 * anthropicCost, 12);
    expect(llm.accounting.agent("writer")).toMatchObject({ calls: 2, outputTokens: 400 });
    expect(llm.accounting.agent("planner").costUsd).toBeCloseTo(openaiCost, 12);
    expect(llm.accounting.byProvider()).toMatchObject({
      openai: { calls: 1 },
      anthropic: { calls: 2 },
    });
    expect(llm.accounting.total()).toMatchObject({ calls: 3, totalTokens: 5500 });

    llm.accounting.clearRun("r1");
    expect(llm.accounting.run("r1").calls).toBe(0);
    expect(llm.accounting.session("s1").calls).toBe(3);
  });

  it("takes prices from configuration, which extends and overrides the built-in table", async () => {
    const openai = await pool.add(
      startFakeOpenAI(
        reply.text("x", { usage: { inputTokens: 1_000_000, outputTokens: 1_000_000 } }),
      ),
    );
    const llm = createLlmHandler({
      config: {
        providers: ["openai"],
        openai: { apiKey: OPENAI_KEY, baseURL: openai.baseURL },
        prices: {
          "my-finetune": { inputPerMTok: 1, outputPerMTok: 2 },
          "gpt-4o-mini": { inputPerMTok: 10, outputPerMTok: 20 },
        },
      },
    });
    const ask = { messages: [{ role: "user" as const, content: "q" }] };
    expect((await llm.complete({ ...ask, model: "my-finetune" })).costUsd).toBeCloseTo(3, 9);
    expect((await llm.complete({ ...ask, model: "gpt-4o-mini" })).costUsd).toBeCloseTo(30, 9);
    expect((await llm.complete({ ...ask, model: "gpt-4o" })).costUsd).toBeCloseTo(12.5, 9);
    expect((await llm.complete({ ...ask, model: "unheard-of" })).costUsd).toBe(0);
  });

  it("prices dated snapshots by their family and counts cache reads and writes apart", () => {
    const table = new PriceTable();
    expect(table.priceOf("gpt-4o-mini-2024-07-18")).toEqual(table.priceOf("gpt-4o-mini"));
    expect(table.priceOf("gpt-4o-2024-08-06")?.inputPerMTok).toBe(2.5);
    expect(table.priceOf("claude-3-5-haiku-latest")?.outputPerMTok).toBe(4);
    const usage = {
      inputTokens: 1_000_000,
      outputTokens: 0,
      cachedInputTokens: 500_000,
      cacheWriteTokens: 250_000,
      totalTokens: 1_000_000,
    };
    expect(
      costFromPrice(
        { inputPerMTok: 4, outputPerMTok: 8, cachedInputPerMTok: 1, cacheWritePerMTok: 5 },
        usage,
      ),
    ).toBeCloseTo(0.25 * 4 + 0.5 * 1 + 0.25 * 5, 12);
  });
});

describe("budgets", () => {
  it("refuses the call that would pass the run's token budget, without making it", async () => {
    const openai = await pool.add(
      startFakeOpenAI(reply.text("used", { usage: { inputTokens: 80, outputTokens: 10 } })),
    );
    const llm = createLlmHandler({
      config: { providers: ["openai"], openai: { apiKey: OPENAI_KEY, baseURL: openai.baseURL } },
      limits: { maxTokensPerRun: 100 },
    });
    const ask = {
      messages: [{ role: "user" as const, content: "hi" }],
      runId: "run-b",
      maxTokens: 20,
    };
    await llm.complete(ask);
    const error = await rejectionOf(llm.complete(ask));
    expect(AriaError.hasCode(error, "BUDGET_EXCEEDED")).toBe(true);
    expect((error as AriaError).details).toMatchObject({
      scope: "run",
      bound: "tokens",
      limit: 100,
      used: 90,
    });
    expect((error as AriaError).context).toMatchObject({ runId: "run-b" });
    expect(openai.calls).toHaveLength(1);
    // Streams are refused the same way, before any request.
    expect(AriaError.hasCode(await rejectionOf(collect(llm.stream(ask))), "BUDGET_EXCEEDED")).toBe(
      true,
    );
    expect(openai.calls).toHaveLength(1);
    // Another run has its own budget; a run can be given a bigger one.
    await llm.complete({ ...ask, runId: "run-c" });
    llm.accounting.setRunBudget("run-b", { maxTokens: 1000 });
    await llm.complete(ask);
    expect(openai.calls).toHaveLength(3);
    expect(llm.accounting.runBudget("run-b").remaining.maxTokens).toBe(1000 - 180);
  });

  it("refuses the call that would pass the session's cost budget", async () => {
    const openai = await pool.add(
      startFakeOpenAI(reply.text("pricey", { usage: { inputTokens: 100, outputTokens: 40 } })),
    );
    const llm = createLlmHandler({
      config: {
        providers: ["openai"],
        openai: { apiKey: OPENAI_KEY, baseURL: openai.baseURL, model: "gpt-4o" },
      },
      sessionBudget: { maxCostUsd: 0.001 },
    });
    const ask = {
      messages: [{ role: "user" as const, content: "go" }],
      sessionId: "s-9",
      maxTokens: 50,
    };
    const first = await llm.complete(ask);
    expect(first.costUsd).toBeCloseTo((100 * 2.5 + 40 * 10) / 1e6, 12);
    const error = await rejectionOf(llm.complete(ask));
    expect(AriaError.hasCode(error, "BUDGET_EXCEEDED")).toBe(true);
    expect((error as AriaError).details).toMatchObject({
      scope: "session",
      bound: "cost",
      limitUsd: 0.001,
    });
    expect(openai.calls).toHaveLength(1);
    expect(llm.accounting.session("s-9").costUsd).toBeCloseTo(first.costUsd, 12);
  });

  it("reserves for calls in flight, so concurrent calls cannot overrun the budget together", async () => {
    const openai = await pool.add(
      startFakeOpenAI(
        reply.text("slow", { delayMs: 100, usage: { inputTokens: 1, outputTokens: 1 } }),
      ),
    );
    const llm = createLlmHandler({
      config: { providers: ["openai"], openai: { apiKey: OPENAI_KEY, baseURL: openai.baseURL } },
      limits: { maxTokensPerRun: 100 },
    });
    const ask = {
      messages: [{ role: "user" as const, content: "x" }],
      runId: "par",
      maxTokens: 45,
    };
    const results = await Promise.allSettled([
      llm.complete(ask),
      llm.complete(ask),
      llm.complete(ask),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "rejected"]);
    expect(openai.calls).toHaveLength(2);
    // Once they finished, only what they really used counts.
    expect(llm.accounting.run("par").totalTokens).toBe(4);
    await llm.complete(ask);
  });

  it("counts an estimate for a stream the consumer stopped early, and frees its reservation", async () => {
    const openai = await pool.add(
      startFakeOpenAI(
        reply.text("a long answer that the caller stops reading", { chunkDelayMs: 5 }),
      ),
    );
    const llm = createLlmHandler({
      config: { providers: ["openai"], openai: { apiKey: OPENAI_KEY, baseURL: openai.baseURL } },
      limits: { maxTokensPerRun: 1000 },
    });
    const ask = {
      messages: [{ role: "user" as const, content: "talk" }],
      runId: "early",
      maxTokens: 500,
    };
    for await (const chunk of llm.stream(ask)) {
      if (chunk.type === "text") break;
    }
    const spent = llm.accounting.run("early");
    expect(spent.calls).toBe(1);
    expect(spent.totalTokens).toBeGreaterThan(0);
    expect(spent.totalTokens).toBeLessThan(20);
    // The 500-token reservation is gone: a second call of the same size fits the budget.
    await llm.complete(ask);
    expect(openai.calls).toHaveLength(2);
  });

  it("still answers from the cache when the budget is spent (a cache hit costs nothing)", async () => {
    const openai = await pool.add(
      startFakeOpenAI(reply.text("cached", { usage: { inputTokens: 95, outputTokens: 5 } })),
    );
    const llm = createLlmHandler({
      config: { providers: ["openai"], openai: { apiKey: OPENAI_KEY, baseURL: openai.baseURL } },
      limits: { maxTokensPerRun: 100 },
    });
    const ask = { messages: [{ role: "user" as const, content: "q" }], runId: "r", temperature: 0 };
    await llm.complete(ask);
    expect((await llm.complete(ask)).cached).toBe(true);
    expect(
      AriaError.hasCode(
        await rejectionOf(llm.complete({ ...ask, temperature: 0.5 })),
        "BUDGET_EXCEEDED",
      ),
    ).toBe(true);
  });
});
