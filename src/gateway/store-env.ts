/** The gateway process's limiter store settings from its environment, and its state-change log. */

type StateLog = { error(o: object, m: string): void; info(o: object, m: string): void };

/**
 * Logs the fleet store's state changes on a logger that exists only once the app is built
 * (the store is made first): `bind` it then. A lost Redis is an error line, its return info.
 */
export function storeStateLogger(): {
  onStateChange: (state: 'redis' | 'degraded', reason: string) => void;
  bind: (log: StateLog) => void;
  degraded: () => boolean;
} {
  let log: StateLog | undefined;
  let degraded = false;
  return {
    // Read by the tokenhub.limiter.degraded gauge (the chart's TokenHubRedisDegraded alert).
    degraded: () => degraded,
    onStateChange: (state, reason) => {
      degraded = state === 'degraded';
      if (state === 'degraded') log?.error({ store: 'redis', reason }, 'Redis unreachable: limiting per pod and journaling usage until it is back');
      else log?.info({ store: 'redis', reason }, 'Redis reachable again: fleet-wide limits restored, replaying the usage journal');
    },
    bind: (l) => {
      log = l;
    },
  };
}

/**
 * Fault mode and fleet size for the Redis store, from the environment (set by the operator), and
 * the replay window (TOKENHUB_REDIS_REPLAY_WINDOW_SECONDS, e.g. through the chart's extraEnv).
 */
export function storeEnv(env: NodeJS.ProcessEnv = process.env): { mode?: 'fail-open' | 'fail-closed'; replicas?: number; replayWindowSeconds?: number } {
  const mode = env['TOKENHUB_REDIS_FAILURE_MODE'];
  const replicas = Number(env['TOKENHUB_REPLICAS'] ?? '');
  const window = Number(env['TOKENHUB_REDIS_REPLAY_WINDOW_SECONDS'] ?? '');
  return {
    ...(mode === 'fail-open' || mode === 'fail-closed' ? { mode } : {}),
    ...(Number.isInteger(replicas) && replicas > 0 ? { replicas } : {}),
    ...(Number.isInteger(window) && window >= 60 ? { replayWindowSeconds: window } : {}),
  };
}
