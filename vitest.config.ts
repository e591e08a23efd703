import { defineConfig } from 'vitest/config';

/** Integration tests on the real one-node SLURM cluster (build/slurm-local.sh, docs/cluster.md). */
const CLUSTER_TESTS = [
  'test/integration/slurm-cluster.test.ts',
  'test/integration/slurm-sharded.test.ts',
  'test/integration/cluster-servers.test.ts',
  'test/integration/cluster-status.test.ts',
];

// Four projects, run as stages by test/run-all.mjs (cluster beside pytest).
export default defineConfig({
  test: {
    // @jupyterlab/services logs websocket and kernel-status changes through console.debug.
    onConsoleLog: (log) => !/^(Starting WebSocket|Kernel: \w+ \()/.test(log),
    projects: [
      {
        test: { name: 'unit', include: ['test/unit/**/*.test.{ts,tsx}'], environment: 'node', testTimeout: 20_000 },
      },
      {
        // The tests on the real SLURM cluster: they mostly wait on jobs, so test/run-all.mjs runs them beside pytest.
        test: {
          name: 'cluster',
          include: CLUSTER_TESTS,
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          exclude: CLUSTER_TESTS,
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
