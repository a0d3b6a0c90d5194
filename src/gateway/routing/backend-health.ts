/**
 * Circuit breaking per backend: a backend that failed is cooled down (skipped) for a while that
 * grows with consecutive failures, then tried again. State lives in one instance per gateway.
 */
import type { CompiledBackend, CompiledModel } from '../../compile/types.js';

const BASE_COOLDOWN_MS = 2_000;
const MAX_COOLDOWN_MS = 30_000;

interface Health {
  failures: number;
  coolUntil: number;
}

export class BackendHealth {
  private readonly state = new Map<string, Health>();

  static keyOf(model: CompiledModel, backend: CompiledBackend): string {
    return `${model.id}\n${backend.name}\n${backend.baseURL}`;
  }

  /** Whether any backend has failed since it last succeeded (the common answer, no: nothing to look up). */
  get anyFailed(): boolean {
    return this.state.size > 0;
  }

  isCooling(key: string, now: number): boolean {
    const h = this.state.get(key);
    return h !== undefined && h.coolUntil > now;
  }

  failed(key: string, now: number): void {
    const failures = (this.state.get(key)?.failures ?? 0) + 1;
    const cooldown = Math.min(MAX_COOLDOWN_MS, BASE_COOLDOWN_MS * 2 ** (failures - 1));
    this.state.set(key, { failures, coolUntil: now + cooldown });
  }

  succeeded(key: string): void {
    if (this.state.has(key)) this.state.delete(key);
  }
}

/**
 * Backends in the order to try them: by priority; within a priority, a weighted random order.
 * Cooling backends apart: the caller tries them only when nothing else is left (not even a
 * fallback model). `random` is injected for tests.
 */
export function orderBackends(opts: { model: CompiledModel; health: BackendHealth; now: number; random: () => number }): {
  healthy: readonly CompiledBackend[];
  cooling: readonly CompiledBackend[];
} {
  const { model, health, now, random } = opts;
  // No backend has failed lately (the usual case): every one is healthy, no health key to make.
  if (!health.anyFailed) return { healthy: byPriority(model.backends, random), cooling: NONE };
  const healthy: CompiledBackend[] = [];
  const cooling: CompiledBackend[] = [];
  for (const b of model.backends) (health.isCooling(BackendHealth.keyOf(model, b), now) ? cooling : healthy).push(b);
  return { healthy: byPriority(healthy, random), cooling: byPriority(cooling, random) };
}

const NONE: readonly CompiledBackend[] = [];

function byPriority(backends: readonly CompiledBackend[], random: () => number): readonly CompiledBackend[] {
  // Nothing to order (the common case of one backend, or none cooling): no sets, sorts or copies.
  if (backends.length < 2) return backends;
  const priorities = [...new Set(backends.map((b) => b.priority))].sort((a, b) => a - b);
  return priorities.flatMap((p) =>
    weightedShuffle(
      backends.filter((b) => b.priority === p),
      random,
    ),
  );
}

function weightedShuffle(items: readonly CompiledBackend[], random: () => number): CompiledBackend[] {
  const pool = [...items];
  const out: CompiledBackend[] = [];
  while (pool.length > 0) {
    const total = pool.reduce((s, b) => s + Math.max(b.weight, 0), 0);
    let pick = 0;
    if (total > 0) {
      let r = random() * total;
      pick = pool.findIndex((b) => (r -= Math.max(b.weight, 0)) < 0);
      if (pick < 0) pick = pool.length - 1;
    }
    out.push(...pool.splice(pick, 1));
  }
  return out;
}
