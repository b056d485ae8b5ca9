/**
 * text-tools: an example bundle written with @aria/sdk. Text analysis tools, an `analyst` agent, a
 * `review-team`, and two pipelines: `text-report` and `circle-analysis` (radius → area →
 * circumference → analysis → report), which uses the tools of its dependency `calculator-tools`.
 */
import { defineAgent, definePipeline, defineTeam, defineTool } from "@aria/sdk";
import { z } from "zod";

const Text = z.object({ text: z.string().describe("the text to analyse") });

/** Words: runs of letters or digits (apostrophes and hyphens inside a word are kept). */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+(?:['’-][\p{L}\p{N}]+)*/gu) ?? [];
}

export const wordCount = defineTool({
  name: "wordCount",
  description: "Counts the words, unique words, sentences and characters of a text",
  input: Text,
  output: z.object({
    words: z.number().int(),
    uniqueWords: z.number().int(),
    sentences: z.number().int(),
    characters: z.number().int(),
  }),
  handler: ({ text }) => {
    const list = words(text);
    const sentences = text.split(/[.!?]+(?:\s|$)/).filter((s) => s.trim().length > 0).length;
    return {
      words: list.length,
      uniqueWords: new Set(list).size,
      sentences,
      characters: [...text].length,
    };
  },
});

const STOP_WORDS = new Set(
  "a an and are as at be but by for from has have he her his i in is it its of on or our she that the their them they this to was we were will with you your not no so if then than".split(
    " ",
  ),
);

export const topKeywords = defineTool({
  name: "topKeywords",
  description: "Finds the most frequent words of a text, ignoring common English stop words",
  input: Text.extend({ limit: z.number().int().min(1).max(100).default(5) }),
  output: z.object({ keywords: z.array(z.object({ word: z.string(), count: z.number().int() })) }),
  handler: ({ text, limit }) => {
    const counts = new Map<string, number>();
    for (const word of words(text))
      if (word.length > 1 && !STOP_WORDS.has(word)) counts.set(word, (counts.get(word) ?? 0) + 1);
    const keywords = [...counts.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, limit)
      .map(([word, count]) => ({ word, count }));
    return { keywords };
  },
});

export const readingTime = defineTool({
  name: "readingTime",
  description: "Estimates how long a text takes to read, at a given number of words per minute",
  input: Text.extend({ wordsPerMinute: z.number().positive().max(2000).default(230) }),
  output: z.object({ words: z.number().int(), minutes: z.number(), seconds: z.number().int() }),
  handler: ({ text, wordsPerMinute }) => {
    const count = words(text).length;
    const minutes = count / wordsPerMinute;
    return {
      words: count,
      minutes: Math.round(minutes * 100) / 100,
      seconds: Math.round(minutes * 60),
    };
  },
});

export const analyst = defineAgent({
  name: "analyst",
  description: "Analyses texts and numbers with measuring tools and explains the results",
  systemPrompt:
    "You are a careful analyst. Measure before you conclude: use the tools to count, find keywords and compute. Report numbers exactly as the tools return them and explain them briefly.",
  tools: [
    wordCount,
    topKeywords,
    readingTime,
    "calculator",
    "calculator-tools/circleArea",
    "calculator-tools/circleCircumference",
  ],
  llm: { temperature: 0.2, maxTokens: 1024 },
  maxSteps: 8,
});

export const writer = defineAgent({
  name: "writer",
  description: "Turns an analysis into a short, clear report",
  systemPrompt:
    "You write short, clear reports from the analysis you are given. Use formatReport to produce the final text.",
  tools: ["calculator-tools/formatReport"],
  llm: { temperature: 0.4, maxTokens: 1024 },
  maxSteps: 4,
});

export const reviewTeam = defineTeam({
  name: "review-team",
  description: "The analyst measures and explains, then the writer turns it into a report",
  members: [analyst, writer],
  strategy: "sequential",
  roles: { analyst: "measures and explains", writer: "writes the final report" },
});

export const textReport = definePipeline({
  name: "text-report",
  description: "Counts words, finds keywords and estimates reading time, then formats a report",
  input: z.object({ text: z.string().min(1), title: z.string().default("Text report") }),
  steps: [
    { id: "count", type: "tool", tool: wordCount, params: { text: "{{input.text}}" } },
    {
      id: "keywords",
      type: "tool",
      tool: topKeywords,
      params: { text: "{{input.text}}", limit: 5 },
    },
    { id: "time", type: "tool", tool: readingTime, params: { text: "{{input.text}}" } },
    {
      id: "report",
      type: "tool",
      tool: "calculator-tools/formatReport",
      params: {
        title: "{{input.title}}",
        values: {
          words: "{{steps.count.output.words}}",
          uniqueWords: "{{steps.count.output.uniqueWords}}",
          sentences: "{{steps.count.output.sentences}}",
          readingSeconds: "{{steps.time.output.seconds}}",
        },
        notes: "{{steps.keywords.output.keywords}}",
      },
      dependsOn: ["count", "keywords", "time"],
    },
  ],
  output: "{{steps.report.output}}",
});

export const circleAnalysis = definePipeline({
  name: "circle-analysis",
  description:
    "Radius to area and circumference, an analyst's reading of them, and a report written to circle_analysis.txt",
  input: z.object({ radius: z.number().nonnegative() }),
  steps: [
    {
      id: "area",
      type: "tool",
      tool: "calculator-tools/circleArea",
      params: { radius: "{{input.radius}}" },
    },
    {
      id: "circumference",
      type: "tool",
      tool: "calculator-tools/circleCircumference",
      params: { radius: "{{input.radius}}" },
    },
    {
      id: "analysis",
      type: "agent",
      agent: analyst,
      params: {
        task: "A circle has radius {{input.radius}}, area {{steps.area.output.area}} and circumference {{steps.circumference.output.circumference}}. Check the ratio of circumference to area and explain what it says about the circle.",
      },
      dependsOn: ["area", "circumference"],
    },
    {
      id: "report",
      type: "tool",
      tool: "calculator-tools/formatReport",
      params: {
        title: "Circle analysis",
        values: {
          radius: "{{input.radius}}",
          area: "{{steps.area.output.area}}",
          circumference: "{{steps.circumference.output.circumference}}",
        },
        notes: "{{steps.analysis.output}}",
        fileName: "circle_analysis.txt",
      },
      dependsOn: ["analysis"],
      retry: { attempts: 2 },
    },
  ],
  output: "{{steps.report.output}}",
});
