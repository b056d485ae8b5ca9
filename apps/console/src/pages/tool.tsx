import { useState } from "react";
import type { ErrorBody } from "../api/client.ts";
import { api } from "../api/client.ts";
import type { ToolInfo } from "../api/types.ts";
import { ErrorPanel, JsonView, useLoad, useTitle } from "../components/common.tsx";
import { SchemaForm } from "../components/schema-form.tsx";
import { formatDuration } from "../format.ts";
import { Link } from "../router.tsx";

interface InvokeResult {
  success: boolean;
  output: unknown;
  error?: ErrorBody;
  metrics: { durationMs: number };
}

/** One tool: its schemas, and a form generated from its input schema to invoke it. */
export function ToolPage(props: { toolId: string }) {
  useTitle(`Tool ${props.toolId}`);
  const tools = useLoad(
    (signal) => api<{ tools: ToolInfo[] }>("GET", "/v1/tools", undefined, { signal }),
    [],
  );
  const tool = tools.data?.tools.find((t) => t.id === props.toolId || t.name === props.toolId);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<InvokeResult>();
  const [error, setError] = useState<unknown>();

  const invoke = async (input: unknown) => {
    if (!tool) return;
    setBusy(true);
    setError(undefined);
    setResult(undefined);
    try {
      setResult(
        await api<InvokeResult>("POST", `/v1/tools/${encodeURIComponent(tool.id)}/invoke`, {
          input,
        }),
      );
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="page">
      <h1>
        Tool <code>{props.toolId}</code>
      </h1>
      <p>
        <Link to="/catalog">← Bundles, tools and agents</Link>
      </p>
      {tools.error ? (
        <ErrorPanel error={tools.error as Error} title="The tools could not be read" />
      ) : null}
      {tools.data && !tool ? <p role="alert">No tool named {props.toolId} is installed.</p> : null}
      {tool ? (
        <>
          <p>{tool.description}</p>
          <p className="muted">
            {tool.bundle ? `${tool.bundle.name} ${tool.bundle.version}` : "built-in"} · runs{" "}
            {tool.execution} · security {tool.securityLevel}
          </p>
          <div className="card">
            <h2>Invoke</h2>
            <SchemaForm
              schema={tool.inputSchema}
              submitLabel="Invoke tool"
              busy={busy}
              onSubmit={(v) => void invoke(v)}
              idPrefix="tool"
            />
          </div>
          <div aria-live="polite">
            {result ? (
              <div className="card result" data-success={String(result.success)}>
                <h2>{result.success ? "Output" : "The tool failed"}</h2>
                <p className="muted">took {formatDuration(result.metrics.durationMs)}</p>
                {result.success ? (
                  <JsonView value={result.output} label="Tool output" />
                ) : (
                  <ErrorPanel error={result.error} title="Tool error" />
                )}
              </div>
            ) : null}
          </div>
          <ErrorPanel error={error as Error} title="The tool was not invoked" />
          <details className="schema">
            <summary>Input schema</summary>
            <JsonView value={tool.inputSchema} label="Input schema" />
          </details>
          {tool.outputSchema ? (
            <details className="schema">
              <summary>Output schema</summary>
              <JsonView value={tool.outputSchema} label="Output schema" />
            </details>
          ) : null}
        </>
      ) : null}
    </div>
  );
}
