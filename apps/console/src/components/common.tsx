import { type ReactNode, useEffect, useRef, useState } from "react";
import { ApiError, type ErrorBody } from "../api/client.ts";
import { json } from "../format.ts";

/** A run's or step's status as a labelled badge (colour is never the only signal). */
export function StatusBadge(props: { status: string }) {
  return (
    <span className={`badge badge-${props.status}`} data-status={props.status}>
      {props.status}
    </span>
  );
}

/** Pretty-printed JSON in a scrollable block that the keyboard can reach. */
export function JsonView(props: { value: unknown; label: string }) {
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard
    <section className="json" tabIndex={0} aria-label={props.label}>
      <pre>{json(props.value)}</pre>
    </section>
  );
}

/** An AriaError with its guidance and recovery actions. */
export function ErrorPanel(props: {
  error: ErrorBody | ApiError | Error | null | undefined;
  title?: string;
}) {
  const { error } = props;
  if (!error) return null;
  const body: ErrorBody =
    error instanceof ApiError
      ? error.body
      : error instanceof Error
        ? { code: "ERROR", message: error.message }
        : error;
  return (
    <div className="error-panel" role="alert">
      <p className="error-title">
        <strong>{props.title ?? "Error"}</strong> <code>{body.code}</code>
      </p>
      <p className="error-message">{body.message}</p>
      {body.userGuidance ? (
        <div className="guidance">
          <h4>What to do</h4>
          <p>{body.userGuidance}</p>
        </div>
      ) : null}
      {body.recoveryActions && body.recoveryActions.length > 0 ? (
        <div className="recovery">
          <h4>Recovery actions</h4>
          <ul>
            {body.recoveryActions.map((a) => (
              <li key={a}>{a}</li>
            ))}
          </ul>
        </div>
      ) : null}
    </div>
  );
}

/** Loads data with `load`, again when `deps` change; exposes a reload. */
export function useLoad<T>(
  load: (signal: AbortSignal) => Promise<T>,
  deps: unknown[],
): { data: T | undefined; error: unknown; loading: boolean; reload: () => void } {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({
    data: undefined,
    error: undefined,
    loading: true,
  });
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  // biome-ignore lint/correctness/useExhaustiveDependencies: deps are the caller's
  useEffect(() => {
    const controller = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    loadRef.current(controller.signal).then(
      (data) => {
        if (!controller.signal.aborted) setState({ data, error: undefined, loading: false });
      },
      (error: unknown) => {
        if (!controller.signal.aborted) setState({ data: undefined, error, loading: false });
      },
    );
    return () => controller.abort();
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

/** A page section with a heading. */
export function Section(props: {
  title: string;
  children: ReactNode;
  id?: string;
  actions?: ReactNode;
}) {
  const headingId = `${props.id ?? props.title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}-heading`;
  return (
    <section className="section" aria-labelledby={headingId}>
      <div className="section-head">
        <h2 id={headingId}>{props.title}</h2>
        {props.actions}
      </div>
      {props.children}
    </section>
  );
}

/** Sets the document title for a page. */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · Aria console`;
  }, [title]);
}
