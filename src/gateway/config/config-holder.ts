/**
 * The gateway's current config, swapped atomically. A request reads it once when it starts and
 * keeps that snapshot to the end, so a reload never changes a request in flight.
 */
import type { GatewayConfig } from '../../compile/types.js';

export type SwapListener = (next: GatewayConfig, previous: GatewayConfig | undefined) => void;

export class ConfigHolder {
  private config: GatewayConfig | undefined;
  private readonly listeners: SwapListener[] = [];
  private swaps = 0;

  current(): GatewayConfig | undefined {
    return this.config;
  }

  /** Replaces the config; a config with the same revision is a no-op (returns false). */
  swap(next: GatewayConfig): boolean {
    const previous = this.config;
    if (previous?.revision === next.revision) return false;
    this.config = next;
    this.swaps++;
    for (const l of this.listeners) l(next, previous);
    return true;
  }

  /** How many times the config changed (reloads), for metrics. */
  get reloads(): number {
    return this.swaps;
  }

  onSwap(listener: SwapListener): void {
    this.listeners.push(listener);
  }
}
