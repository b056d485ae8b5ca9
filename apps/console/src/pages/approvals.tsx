import { useEffect, useId, useState } from "react";
import { ApiError, api } from "../api/client.ts";
import type { Approval } from "../api/types.ts";
import { ErrorPanel, useTitle } from "../components/common.tsx";
import { formatTime, shortId } from "../format.ts";
import { Link } from "../router.tsx";

/** One paused step: its parameters (editable), a reason, approve and reject. */
export function ApprovalCard(props: { approval: Approval; onDone: () => void }) {
  const a = props.approval;
  const original = JSON.stringify(a.params ?? {}, null, 2);
  const [params, setParams] = useState(original);
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [done, setDone] = useState<string>();
  const id = useId().replace(/[^a-zA-Z0-9]/g, "");

  const decide = async (decision: "approve" | "reject") => {
    setError(undefined);
    let edited: Record<string, unknown> | undefined;
    if (decision === "approve" && params.trim() !== original.trim()) {
      try {
        const parsed: unknown = JSON.parse(params);
        if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
          throw new Error("the parameters must be a JSON object");
        edited = parsed as Record<string, unknown>;
      } catch (e) {
        setError(new Error(`The edited parameters are not valid: ${(e as Error).message}`));
        return;
      }
    }
    setBusy(true);
    try {
      const res = await api<{ decision: string; status: string }>(
        "POST",
        `/v1/runs/${encodeURIComponent(a.runId)}/approvals/${encodeURIComponent(a.stepId)}`,
        {
          decision,
          ...(edited ? { params: edited } : {}),
          ...(reason.trim() ? { reason: reason.trim() } : {}),
        },
      );
      setDone(`${res.decision === "approve" ? "Approved" : "Rejected"}; the run is ${res.status}.`);
      props.onDone();
    } catch (e) {
      if (e instanceof ApiError && e.status === 409) {
        setDone("Already decided (by someone else or by its timeout).");
        props.onDone();
      } else setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <article
      className="card approval"
      data-run-id={a.runId}
      data-step-id={a.stepId}
      aria-labelledby={`${id}-title`}
    >
      <h3 id={`${id}-title`}>
        Step <code>{a.stepId}</code>: {a.kind} <code>{a.target}</code>
      </h3>
      <p className="muted">
        Run <Link to={`/runs/${encodeURIComponent(a.runId)}`}>{shortId(a.runId)}</Link> · requested{" "}
        {formatTime(a.requestedAt)}
        {a.expiresAt ? ` · expires ${formatTime(a.expiresAt)}` : ""}
        {a.reason ? ` · needs approval because: ${a.reason}` : ""}
      </p>
      {done ? (
        <p role="status" className="notice">
          {done}
        </p>
      ) : (
        <>
          <div className="field">
            <label htmlFor={`${id}-params`}>
              Parameters (edit before approving to change them)
            </label>
            <textarea
              id={`${id}-params`}
              className="code"
              rows={Math.min(12, original.split("\n").length + 1)}
              value={params}
              onChange={(e) => setParams(e.target.value)}
            />
          </div>
          <div className="field">
            <label htmlFor={`${id}-reason`}>Reason (optional)</label>
            <input
              id={`${id}-reason`}
              type="text"
              value={reason}
              onChange={(e) => setReason(e.target.value)}
            />
          </div>
          <div className="form-actions">
            <button
              type="button"
              className="primary"
              disabled={busy}
              onClick={() => void decide("approve")}
            >
              Approve
            </button>
            <button
              type="button"
              className="danger"
              disabled={busy}
              onClick={() => void decide("reject")}
            >
              Reject
            </button>
          </div>
          <ErrorPanel error={error as Error} title="The decision was not recorded" />
        </>
      )}
    </article>
  );
}

/** The approvals inbox: every pending approval, refreshed every few seconds. */
export function ApprovalsPage() {
  useTitle("Approvals");
  const [approvals, setApprovals] = useState<Approval[]>();
  const [error, setError] = useState<unknown>();
  const [tick, setTick] = useState(0);
  // biome-ignore lint/correctness/useExhaustiveDependencies: tick forces a reload
  useEffect(() => {
    const controller = new AbortController();
    const load = async () => {
      try {
        const res = await api<{ approvals: Approval[] }>("GET", "/v1/approvals", undefined, {
          signal: controller.signal,
        });
        setApprovals(res.approvals);
        setError(undefined);
      } catch (e) {
        if (!controller.signal.aborted) setError(e);
      }
    };
    void load();
    const timer = setInterval(() => void load(), 3000);
    return () => {
      controller.abort();
      clearInterval(timer);
    };
  }, [tick]);
  return (
    <div className="page">
      <div className="page-head">
        <h1>Approvals</h1>
        <button type="button" onClick={() => setTick((t) => t + 1)}>
          Refresh
        </button>
      </div>
      <p className="muted">
        Steps that wait for a person before they run. Approve (optionally with edited parameters) or
        reject.
      </p>
      {error ? <ErrorPanel error={error as Error} title="The approvals could not be read" /> : null}
      {approvals && approvals.length === 0 ? (
        <p className="empty">Nothing is waiting for approval.</p>
      ) : null}
      <div className="cards">
        {(approvals ?? []).map((a) => (
          <ApprovalCard key={`${a.runId}/${a.stepId}`} approval={a} onDone={() => undefined} />
        ))}
      </div>
    </div>
  );
}
