import { getClarinetVitestsArgv, vitestSetupFilePath } from "@stacks/clarinet-sdk/vitest";
import { defineConfig } from "vitest/config";

// One `vitest run` holds every test project (README "Getting started"): the Clarity contracts
// on Clarinet's simnet, and the Convex backend in convex-test's edge runtime.
export default defineConfig({
  test: {
    // Simnet echoes every Clarity `print` to stdout; the tests assert on events instead.
    onConsoleLog: (log) => !/\([a-z0-9-]+:\d+\)\s*$/.test(log),
    projects: [
      {
        test: {
          name: "contracts",
          include: ["tests/contracts/**/*.test.ts"],
          environment: "clarinet",
          // Simnet is one process-wide session: run contract files one at a time.
          pool: "forks",
          fileParallelism: false,
          // Property runs take seconds; on a loaded CI machine, more than vitest's default 5.
          testTimeout: 30_000,
          setupFiles: [vitestSetupFilePath],
          environmentOptions: {
            clarinet: {
              ...getClarinetVitestsArgv(),
            },
          },
        },
      },
      {
        test: {
          name: "devnet",
          include: ["tests/devnet/**/*.test.ts"],
          // The local Hiro-compatible server runs simnet in Node, behind real HTTP.
          environment: "node",
          pool: "forks",
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["tests/integration/**/*.test.ts"],
          // Convex functions (convex-test) talking over real HTTP to the local
          // Hiro-compatible server (simnet): both need Node.
          environment: "node",
          pool: "forks",
          server: { deps: { inline: ["convex-test"] } },
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["tests/e2e/**/*.test.ts"],
          // A small whole-pool simulation: local server, price feed and Convex functions together.
          environment: "node",
          pool: "forks",
          server: { deps: { inline: ["convex-test"] } },
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
      {
        test: {
          name: "tools",
          include: ["tests/tools/**/*.test.ts"],
          // The watcher and the exit tool over real HTTP against the local Hiro-compatible server.
          environment: "node",
          pool: "forks",
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: "convex",
          include: ["tests/convex/**/*.test.ts"],
          // convex-test runs Convex functions in-process, in the edge runtime Convex uses.
          environment: "edge-runtime",
          server: { deps: { inline: ["convex-test"] } },
          // Property runs take seconds; on a loaded CI machine, more than vitest's default 5.
          testTimeout: 30_000,
        },
      },
    ],
  },
});
