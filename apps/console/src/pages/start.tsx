import { useState } from "react";
import { api } from "../api/client.ts";
import type { Definition } from "../api/types.ts";
import { ErrorPanel, useLoad, useTitle } from "../components/common.tsx";
import { SchemaForm } from "../components/schema-form.tsx";
import { navigate } from "../router.tsx";

type Kind = "pipeline" | "agent" | "team";
const LISTS: Record<Kind, string> = { pipeline: "pipelines", agent: "agents", team: "teams" };

/** Start work: pick a pipeline, agent or team, fill its input, submit, land on the live run. */
export function StartPage(props: { kind?: string; name?: string }) {
  useTitle("Start work");
  const [kind, setKind] = useState<Kind>(
    (["pipeline", "agent", "team"] as const).find((k) => k === props.kind) ?? "pipeline",
  );
  const [name, setName] = useState(props.name ?? "");
  const [task, setTask] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const list = useLoad(
    (signal) =>
      api<Record<string, Definition[]>>("GET", `/v1/${LISTS[kind]}`, undefined, { signal }).then(
        (r) => r[LISTS[kind]] ?? [],
      ),
    [kind],
  );
  const items = list.data ?? [];
  const selected =
    items.find((d) => (d.id ?? d.name) === name) ?? items.find((d) => d.name === name);

  const submit = async (input: unknown) => {
    if (!selected) return;
    setBusy(true);
    setError(undefined);
    try {
      const body =
        kind === "pipeline"
          ? { pipeline: selected.id ?? selected.name, input }
          : { [kind]: selected.id ?? selected.name, task };
      const res = await api<{ runId: string }>("POST", "/v1/runs", body);
      navigate(`/runs/${encodeURIComponent(res.runId)}`);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };

  return (
    <div className="page">
      <h1>Start work</h1>
      <fieldset className="kind-picker">
        <legend>What to run</legend>
        {(["pipeline", "agent", "team"] as const).map((k) => (
          <label key={k} className="radio">
            <input
              type="radio"
              name="kind"
              value={k}
              checked={kind === k}
              onChange={() => {
                setKind(k);
                setName("");
              }}
            />
            {k}
          </label>
        ))}
      </fieldset>
      <div className="field">
        <label htmlFor="start-target">
          {kind === "pipeline" ? "Pipeline" : kind === "agent" ? "Agent" : "Team"}
        </label>
        <select
          id="start-target"
          value={selected ? (selected.id ?? selected.name) : ""}
          onChange={(e) => setName(e.target.value)}
        >
          <option value="">Choose…</option>
          {items.map((d) => (
            <option key={d.id ?? d.name} value={d.id ?? d.name}>
              {d.id ?? d.name}
              {d.bundleVersion ? ` (${d.bundleVersion})` : ""}
            </option>
          ))}
        </select>
      </div>
      {list.error ? (
        <ErrorPanel error={list.error as Error} title={`The ${LISTS[kind]} could not be read`} />
      ) : null}
      {selected ? (
        <div className="card">
          <h2>{selected.name}</h2>
          {selected.description ? <p>{selected.description}</p> : null}
          {kind === "pipeline" ? (
            <SchemaForm
              key={`${kind}:${selected.id ?? selected.name}`}
              schema={selected.inputSchema ?? { type: "object" }}
              submitLabel="Start pipeline"
              busy={busy}
              onSubmit={(value) => void submit(value)}
              idPrefix="start"
            />
          ) : (
            <form
              onSubmit={(e) => {
                e.preventDefault();
                void submit(undefined);
              }}
            >
              <div className="field">
                <label htmlFor="start-task">Task</label>
                <textarea
                  id="start-task"
                  rows={4}
                  value={task}
                  required
                  onChange={(e) => setTask(e.target.value)}
                />
              </div>
              <div className="form-actions">
                <button type="submit" className="primary" disabled={busy || task.trim() === ""}>
                  {busy ? "Working…" : `Start ${kind}`}
                </button>
              </div>
            </form>
          )}
          <ErrorPanel error={error as Error} title="The run was not started" />
        </div>
      ) : null}
    </div>
  );
}
