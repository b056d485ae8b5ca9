import { ARIA_DEFINITION_KEY, type DefinitionKind } from "@aria/core-types";

/**
 * The marker every definition carries. It is `Symbol.for("aria.definition")`, so the packer and the
 * registry recognise definitions made by any copy of the SDK (each bundle inlines its own).
 */
export const DEFINITION_MARKER: unique symbol = Symbol.for(ARIA_DEFINITION_KEY) as never;

/** True when `value` is a definition made by `defineTool`/`defineAgent`/`defineTeam`/`definePipeline`. */
export function isDefinition(value: unknown, kind?: DefinitionKind): boolean {
  if (typeof value !== "object" || value === null) return false;
  const marker = (value as Record<symbol, unknown>)[DEFINITION_MARKER];
  return kind === undefined ? typeof marker === "string" : marker === kind;
}

const NAME = /^[a-zA-Z][a-zA-Z0-9_.-]*$/;

/** Throws a plain error (the SDK has no error package) when a definition's name is not usable. */
export function checkName(kind: DefinitionKind, name: unknown): asserts name is string {
  if (typeof name !== "string" || name.length === 0 || name.length > 128 || !NAME.test(name)) {
    throw new TypeError(
      `${kind} name ${JSON.stringify(name)} is invalid: start with a letter and use only letters, digits, '_', '.', '-' (max 128)`,
    );
  }
}

/** Throws when a required text field is missing. */
export function checkText(kind: DefinitionKind, name: string, field: string, value: unknown): void {
  if (typeof value !== "string" || value.trim().length === 0) {
    throw new TypeError(`${kind} '${name}' needs a non-empty '${field}'`);
  }
}
