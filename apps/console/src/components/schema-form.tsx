import { useId, useState } from "react";
import {
  buildValue,
  type Draft,
  describeSchema,
  type FieldSpec,
  initialDraft,
  setDraft,
} from "../form/schema-model.ts";

/**
 * A form generated from a JSON Schema (see form/schema-model.ts): labelled inputs for strings,
 * numbers, booleans, enums and lists of primitives, nested fieldsets for objects, and a JSON text
 * area for anything else. "Edit as JSON" switches the whole input to raw JSON.
 */
export function SchemaForm(props: {
  schema: unknown;
  submitLabel: string;
  busy?: boolean;
  onSubmit: (value: unknown) => void;
  idPrefix?: string;
}) {
  const spec = describeSchema(props.schema ?? {}, "input", false);
  const [draft, setDraftState] = useState<Draft>(() => initialDraft(spec));
  const [raw, setRaw] = useState<string | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const base = `${props.idPrefix ?? "f"}${useId().replace(/[^a-zA-Z0-9]/g, "")}`;

  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    if (raw !== null) {
      try {
        const value = raw.trim() === "" ? {} : JSON.parse(raw);
        setErrors({});
        props.onSubmit(value);
      } catch (error) {
        setErrors({ "": `Not valid JSON: ${(error as Error).message}` });
      }
      return;
    }
    const result = buildValue(spec, draft);
    setErrors(result.errors);
    if (result.ok) props.onSubmit(result.value ?? {});
  };

  const toggleRaw = () => {
    if (raw === null) {
      const current = buildValue(spec, draft);
      setRaw(JSON.stringify(current.value ?? {}, null, 2));
    } else {
      try {
        setDraftState(initialDraft(spec, JSON.parse(raw || "{}")));
        setRaw(null);
        setErrors({});
      } catch (error) {
        setErrors({ "": `Not valid JSON: ${(error as Error).message}` });
      }
    }
  };

  const errorCount = Object.keys(errors).length;
  return (
    <form className="schema-form" onSubmit={submit} noValidate>
      {raw !== null ? (
        <div className="field">
          <label htmlFor={`${base}-raw`}>Input (JSON)</label>
          <textarea
            id={`${base}-raw`}
            className="code"
            rows={10}
            value={raw}
            onChange={(e) => setRaw(e.target.value)}
            aria-invalid={errors[""] ? true : undefined}
            aria-describedby={errors[""] ? `${base}-raw-error` : undefined}
          />
          {errors[""] ? (
            <p className="field-error" id={`${base}-raw-error`}>
              {errors[""]}
            </p>
          ) : null}
        </div>
      ) : (
        <Field
          spec={spec}
          draft={draft}
          path={[]}
          errors={errors}
          base={base}
          root
          onChange={(path, value) => setDraftState((d) => setDraft(d, path, value))}
        />
      )}
      {errorCount > 0 ? (
        <p className="form-error" role="alert">
          {errorCount === 1 ? "One field needs attention." : `${errorCount} fields need attention.`}
        </p>
      ) : null}
      <div className="form-actions">
        <button type="submit" className="primary" disabled={props.busy}>
          {props.busy ? "Working…" : props.submitLabel}
        </button>
        <button type="button" onClick={toggleRaw}>
          {raw === null ? "Edit as JSON" : "Back to the form"}
        </button>
      </div>
    </form>
  );
}

const idOf = (base: string, path: Array<string | number>) =>
  `${base}-${path.map((p) => String(p).replace(/[^a-zA-Z0-9_-]/g, "_")).join("-") || "root"}`;

function Field(props: {
  spec: FieldSpec;
  draft: Draft;
  path: Array<string | number>;
  errors: Record<string, string>;
  base: string;
  root?: boolean;
  onChange: (path: Array<string | number>, value: Draft) => void;
}) {
  const { spec, draft, path, errors, base, onChange } = props;
  const id = idOf(base, path);
  const key = path.join(".");
  const error = errors[key];
  const describedBy =
    [spec.description ? `${id}-desc` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ") ||
    undefined;
  const label = (
    <label htmlFor={id}>
      {spec.title || "value"}
      {spec.required ? (
        <span className="required" aria-hidden="true">
          {" "}
          *
        </span>
      ) : (
        <span className="optional"> (optional)</span>
      )}
    </label>
  );
  const help = (
    <>
      {spec.description ? (
        <p className="field-help" id={`${id}-desc`}>
          {spec.description}
        </p>
      ) : null}
      {error ? (
        <p className="field-error" id={`${id}-error`}>
          {error}
        </p>
      ) : null}
    </>
  );
  const invalid = error ? true : undefined;
  // What every text-valued control (input, textarea, select) of this field is bound to.
  const textControl = {
    id,
    value: typeof draft === "string" ? draft : "",
    onChange: (e: { target: { value: string } }) => onChange(path, e.target.value),
    "aria-invalid": invalid,
    "aria-describedby": describedBy,
  };
  switch (spec.kind) {
    case "object": {
      const value = (
        draft && typeof draft === "object" && !Array.isArray(draft) ? draft : {}
      ) as Record<string, Draft>;
      const inner = spec.fields.map((f) => (
        <Field
          key={f.name}
          spec={f.spec}
          draft={value[f.name] ?? initialDraft(f.spec)}
          path={[...path, f.name]}
          errors={errors}
          base={base}
          onChange={onChange}
        />
      ));
      if (props.root) return <div className="fields">{inner}</div>;
      return (
        <fieldset className="fieldset">
          <legend>{spec.title}</legend>
          {spec.description ? <p className="field-help">{spec.description}</p> : null}
          {inner}
        </fieldset>
      );
    }
    case "boolean":
      return (
        <div className="field field-check">
          <input
            id={id}
            type="checkbox"
            checked={draft === true}
            onChange={(e) => onChange(path, e.target.checked)}
            aria-describedby={describedBy}
          />
          {label}
          {help}
        </div>
      );
    case "enum":
      return (
        <div className="field">
          {label}
          <select {...textControl} required={spec.required}>
            <option value="">{spec.required ? "Choose…" : "(none)"}</option>
            {spec.options.map((o, i) => (
              <option key={JSON.stringify(o)} value={String(i)}>
                {typeof o === "string" ? o : JSON.stringify(o)}
              </option>
            ))}
          </select>
          {help}
        </div>
      );
    case "array": {
      const items = Array.isArray(draft) ? draft : [];
      return (
        <fieldset className="fieldset field-array" aria-describedby={describedBy}>
          <legend>
            {spec.title || "items"}
            {spec.required ? "" : " (optional)"}
          </legend>
          {items.map((item, i) => {
            const itemId = idOf(base, [...path, i]);
            const itemError = errors[[...path, i].join(".")];
            return (
              // biome-ignore lint/suspicious/noArrayIndexKey: list items are positional
              <div className="array-item" key={i}>
                <label htmlFor={itemId} className="visually-hidden">
                  {`${spec.title || "item"} ${i + 1}`}
                </label>
                {spec.item === "boolean" ? (
                  <input
                    id={itemId}
                    type="checkbox"
                    checked={item === true}
                    onChange={(e) => onChange([...path, i], e.target.checked)}
                  />
                ) : (
                  <input
                    id={itemId}
                    type="text"
                    inputMode={spec.item === "string" ? "text" : "decimal"}
                    value={typeof item === "string" ? item : ""}
                    aria-invalid={itemError ? true : undefined}
                    onChange={(e) => onChange([...path, i], e.target.value)}
                  />
                )}
                <button
                  type="button"
                  onClick={() =>
                    onChange(
                      path,
                      items.filter((_, j) => j !== i),
                    )
                  }
                  aria-label={`Remove ${spec.title || "item"} ${i + 1}`}
                >
                  Remove
                </button>
                {itemError ? <p className="field-error">{itemError}</p> : null}
              </div>
            );
          })}
          <button
            type="button"
            onClick={() => onChange(path, [...items, spec.item === "boolean" ? false : ""])}
          >
            Add {spec.title || "item"}
          </button>
          {help}
        </fieldset>
      );
    }
    case "number":
    case "integer":
      return (
        <div className="field">
          {label}
          <input
            {...textControl}
            type="text"
            inputMode={spec.kind === "integer" ? "numeric" : "decimal"}
            aria-required={spec.required || undefined}
          />
          {help}
        </div>
      );
    case "string":
      return (
        <div className="field">
          {label}
          {spec.multiline && !spec.format && spec.maxLength === undefined ? (
            <textarea {...textControl} rows={3} aria-required={spec.required || undefined} />
          ) : (
            <input
              {...textControl}
              type={spec.format === "email" ? "email" : spec.format === "uri" ? "url" : "text"}
              aria-required={spec.required || undefined}
            />
          )}
          {help}
        </div>
      );
    case "json":
      return (
        <div className="field">
          {label}
          <textarea {...textControl} className="code" rows={4} placeholder="JSON" />
          {help}
        </div>
      );
  }
}
