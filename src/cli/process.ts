/**
 * What every long-running command (gateway, demo, operator) shares: port flags checked the same
 * way, the namespace list, and a graceful stop on SIGTERM/SIGINT. No gateway or operator code here,
 * so both can use it without importing each other.
 */
import { UsageError } from './args.js';

/** A TCP port from a flag (or its environment fallback): a whole number 0..65535, or a usage error. */
export function portOf(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const port = Number(value);
  if (value.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`invalid ${name} ${value}`);
  return port;
}

/** `--metrics-port N`: the Prometheus scrape endpoint (TOKENHUB_METRICS_PORT when absent). */
export function metricsPortOf(flag: string | undefined): number | undefined {
  return flag === undefined ? undefined : portOf('--metrics-port', flag, 0);
}

/** `--namespace a,b --namespace c` (or one comma list in an environment variable when no flag is given). */
export function namespacesOf(flags: readonly string[], env: string | undefined): string[] {
  const all = [...flags, ...(flags.length === 0 && env ? [env] : [])].flatMap((s) => s.split(','));
  return [...new Set(all.map((s) => s.trim()).filter((s) => s !== ''))];
}

/** SIGTERM/SIGINT: stop accepting, let requests and streams in flight finish, flush usage, exit. */
export function closeOnSignals(close: () => Promise<void>, log: { info(msg: string): void }): void {
  let closing = false;
  const onSignal = (signal: string): void => {
    if (closing) return;
    closing = true;
    log.info(`${signal}: shutting down gracefully`);
    close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
}
