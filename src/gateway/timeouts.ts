/**
 * How long the gateway waits on a client: for its headers, for its whole request (a body
 * dripped byte by byte is cut), and for a stream reader that stopped reading. Environment
 * variables override the defaults; a value of 0 turns that timeout off.
 */
import { UsageError } from '../cli/args.js';

export interface ClientTimeouts {
  /** From connection (or previous request) to the end of the request headers. */
  readonly headersMs: number;
  /** From connection to the end of the request body (16 MiB at a slow 1 MB/s fits). */
  readonly requestMs: number;
  /** A stream whose socket stays backed up (the client stopped reading) this long is cut. */
  readonly streamIdleMs: number;
  /** How often the server looks for connections past their header or request timeout. */
  readonly checkIntervalMs: number;
}

export const DEFAULT_TIMEOUTS: ClientTimeouts = { headersMs: 10_000, requestMs: 30_000, streamIdleMs: 30_000, checkIntervalMs: 1000 };

const ENV: Readonly<Record<keyof ClientTimeouts, string>> = {
  headersMs: 'TOKENHUB_HEADERS_TIMEOUT_MS',
  requestMs: 'TOKENHUB_REQUEST_TIMEOUT_MS',
  streamIdleMs: 'TOKENHUB_STREAM_IDLE_TIMEOUT_MS',
  checkIntervalMs: 'TOKENHUB_TIMEOUT_CHECK_INTERVAL_MS',
};

/** The defaults, with any TOKENHUB_*_TIMEOUT_MS variable that is set; throws UsageError on a bad one. */
export function timeoutsFromEnv(env: Readonly<Record<string, string | undefined>>): ClientTimeouts {
  const out: Record<keyof ClientTimeouts, number> = { ...DEFAULT_TIMEOUTS };
  for (const field of Object.keys(ENV) as (keyof ClientTimeouts)[]) {
    const raw = env[ENV[field]];
    if (raw === undefined || raw === '') continue;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0 || n > 3_600_000)
      throw new UsageError(`${ENV[field]} must be milliseconds between 0 and 3600000, not ${JSON.stringify(raw)}`);
    out[field] = n;
  }
  // Node needs headers to time out no later than the request as a whole.
  if (out.requestMs > 0 && (out.headersMs === 0 || out.headersMs > out.requestMs)) out.headersMs = out.requestMs;
  if (out.checkIntervalMs === 0) out.checkIntervalMs = DEFAULT_TIMEOUTS.checkIntervalMs;
  return out;
}
