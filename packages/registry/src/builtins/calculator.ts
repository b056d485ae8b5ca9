import { AriaError } from "@aria/errors";
import type { ToolRegistration } from "../tool-registry.ts";
import { EXPRESSION_FUNCTIONS, ExpressionError, evaluateExpression } from "./expression.ts";

const OPERATIONS = [
  "add",
  "subtract",
  "multiply",
  "divide",
  "power",
  "modulo",
  "sqrt",
  "abs",
  "min",
  "max",
  "average",
  "factorial",
] as const;
type Operation = (typeof OPERATIONS)[number];

const ARITY: Record<Operation, [number, number]> = {
  add: [1, Number.POSITIVE_INFINITY],
  subtract: [2, Number.POSITIVE_INFINITY],
  multiply: [1, Number.POSITIVE_INFINITY],
  divide: [2, Number.POSITIVE_INFINITY],
  power: [2, 2],
  modulo: [2, 2],
  sqrt: [1, 1],
  abs: [1, 1],
  min: [1, Number.POSITIVE_INFINITY],
  max: [1, Number.POSITIVE_INFINITY],
  average: [1, Number.POSITIVE_INFINITY],
  factorial: [1, 1],
};

function applyOperation(operation: Operation, operands: number[]): number {
  const [min, max] = ARITY[operation];
  if (operands.length < min || operands.length > max) {
    throw new AriaError("VALIDATION_FAILED", {
      message: `'${operation}' takes ${max === min ? min : `at least ${min}`} operand(s), got ${operands.length}`,
      details: { issues: [{ path: "/operands", message: "wrong number of operands" }] },
    });
  }
  const [first = 0, ...rest] = operands;
  switch (operation) {
    case "add":
      return operands.reduce((a, b) => a + b, 0);
    case "subtract":
      return rest.reduce((a, b) => a - b, first);
    case "multiply":
      return operands.reduce((a, b) => a * b, 1);
    case "divide":
      if (rest.includes(0)) throw new ExpressionError("math", "division by zero");
      return rest.reduce((a, b) => a / b, first);
    case "power":
      return first ** (rest[0] as number);
    case "modulo":
      if (rest[0] === 0) throw new ExpressionError("math", "division by zero");
      return first % (rest[0] as number);
    case "sqrt":
      if (first < 0) throw new ExpressionError("math", "square root of a negative number");
      return Math.sqrt(first);
    case "abs":
      return Math.abs(first);
    case "min":
      return Math.min(...operands);
    case "max":
      return Math.max(...operands);
    case "average":
      return operands.reduce((a, b) => a + b, 0) / operands.length;
    case "factorial":
      return evaluateExpression(`${first}!`);
  }
}

/** Rounds to `precision` decimals when given (for display; the full value is the default). */
function round(value: number, precision: number | undefined): number {
  if (precision === undefined) return value;
  const factor = 10 ** precision;
  return Math.round(value * factor) / factor;
}

/**
 * The built-in `calculator`: evaluates an arithmetic expression (`"2 * pi * 7.5"`, `"sqrt(2)^2"`,
 * `"5!"`) with a real parser (no `eval`), or applies a named operation to operands.
 */
export function calculatorTool(): ToolRegistration {
  return {
    name: "calculator",
    description: `Evaluates an arithmetic expression exactly (numbers, + - * / % ^, parentheses, !, constants pi, e, tau, functions ${EXPRESSION_FUNCTIONS.join(", ")}) or applies a named operation (${OPERATIONS.join(", ")}) to a list of operands.`,
    inputSchema: {
      type: "object",
      properties: {
        expression: {
          type: "string",
          minLength: 1,
          maxLength: 2000,
          description: "e.g. 2 * pi * 7.5",
        },
        operation: { type: "string", enum: [...OPERATIONS] },
        operands: { type: "array", items: { type: "number" }, minItems: 1, maxItems: 10000 },
        precision: {
          type: "integer",
          minimum: 0,
          maximum: 15,
          description: "decimals to round the result to",
        },
      },
      anyOf: [{ required: ["expression"] }, { required: ["operation", "operands"] }],
      additionalProperties: false,
    },
    outputSchema: {
      type: "object",
      properties: { result: { type: "number" }, expression: { type: "string" } },
      required: ["result", "expression"],
      additionalProperties: false,
    },
    securityLevel: "safe",
    handler: (raw) => {
      const input = raw as {
        expression?: string;
        operation?: Operation;
        operands?: number[];
        precision?: number;
      };
      try {
        if (input.expression !== undefined) {
          return {
            result: round(evaluateExpression(input.expression), input.precision),
            expression: input.expression,
          };
        }
        const operation = input.operation as Operation;
        const operands = input.operands as number[];
        const result = applyOperation(operation, operands);
        if (!Number.isFinite(result))
          throw new ExpressionError("math", "the result is not a finite number");
        return {
          result: round(result, input.precision),
          expression: `${operation}(${operands.join(", ")})`,
        };
      } catch (error) {
        if (error instanceof ExpressionError && error.kind === "syntax") {
          throw new AriaError("VALIDATION_FAILED", {
            message: `calculator: ${error.message}`,
            details: {
              issues: [
                { path: "/expression", message: error.message, position: error.position ?? null },
              ],
            },
          });
        }
        throw error;
      }
    },
  };
}
