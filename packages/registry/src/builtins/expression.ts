/**
 * A safe arithmetic expression evaluator: a tokenizer and a recursive-descent parser over numbers,
 * `+ - * / %`, `^` or `**` (right-associative), unary signs, postfix `!`, parentheses, the
 * constants `pi`, `e`, `tau` and a fixed table of Math functions. No `eval`, no property access, no
 * identifiers beyond the tables, bounded length and nesting.
 */

/** Why an expression could not be evaluated. `syntax` problems are the caller's input. */
export class ExpressionError extends Error {
  readonly kind: "syntax" | "math";
  readonly position: number | undefined;

  constructor(kind: "syntax" | "math", message: string, position?: number) {
    super(position === undefined ? message : `${message} at position ${position + 1}`);
    this.name = "ExpressionError";
    this.kind = kind;
    this.position = position;
  }
}

const MAX_LENGTH = 2000;
const MAX_DEPTH = 100;

const CONSTANTS: Record<string, number> = { pi: Math.PI, e: Math.E, tau: 2 * Math.PI };

type Fn = { arity: number | "variadic"; apply: (...args: number[]) => number };
const FUNCTIONS: Record<string, Fn> = {
  sqrt: { arity: 1, apply: Math.sqrt },
  cbrt: { arity: 1, apply: Math.cbrt },
  abs: { arity: 1, apply: Math.abs },
  sign: { arity: 1, apply: Math.sign },
  floor: { arity: 1, apply: Math.floor },
  ceil: { arity: 1, apply: Math.ceil },
  round: { arity: 1, apply: Math.round },
  trunc: { arity: 1, apply: Math.trunc },
  exp: { arity: 1, apply: Math.exp },
  ln: { arity: 1, apply: Math.log },
  log: { arity: 1, apply: Math.log10 },
  log10: { arity: 1, apply: Math.log10 },
  log2: { arity: 1, apply: Math.log2 },
  sin: { arity: 1, apply: Math.sin },
  cos: { arity: 1, apply: Math.cos },
  tan: { arity: 1, apply: Math.tan },
  asin: { arity: 1, apply: Math.asin },
  acos: { arity: 1, apply: Math.acos },
  atan: { arity: 1, apply: Math.atan },
  atan2: { arity: 2, apply: Math.atan2 },
  pow: { arity: 2, apply: Math.pow },
  hypot: { arity: "variadic", apply: Math.hypot },
  min: { arity: "variadic", apply: Math.min },
  max: { arity: "variadic", apply: Math.max },
};

/** The function names the evaluator knows. */
export const EXPRESSION_FUNCTIONS = Object.keys(FUNCTIONS);

type Token =
  | { type: "number"; value: number; pos: number }
  | { type: "ident"; value: string; pos: number }
  | { type: "op"; value: string; pos: number }
  | { type: "end"; pos: number };

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const ch = source[i] as string;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    const number = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(source.slice(i));
    if (number) {
      tokens.push({ type: "number", value: Number(number[0]), pos: i });
      i += number[0].length;
      continue;
    }
    const ident = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i));
    if (ident) {
      tokens.push({ type: "ident", value: ident[0].toLowerCase(), pos: i });
      i += ident[0].length;
      continue;
    }
    if (source.startsWith("**", i)) {
      tokens.push({ type: "op", value: "^", pos: i });
      i += 2;
      continue;
    }
    if ("+-*/%^(),!×÷−".includes(ch)) {
      const value = ch === "×" ? "*" : ch === "÷" ? "/" : ch === "−" ? "-" : ch;
      tokens.push({ type: "op", value, pos: i });
      i++;
      continue;
    }
    throw new ExpressionError("syntax", `unexpected character '${ch}'`, i);
  }
  tokens.push({ type: "end", pos: source.length });
  return tokens;
}

function factorial(n: number, pos: number): number {
  if (!Number.isInteger(n) || n < 0)
    throw new ExpressionError("math", `factorial needs a non-negative integer, got ${n}`, pos);
  if (n > 170) throw new ExpressionError("math", `factorial of ${n} is too large`, pos);
  let result = 1;
  for (let k = 2; k <= n; k++) result *= k;
  return result;
}

/** Evaluates an arithmetic expression. Throws `ExpressionError` (syntax or math) otherwise. */
export function evaluateExpression(source: string): number {
  if (source.length > MAX_LENGTH)
    throw new ExpressionError("syntax", `expression longer than ${MAX_LENGTH} characters`);
  const tokens = tokenize(source);
  let index = 0;
  let depth = 0;
  const peek = () => tokens[index] as Token;
  const next = () => tokens[index++] as Token;
  const isOp = (value: string) => {
    const t = peek();
    return t.type === "op" && t.value === value;
  };
  const expect = (value: string) => {
    const t = next();
    if (t.type !== "op" || t.value !== value)
      throw new ExpressionError("syntax", `expected '${value}'`, t.pos);
  };
  const enter = (pos: number) => {
    if (++depth > MAX_DEPTH)
      throw new ExpressionError("syntax", `nesting deeper than ${MAX_DEPTH}`, pos);
  };

  const expression = (): number => {
    enter(peek().pos);
    let value = term();
    while (isOp("+") || isOp("-")) {
      const op = next() as { value: string };
      const right = term();
      value = op.value === "+" ? value + right : value - right;
    }
    depth--;
    return value;
  };
  const term = (): number => {
    let value = unary();
    while (isOp("*") || isOp("/") || isOp("%")) {
      const op = next() as { value: string; pos: number };
      const right = unary();
      if ((op.value === "/" || op.value === "%") && right === 0)
        throw new ExpressionError("math", "division by zero", op.pos);
      value = op.value === "*" ? value * right : op.value === "/" ? value / right : value % right;
    }
    return value;
  };
  const unary = (): number => {
    if (isOp("-") || isOp("+")) {
      const op = next() as { value: string; pos: number };
      enter(op.pos);
      const value = unary();
      depth--;
      return op.value === "-" ? -value : value;
    }
    return power();
  };
  const power = (): number => {
    const base = postfix();
    if (isOp("^")) {
      const op = next();
      enter(op.pos);
      const exponent = unary();
      depth--;
      return base ** exponent;
    }
    return base;
  };
  const postfix = (): number => {
    let value = primary();
    while (isOp("!")) value = factorial(value, next().pos);
    return value;
  };
  const primary = (): number => {
    const token = next();
    if (token.type === "number") return token.value;
    if (token.type === "op" && token.value === "(") {
      const value = expression();
      expect(")");
      return value;
    }
    if (token.type === "ident") {
      // Own properties only: `constructor` or `__proto__` must not reach Object.prototype.
      const fn = Object.hasOwn(FUNCTIONS, token.value) ? FUNCTIONS[token.value] : undefined;
      if (fn) {
        expect("(");
        const args: number[] = [];
        if (!isOp(")")) {
          args.push(expression());
          while (isOp(",")) {
            next();
            args.push(expression());
          }
        }
        expect(")");
        if (fn.arity === "variadic" ? args.length === 0 : args.length !== fn.arity) {
          throw new ExpressionError(
            "syntax",
            `${token.value}() takes ${fn.arity === "variadic" ? "at least 1 argument" : `${fn.arity} argument(s)`}, got ${args.length}`,
            token.pos,
          );
        }
        return fn.apply(...args);
      }
      const constant = Object.hasOwn(CONSTANTS, token.value) ? CONSTANTS[token.value] : undefined;
      if (constant !== undefined) return constant;
      throw new ExpressionError("syntax", `unknown name '${token.value}'`, token.pos);
    }
    if (token.type === "end")
      throw new ExpressionError("syntax", "unexpected end of expression", token.pos);
    throw new ExpressionError("syntax", `unexpected '${token.value}'`, token.pos);
  };

  const value = expression();
  const rest = peek();
  if (rest.type !== "end")
    throw new ExpressionError(
      "syntax",
      `unexpected '${rest.type === "number" ? rest.value : (rest as { value: string }).value}'`,
      rest.pos,
    );
  if (!Number.isFinite(value))
    throw new ExpressionError(
      "math",
      Number.isNaN(value) ? "the result is not a number" : "the result is infinite",
    );
  return value;
}
