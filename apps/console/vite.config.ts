import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

/**
 * The console is served by the runtime at /console (apps/runtime/src/console.ts), so every asset
 * URL starts with /console/. `pnpm --filter @aria/console dev` proxies the API to a runtime on
 * ARIA_URL (default http://127.0.0.1:7070).
 */
const runtime = process.env.ARIA_URL ?? "http://127.0.0.1:7070";

export default defineConfig({
  base: "/console/",
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, assetsInlineLimit: 0 },
  server: {
    host: "127.0.0.1",
    proxy: { "/v1": { target: runtime, changeOrigin: false } },
  },
});
