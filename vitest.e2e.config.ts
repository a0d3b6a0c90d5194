import { defineConfig } from 'vitest/config';

// The end-to-end tier (test/e2e): real pods on the single-node cluster of hack/node/up.sh.
// Needs root and builds kubelet, containerd's images etc. on first use; `npm run test:e2e`.
export default defineConfig({
  test: { include: ['test/e2e/**/*.test.ts'], testTimeout: 600_000, hookTimeout: 3_600_000, pool: 'forks', fileParallelism: false },
});
