import { useRef, useState } from "react";
import { api } from "../api/client.ts";
import type { BundleInfo, Definition, ToolInfo } from "../api/types.ts";
import { ErrorPanel, JsonView, Section, useLoad, useTitle } from "../components/common.tsx";
import { formatTime } from "../format.ts";
import { Link } from "../router.tsx";

interface Catalog {
  bundles: BundleInfo[];
  tools: ToolInfo[];
  agents: Definition[];
  teams: Definition[];
  pipelines: Definition[];
}

async function loadCatalog(signal: AbortSignal): Promise<Catalog> {
  const get = <T,>(path: string) => api<T>("GET", path, undefined, { signal });
  const [b, t, a, te, p] = await Promise.all([
    get<{ bundles: BundleInfo[] }>("/v1/bundles"),
    get<{ tools: ToolInfo[] }>("/v1/tools"),
    get<{ agents: Definition[] }>("/v1/agents"),
    get<{ teams: Definition[] }>("/v1/teams"),
    get<{ pipelines: Definition[] }>("/v1/pipelines"),
  ]);
  return {
    bundles: b.bundles,
    tools: t.tools,
    agents: a.agents,
    teams: te.teams,
    pipelines: p.pipelines,
  };
}

function Upload(props: { onInstalled: () => void }) {
  const input = useRef<HTMLInputElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [installed, setInstalled] = useState<string>();
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const file = input.current?.files?.[0];
    if (!file) {
      setError(new Error("Choose a .aria file first"));
      return;
    }
    setBusy(true);
    setError(undefined);
    setInstalled(undefined);
    try {
      const res = await api<{
        name: string;
        version: string;
        created?: boolean;
        tools: string[];
        pipelines: string[];
      }>("POST", "/v1/bundles", undefined, {
        raw: await file.arrayBuffer(),
        contentType: "application/octet-stream",
      });
      setInstalled(
        `${res.created === false ? "Already installed" : "Installed"} ${res.name} ${res.version}: ${res.tools.length} tools, ${res.pipelines.length} pipelines.`,
      );
      if (input.current) input.current.value = "";
      props.onInstalled();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card upload" onSubmit={(e) => void submit(e)}>
      <div className="field">
        <label htmlFor="bundle-file">Upload a bundle (.aria file)</label>
        <input
          id="bundle-file"
          ref={input}
          type="file"
          accept=".aria,application/octet-stream,application/gzip"
        />
      </div>
      <div className="form-actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Uploading…" : "Install bundle"}
        </button>
      </div>
      {installed ? (
        <p role="status" className="notice">
          {installed}
        </p>
      ) : null}
      <ErrorPanel error={error as Error} title="The bundle was not installed" />
    </form>
  );
}

function Schema(props: { label: string; schema: unknown }) {
  if (!props.schema) return null;
  return (
    <details className="schema">
      <summary>{props.label}</summary>
      <JsonView value={props.schema} label={props.label} />
    </details>
  );
}

/** What is installed: bundles (with upload), tools (with invoke), agents, teams and pipelines. */
export function CatalogPage() {
  useTitle("Bundles, tools and agents");
  const catalog = useLoad(loadCatalog, []);
  const c = catalog.data;
  return (
    <div className="page">
      <h1>Bundles, tools and agents</h1>
      <Upload onInstalled={catalog.reload} />
      {catalog.error ? (
        <ErrorPanel error={catalog.error as Error} title="The catalogue could not be read" />
      ) : null}
      {c ? (
        <>
          <Section title={`Bundles (${c.bundles.length})`} id="bundles">
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">Bundle</th>
                  <th scope="col">Version</th>
                  <th scope="col">Contents</th>
                  <th scope="col">Installed</th>
                </tr>
              </thead>
              <tbody>
                {c.bundles.map((b) => (
                  <tr key={`${b.name}@${b.version}`} data-bundle={b.name}>
                    <td data-label="Bundle">
                      <strong>{b.name}</strong>
                      {b.description ? <span className="block muted">{b.description}</span> : null}
                    </td>
                    <td data-label="Version">
                      {b.version}
                      <span className="block muted digest" title={b.digest}>
                        {b.digest.slice(0, 19)}…
                      </span>
                    </td>
                    <td data-label="Contents">
                      {b.tools.length} tools, {b.agents.length} agents, {b.teams.length} teams,{" "}
                      {b.pipelines.length} pipelines
                    </td>
                    <td data-label="Installed">{formatTime(b.installedAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Section>
          <Section title={`Tools (${c.tools.length})`} id="tools">
            <ul className="item-list">
              {c.tools.map((t) => (
                <li key={t.id} className="item" data-tool={t.id}>
                  <div className="item-head">
                    <code>{t.id}</code>
                    <span className="muted">
                      {t.bundle ? `${t.bundle.name} ${t.bundle.version}` : "built-in"} ·{" "}
                      {t.execution}
                      {t.needsApproval ? " · needs approval" : ""}
                    </span>
                    <Link
                      to={`/tools/${encodeURIComponent(t.id)}`}
                      className="button"
                      aria-label={`Invoke ${t.id}`}
                    >
                      Invoke
                    </Link>
                  </div>
                  <p>{t.description}</p>
                  <Schema label={`Input schema of ${t.id}`} schema={t.inputSchema} />
                  {t.outputSchema ? (
                    <Schema label={`Output schema of ${t.id}`} schema={t.outputSchema} />
                  ) : null}
                </li>
              ))}
            </ul>
          </Section>
          <Section title={`Pipelines (${c.pipelines.length})`} id="pipelines">
            <Definitions items={c.pipelines} kind="pipeline" />
          </Section>
          <Section title={`Agents (${c.agents.length})`} id="agents">
            <Definitions items={c.agents} kind="agent" />
          </Section>
          <Section title={`Teams (${c.teams.length})`} id="teams">
            <Definitions items={c.teams} kind="team" />
          </Section>
        </>
      ) : catalog.loading ? (
        <p>Loading…</p>
      ) : null}
    </div>
  );
}

function Definitions(props: { items: Definition[]; kind: "pipeline" | "agent" | "team" }) {
  if (props.items.length === 0) return <p className="muted">None installed.</p>;
  return (
    <ul className="item-list">
      {props.items.map((d) => {
        const id = d.id ?? d.name;
        return (
          <li key={id} className="item">
            <div className="item-head">
              <code>{id}</code>
              <span className="muted">
                {d.bundle ? `${d.bundle} ${d.bundleVersion ?? ""}` : ""}
                {d.llm?.model ? ` · ${d.llm.provider ?? ""} ${d.llm.model}` : ""}
                {d.strategy ? ` · ${d.strategy}` : ""}
              </span>
              <Link
                to={`/start?${props.kind}=${encodeURIComponent(id)}`}
                className="button"
                aria-label={`Start ${props.kind} ${id}`}
              >
                Start
              </Link>
            </div>
            {d.description ? <p>{d.description}</p> : null}
            {d.tools && d.tools.length > 0 ? (
              <p className="muted">Tools: {d.tools.join(", ")}</p>
            ) : null}
            {d.members && d.members.length > 0 ? (
              <p className="muted">Members: {d.members.join(", ")}</p>
            ) : null}
            {d.steps ? (
              <p className="muted">Steps: {d.steps.map((s) => s.id).join(" → ")}</p>
            ) : null}
            {d.inputSchema ? (
              <Schema label={`Input schema of ${id}`} schema={d.inputSchema} />
            ) : null}
          </li>
        );
      })}
    </ul>
  );
}
