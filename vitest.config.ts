import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Three tiers (CONTRIBUTING.md): `unit` runs in-process only (no Redis, no API server, no spawned
 * process, no build; in-process HTTP on 127.0.0.1 is fine) and stays under 30 s; `integration`
 * starts Redis or a kube-apiserver; `system` runs built processes, the fleet and the Helm chart.
 * Every test file belongs to exactly one tier; test/tiers.test.ts checks that. The end-to-end
 * tier (real pods) runs with vitest.e2e.config.ts (`npm run test:e2e`).
 */
export const INTEGRATION = [
  'test/devtools/control-plane.test.ts',
  'test/kube/informer.test.ts',
  'test/limits/redis-cluster.test.ts',
  'test/limits/redis-store.test.ts',
  'test/limits/settle-batch.test.ts',
  'test/limits/admit-batch.test.ts',
  'test/limits/resilient-store.test.ts',
  'test/limits/store-equivalence.test.ts',
  'test/limits/usage-command.test.ts',
  'test/operator/fleet.test.ts',
  'test/operator/policy.test.ts',
  'test/operator/watch-recovery.test.ts',
  'test/contracts/cel-admission.test.ts',
  'test/gateway/charging.test.ts',
  'test/gateway/key.test.ts',
  'test/limits/peek.test.ts',
  'test/limits/redis-auth.test.ts',
  'test/operator/conditions.test.ts',
  'test/crds/explain.test.ts',
  'test/kube/status-only.test.ts',
  // In-process, but they wait out real timeouts and queue deadlines on sockets: seconds each.
  'test/gateway/upstream-capacity.test.ts',
  'test/gateway/request-defence.test.ts',
  'test/gateway/reload.test.ts',
  'test/gateway/reload-off-thread.test.ts',
  'test/gateway/upstream-h2c.test.ts',
  // The compile worker runs from the build (dist/).
  'test/gateway/compile-worker.test.ts',
  'test/gateway/handover.test.ts',
];
export const SYSTEM = [
  'test/chart/**/*.test.ts',
  'test/fleet/**/*.test.ts',
  'test/cli/validate.test.ts',
  'test/kube/gateway-cluster.test.ts',
  'test/operator/leader.test.ts',
  'test/cli/help.test.ts',
  'test/clients/python.test.ts',
  'test/kube/key-rotation.test.ts',
  'test/kube/service-account-auth.test.ts',
  'test/kube/shared-last-good.test.ts',
];

const shared = { testTimeout: 60_000, hookTimeout: 1_200_000, pool: 'forks' } as const;

export default defineConfig({
  test: {
    ...shared,
    projects: [
      {
        test: {
          ...shared,
          pool: 'threads',
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/e2e/**', ...INTEGRATION, ...SYSTEM],
        },
      },
      { test: { ...shared, name: 'integration', include: INTEGRATION } },
      { test: { ...shared, name: 'system', include: SYSTEM } },
    ],
  },
});
