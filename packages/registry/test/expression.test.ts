import { ExpressionError, evaluateExpression } from "@aria/registry";
import { describe, expect, it } from "vitest";

describe("evaluateExpression", () => {
  it.each([
    ["1 + 2 * 3", 7],
    ["(1 + 2) * 3", 9],
    ["2 ^ 3 ^ 2", 512],
    ["2 ** 10", 1024],
    ["-2 ^ 2", -4],
    ["(-2) ^ 2", 4],
    ["2 ^ -1", 0.5],
    ["10 / 4", 2.5],
    ["10 % 4", 2],
    ["5!", 120],
    ["3! ^ 2", 36],
    ["--3", 3],
    ["1.5e3 + .5", 1500.5],
    ["sqrt(16) + abs(-3)", 7],
    ["max(1, 7, 3) - min(4, 2)", 5],
    ["hypot(3, 4)", 5],
    ["log(1000)", 3],
    ["ln(e)", 1],
    ["round(2.5) + floor(-1.5) + ceil(1.2)", 3],
    ["pow(2, 8)", 256],
    ["atan2(1, 1) * 4", Math.PI],
    ["PI * 7.5 ^ 2", Math.PI * 56.25],
    ["2 × 3 ÷ 4 − 1", 0.5],
  ])("%s = %d", (expression, expected) => {
    expect(evaluateExpression(expression)).toBeCloseTo(expected as number, 12);
  });

  it.each([
    ["1 +", "syntax", /unexpected end/],
    ["2 * (3 + 4", "syntax", /expected '\)'/],
    ["process.exit(1)", "syntax", /unexpected character '\.'/],
    ["process", "syntax", /unknown name 'process'/],
    ["constructor", "syntax", /unknown name 'constructor'/],
    ["__proto__", "syntax", /unknown name '__proto__'/],
    ["tostring(1)", "syntax", /unknown name 'tostring'/],
    ["1 + 2)", "syntax", /unexpected '\)'/],
    ["sqrt(1, 2)", "syntax", /takes 1/],
    ["2 $ 3", "syntax", /unexpected character '\$'/],
    ["1 / 0", "math", /division by zero/],
    ["5 % (2 - 2)", "math", /division by zero/],
    ["(-1)!", "math", /factorial/],
    ["171!", "math", /too large/],
    ["sqrt(-1)", "math", /not a number/],
    ["10 ^ 400", "math", /infinite/],
  ])("refuses %s (%s)", (expression, kind, message) => {
    let error: unknown;
    try {
      evaluateExpression(expression);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ExpressionError);
    expect((error as ExpressionError).kind).toBe(kind);
    expect((error as ExpressionError).message).toMatch(message);
  });

  it("bounds length and nesting", () => {
    expect(() => evaluateExpression(`${"1+".repeat(1500)}1`)).toThrow(/longer than/);
    expect(() => evaluateExpression(`${"(".repeat(150)}1${")".repeat(150)}`)).toThrow(/nesting/);
  });
});
