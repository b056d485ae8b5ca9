import { type AnchorHTMLAttributes, type MouseEvent, useEffect, useState } from "react";

/** The console's base path (Vite `base`, without the trailing slash). */
export const BASE = import.meta.env.BASE_URL.replace(/\/$/, "");

/** The current client route, relative to the base (`/`, `/runs/ID`, ...). */
function current(): string {
  const path = window.location.pathname;
  const rest = path.startsWith(BASE) ? path.slice(BASE.length) : path;
  return rest === "" ? "/" : rest;
}

const listeners = new Set<() => void>();

/** Goes to a client route without reloading the page. */
export function navigate(to: string): void {
  window.history.pushState(null, "", BASE + to);
  for (const l of listeners) l();
}

/** The current route, updated on navigation and on the browser's back and forward. */
export function useRoute(): string {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const update = () => setRoute(current());
    listeners.add(update);
    window.addEventListener("popstate", update);
    return () => {
      listeners.delete(update);
      window.removeEventListener("popstate", update);
    };
  }, []);
  return route;
}

/** A real link (works with middle-click, copy and the keyboard) that navigates in place. */
export function Link(props: AnchorHTMLAttributes<HTMLAnchorElement> & { to: string }) {
  const { to, onClick, ...rest } = props;
  const click = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey)
      return;
    e.preventDefault();
    navigate(to);
  };
  return <a href={BASE + to} onClick={click} {...rest} />;
}
