import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** Integration tests on the real one-node SLURM cluster (build/slurm-local.sh, docs/cluster.md). */
const CLUSTER_TESTS = [
  'test/integration/slurm-cluster.test.ts',
  'test/integration/slurm-sharded.test.ts',
  'test/integration/cluster-servers.test.ts',
  'test/integration/cluster-status.test.ts',
];

/**
 * The slowest integration and e2e files (about 30-75 s each alone), started first when files run two at a time
 * (test/run-all.mjs): on a fresh clone vitest has no durations to order by, and one of these started last ends the
 * stage alone.
 */
const SLOW_FIRST = [
  'integration/bench-eval', 'integration/agent-paper', 'integration/agent-ask', 'integration/workbench-host',
  'integration/faults-kernel', 'integration/faults-perception-restart', 'integration/kernel-pool-reuse',
  'e2e/results-view', 'e2e/workbench', 'e2e/compare-view', 'e2e/papercuts-sample',
];

class SlowFilesFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification): number => {
      const i = SLOW_FIRST.findIndex((name) => f.moduleId.endsWith(`/test/${name}.test.ts`));
      return i < 0 ? SLOW_FIRST.length : i;
    };
    return [...(await super.sort(files))].sort((a, b) => rank(a) - rank(b));
  }
}

// Four projects, run as stages by test/run-all.mjs (cluster beside pytest).
export default defineConfig({
  test: {
    sequence: { sequencer: SlowFilesFirst },
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
          // One file at a time when run by hand; `npm test` (test/run-all.mjs) runs two at a time on two or more CPUs.
          fileParallelism: false,
          // expect.poll's default of 1 s is too short with two files running at once on two CPUs.
          expect: { poll: { timeout: 15_000 } },
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // As integration: one file at a time by hand, two at a time under `npm test`.
          fileParallelism: false,
          expect: { poll: { timeout: 15_000 } },
        },
      },
    ],
  },
});
