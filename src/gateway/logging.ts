/** The gateway's log options: what is redacted, and batched stdout writes for a gateway process. */
import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions } from 'fastify/types/logger.js';
import { type Logger, pino } from 'pino';
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
 * For a gateway process: the same options, writing to stdout in batches (64 KiB, or every 250 ms)
 * instead of one write(2) per line. The access log is a line per request, and a write per line
 * (then per 4 KiB, about ten lines) was a visible share of the gateway's CPU (bench/README).
 * The lines are gathered by a LineBatcher and each batch written by sonic-boom as it comes.
 * What is buffered is written out when the process exits.
 */
export function processLoggerOptions(logger: LoggerSetting | undefined): boolean | Record<string, unknown> {
  const options = loggerOptions(logger);
  if (options === false) return false;
  // Buffer mode: the batcher hands it encoded batches (line-batcher.ts), each written whole (up
  // to twice minBytes). Each asynchronous write wakes a thread-pool thread, a visible cost per
  // batch: 64 KiB batches halve them against 32 KiB.
  const destination = pino.destination({ dest: 1, sync: false, minLength: 0, maxWrite: 128 * 1024, contentMode: 'buffer' });
  const stream = new LineBatcher(destination as unknown as LineSink, { minBytes: 64 * 1024, flushMs: 250 });
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

/**
 * `logger.info(obj, msg)` for objects that `members` serialises itself (as `,"a":1,"b":"x"`):
 * the same line pino writes, with its level, time, bindings and message, to its stream, minus
 * pino's per-field serialisation (for the access log, about half of a line's cost). A logger
 * whose output this would not reproduce exactly (not pino, or one with a mixin, hooks, a log
 * formatter, a nested key, a message prefix, redaction or a stream that wants metadata) gets
 * plain `logger.info(obj, msg)`.
 */
export function infoWriter<T extends object>(logger: FastifyBaseLogger, opts: { msg: string; members: (obj: T) => string }): (obj: T) => void {
  const plain = (obj: T): void => logger.info(obj as Record<string, unknown>, opts.msg);
  const p = logger as unknown as Logger & Record<symbol, unknown>;
  const S = pino.symbols;
  if (typeof p[S.timeSym] !== 'function' || typeof p.isLevelEnabled !== 'function') return plain;
  const stringifiers = p[S.stringifiersSym] as Record<string | symbol, unknown>;
  const hooks = p[S.hooksSym] as { logMethod?: unknown; streamWrite?: unknown } | undefined;
  const stream = p[S.streamSym] as { write(s: string): unknown } & Record<symbol, unknown>;
  const exact =
    p[S.mixinSym] === undefined &&
    hooks?.logMethod === undefined &&
    hooks?.streamWrite === undefined &&
    (p[S.formattersSym] as { log?: unknown }).log === undefined &&
    !p[S.nestedKeySym] &&
    // Not in pino's typings, but one of its symbols.
    p[(S as unknown as Record<string, symbol>)['msgPrefixSym'] as symbol] === undefined &&
    p[S.messageKeySym] === 'msg' &&
    Object.keys(stringifiers).length === 0 &&
    stringifiers[S.wildcardFirstSym] === undefined &&
    stream[S.needsMetadataGsym] !== true;
  if (!exact) return plain;
  // What pino writes around the fields; none of it changes for a given logger.
  const level = (p[S.lsCacheSym] as Record<number, string>)[p.levels.values['info'] ?? 30] as string;
  const time = p[S.timeSym] as () => string;
  const bindings = p[S.chindingsSym] as string;
  const tail = `,"msg":${JSON.stringify(opts.msg)}${p[S.endSym] as string}`;
  return (obj) => {
    if (!p.isLevelEnabled('info')) return;
    stream.write(`${level}${time.call(p)}${bindings}${opts.members(obj)}${tail}`);
  };
}

/**
 * fastify's childLoggerFactory for the gateway: the request's logger (req.log, bound to its
 * request id) is made on its first use. fastify asks for one per request, and pino's child()
 * runs its bindings through the redaction net each time, a visible share of a request's cost;
 * the gateway logs through req.log only when something goes wrong (the access line has its own
 * logger), so most requests never need it.
 */
export function lazyChildLogger(logger: FastifyBaseLogger, bindings: Bindings, opts: ChildLoggerOptions): FastifyBaseLogger {
  return new LazyChildLogger(logger, bindings, opts);
}

class LazyChildLogger implements FastifyBaseLogger {
  private made: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly opts: ChildLoggerOptions,
  ) {}

  private get real(): FastifyBaseLogger {
    return (this.made ??= this.parent.child(this.bindings, this.opts));
  }

  /** The child's `method`, with the arguments as they came (whichever of pino's LogFn overloads they match). */
  private call(method: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent', args: unknown[]): void {
    const real = this.real;
    // eslint-disable-next-line prefer-spread -- apply passes the arguments through untyped, as they came
    real[method].apply(real, args as Parameters<typeof real.info>);
  }

  get level(): string {
    return this.real.level;
  }
  set level(level: string) {
    this.real.level = level;
  }
  fatal(...args: unknown[]): void {
    this.call('fatal', args);
  }
  error(...args: unknown[]): void {
    this.call('error', args);
  }
  warn(...args: unknown[]): void {
    this.call('warn', args);
  }
  info(...args: unknown[]): void {
    this.call('info', args);
  }
  debug(...args: unknown[]): void {
    this.call('debug', args);
  }
  trace(...args: unknown[]): void {
    this.call('trace', args);
  }
  silent(...args: unknown[]): void {
    this.call('silent', args);
  }
  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.real.child(bindings, options);
  }
}
