import { useEffect, useRef, useState, useSyncExternalStore } from "react";
import { api, getApiKey, isAuthRequired, onAuthChange, setApiKey } from "./api/client.ts";
import { ApprovalsPage } from "./pages/approvals.tsx";
import { CatalogPage } from "./pages/catalog.tsx";
import { RunPage } from "./pages/run.tsx";
import { RunsPage } from "./pages/runs.tsx";
import { StartPage } from "./pages/start.tsx";
import { ToolPage } from "./pages/tool.tsx";
import { Link, useRoute } from "./router.tsx";

/** Re-renders when the API key is needed or changes. */
function useAuth(): { required: boolean; key: string | null } {
  const snapshot = useSyncExternalStore(
    (cb) => onAuthChange(cb),
    () => `${isAuthRequired()}|${getApiKey() ?? ""}`,
  );
  const [required, key] = [
    snapshot.startsWith("true|"),
    snapshot.slice(snapshot.indexOf("|") + 1) || null,
  ];
  return { required, key };
}

function KeyPrompt(props: { hadKey: boolean }) {
  const [value, setValue] = useState("");
  return (
    <div className="page narrow">
      <h1>API key needed</h1>
      <p>
        This runtime has API keys configured. Enter one to use the console; it is kept for this
        browser tab only (sessionStorage) and sent as <code>Authorization: Bearer</code> to this
        runtime alone.
      </p>
      {props.hadKey ? (
        <p role="alert" className="field-error">
          The key was not accepted.
        </p>
      ) : null}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (value.trim()) setApiKey(value.trim());
        }}
      >
        <div className="field">
          <label htmlFor="api-key">API key</label>
          <input
            id="api-key"
            type="password"
            autoComplete="off"
            value={value}
            onChange={(e) => setValue(e.target.value)}
            required
          />
        </div>
        <div className="form-actions">
          <button type="submit" className="primary">
            Use this key
          </button>
        </div>
      </form>
    </div>
  );
}

function usePendingApprovals(): number | undefined {
  const [count, setCount] = useState<number>();
  useEffect(() => {
    let stopped = false;
    const load = async () => {
      try {
        const res = await api<{ approvals: unknown[] }>("GET", "/v1/approvals");
        if (!stopped) setCount(res.approvals.length);
      } catch {
        if (!stopped) setCount(undefined);
      }
    };
    void load();
    const timer = setInterval(() => void load(), 5000);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, []);
  return count;
}

function Page(props: { route: string }) {
  const { route } = props;
  const params = new URLSearchParams(window.location.search);
  const run = /^\/runs\/([^/]+)$/.exec(route);
  if (run) return <RunPage runId={decodeURIComponent(run[1]!)} />;
  const tool = /^\/tools\/([^/]+)$/.exec(route);
  if (tool) return <ToolPage toolId={decodeURIComponent(tool[1]!)} />;
  switch (route) {
    case "/":
    case "/runs":
      return <RunsPage />;
    case "/start": {
      const kind = ["pipeline", "agent", "team"].find((k) => params.has(k));
      return <StartPage {...(kind ? { kind, name: params.get(kind) ?? "" } : {})} />;
    }
    case "/catalog":
      return <CatalogPage />;
    case "/approvals":
      return <ApprovalsPage />;
    default:
      return (
        <div className="page">
          <h1>Not found</h1>
          <p>
            Nothing lives at <code>{route}</code>. <Link to="/">See the runs.</Link>
          </p>
        </div>
      );
  }
}

const NAV: Array<{ to: string; label: string; match: (route: string) => boolean }> = [
  { to: "/", label: "Runs", match: (r) => r === "/" || r.startsWith("/runs") },
  { to: "/start", label: "Start work", match: (r) => r === "/start" },
  {
    to: "/catalog",
    label: "Bundles & tools",
    match: (r) => r === "/catalog" || r.startsWith("/tools"),
  },
  { to: "/approvals", label: "Approvals", match: (r) => r === "/approvals" },
];

/** The console: a header with navigation, then the page for the current route. */
export function App() {
  const route = useRoute();
  const auth = useAuth();
  const pending = usePendingApprovals();
  // Focus the page's heading after in-app navigation, as a page load would for a screen reader.
  const shown = useRef(route);
  useEffect(() => {
    if (shown.current === route) return;
    shown.current = route;
    // After the new page rendered: focus its heading, as a page load would for a screen reader.
    requestAnimationFrame(() => {
      const heading = document.querySelector<HTMLElement>("main h1");
      heading?.setAttribute("tabindex", "-1");
      heading?.focus();
    });
  }, [route]);
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/" className="brand">
          Aria console
        </Link>
        <nav aria-label="Main">
          <ul>
            {NAV.map((item) => (
              <li key={item.to}>
                <Link to={item.to} aria-current={item.match(route) ? "page" : undefined}>
                  {item.label}
                  {item.to === "/approvals" && pending ? (
                    <span className="count">
                      {pending}
                      <span className="visually-hidden"> pending</span>
                    </span>
                  ) : null}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        {auth.key ? (
          <button type="button" className="link-button" onClick={() => setApiKey(null)}>
            Forget API key
          </button>
        ) : null}
      </header>
      <main id="main" tabIndex={-1}>
        {auth.required ? (
          <KeyPrompt hadKey={auth.key !== null} />
        ) : (
          <Page key={`${route}|${auth.key ?? ""}`} route={route} />
        )}
      </main>
    </>
  );
}
