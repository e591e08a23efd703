import { defineConfig } from 'vitest/config';

// Three projects, run as separate stages by test/run-all.mjs.
export default defineConfig({
  test: {
    // @jupyterlab/services logs websocket and kernel-status changes through console.debug.
    onConsoleLog: (log) => !/^(Starting WebSocket|Kernel: \w+ \()/.test(log),
    projects: [
      {
        test: { name: 'unit', include: ['test/unit/**/*.test.{ts,tsx}'], environment: 'node', testTimeout: 20_000 },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Two cores: real Jupyter servers and kernels are heavy, run files one at a time.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
