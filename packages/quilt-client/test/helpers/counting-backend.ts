import type { ContainerBackend } from "@aria/quilt-client";

/** Wraps a backend and counts every call by method name (to prove the warm path makes none). */
export function countingBackend(inner: ContainerBackend): {
  backend: ContainerBackend;
  calls: Record<string, number>;
} {
  const calls: Record<string, number> = {};
  const backend = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function" || typeof property !== "string") return value;
      return (...args: unknown[]) => {
        calls[property] = (calls[property] ?? 0) + 1;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { backend, calls };
}
