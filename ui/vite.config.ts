import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  // Docker Desktop loads the UI from a file URL below the extension's `ui.*.root`, so every
  // asset URL must be relative to index.html.
  base: "./",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // The bundle ships inside the extension image, never to a CDN: one predictable tree.
    assetsDir: "assets",
    rolldownOptions: {
      // MUI marks its modules "use client" for React Server Components; a client-only bundle
      // has nothing to preserve, and the 240 warnings would bury real ones.
      checks: { moduleLevelDirective: false },
    },
  },
  test: {
    environment: "happy-dom",
    // Vitest's default 5 s: measured here, the first render of the whole page (two cards,
    // MUI's first styles) took 5.2 s on 2 cores shared with other builds (load 20).
    testTimeout: 20_000,
    include: ["src/**/*.test.{ts,tsx}"],
    alias: {
      // The package names its entry only in "browser", which the bundler reads and Vitest's
      // Node-side resolver does not.
      "@docker/extension-api-client": fileURLToPath(
        new URL("./node_modules/@docker/extension-api-client/dist/index.js", import.meta.url),
      ),
    },
    server: {
      deps: {
        // Both packages declare "type": "commonjs" but ship ES modules: Node cannot load
        // them as they are, so Vitest must transform them like our own sources.
        inline: ["@docker/extension-api-client", "@docker/docker-mui-theme"],
      },
    },
  },
});
