/** The gateway's log options: what is redacted, and batched stdout writes for a gateway process. */
import { pino } from 'pino';
import { LineBatcher, type LineSink } from './line-batcher.js';

export type LoggerSetting = boolean | { level: string };

/**
 * What pino blanks in a log object (at its top, one level down, and in req.headers): credentials,
 * and bodies (which hold prompts). Nothing in the gateway logs these; this is a net under that rule.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'req.body',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers.cookie',
  'authorization',
  'apiKey',
  'body',
  '*.authorization',
  '*.apiKey',
  '*.body',
] as const;

/**
 * For a gateway process: the same options, writing to stdout in batches (32 KiB, or every 250 ms)
 * instead of one write(2) per line. The access log is a line per request, and a write per line
 * (then per 4 KiB, about ten lines) was a visible share of the gateway's CPU (bench/README).
 * The lines are gathered by a LineBatcher and each batch written by sonic-boom as it comes.
 * What is buffered is written out when the process exits.
 */
export function processLoggerOptions(logger: LoggerSetting | undefined): boolean | Record<string, unknown> {
  const options = loggerOptions(logger);
  if (options === false) return false;
  // Buffer mode: the batcher hands it encoded batches (line-batcher.ts).
  const destination = pino.destination({ dest: 1, sync: false, minLength: 0, maxWrite: 64 * 1024, contentMode: 'buffer' });
  const stream = new LineBatcher(destination as unknown as LineSink, { minBytes: 32 * 1024, flushMs: 250 });
  // Before pino's own exit hooks on the destination (prepended): they flush or end it, and the
  // lines still gathered here must reach it first.
  process.prependOnceListener('beforeExit', () => stream.forward());
  process.prependOnceListener('exit', () => {
    try {
      stream.flushSync();
    } catch {
      // Nothing buffered, or stdout already closed: nothing more can be written anyway.
    }
  });
  return { ...(options === true ? {} : options), stream };
}

/** pino via fastify; the authorization header and bodies are never part of a log line. */
export function loggerOptions(logger: LoggerSetting | undefined): boolean | Record<string, unknown> {
  if (logger === false) return false;
  const level = typeof logger === 'object' ? logger.level : 'info';
  return { level, redact: { paths: [...REDACT_PATHS], censor: '[redacted]' } };
}
