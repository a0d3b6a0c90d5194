/**
 * The models a request may be served by, in order: the one asked for, the body's
 * fallback_models, then the route's default chain. Pure. The requested model must exist (404)
 * and be allowed for the key (403); fallbacks that are unknown or not allowed are skipped.
 */
import type { CompiledKey, CompiledModel, GatewayConfig } from '../../compile/types.js';
import { Errors } from '../errors.js';

export interface Candidates {
  readonly models: readonly CompiledModel[];
  /** Fallback names that were left out, and why (for logs and traces). */
  readonly skipped: readonly { name: string; why: 'unknown' | 'not-allowed' }[];
}

export function candidatesFor(opts: { config: GatewayConfig; key: CompiledKey; model: string; fallbackModels: readonly string[] }): Candidates {
  const { config, key } = opts;
  const primary = config.models.get(opts.model);
  if (primary === undefined) throw Errors.modelNotFound(opts.model);
  if (!key.allowedModels.has(primary.id)) throw Errors.modelNotAllowed(opts.model);
  const models: CompiledModel[] = [primary];
  const skipped: { name: string; why: 'unknown' | 'not-allowed' }[] = [];
  for (const name of [...opts.fallbackModels, ...primary.fallbackChain]) {
    const m = config.models.get(name);
    if (m === undefined) skipped.push({ name, why: 'unknown' });
    else if (!key.allowedModels.has(m.id)) skipped.push({ name, why: 'not-allowed' });
    else if (!models.includes(m)) models.push(m);
  }
  return { models, skipped };
}
