/**
 * The access line is written without pino's per-field serialisation (gateway/logging.ts
 * infoWriter, telemetry/access-log.ts accessLogMembers): it must be byte for byte the line pino
 * itself writes for the same object, and fall back to pino wherever it could not be.
 */
import { hostname } from 'node:os';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { infoWriter, loggerOptions } from '../../src/gateway/logging.js';
import { type AccessLogLine, accessLogLine, accessLogMembers } from '../../src/telemetry/access-log.js';
import { Errors } from '../../src/gateway/errors.js';
import type { ChatEvent } from '../../src/gateway/events.js';

function captured(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { stream, lines };
}

/** The gateway's logger options (redaction net included), a fixed clock, and the access log's child of it. */
function accessLogger(extra: Record<string, unknown> = {}) {
  const out = captured();
  const options = loggerOptions({ level: 'info' }) as Record<string, unknown>;
  const root = pino({ ...options, timestamp: () => ',"time":1700000000000', ...extra }, out.stream);
  return { logger: root.child({}, { redact: [] }), lines: out.lines };
}

const served: ChatEvent = {
  requestId: 'req-1',
  keyId: 'team-a/key-1',
  requestedModel: 'alpha',
  stream: true,
  result: {
    status: 200,
    servedModel: 'beta',
    attempts: 3,
    fallbacks: 1,
    usage: { inputTokens: 12, outputTokens: 7, costNanos: 1_234_567 },
    cut: true,
    clientGone: false,
    shadowLimited: 'key:rpm',
  },
  charged: [{ model: 'alpha', inputTokens: 12, outputTokens: 0, costNanos: 99 }],
  durationMs: 12.3456789,
  startedAt: 1,
  upstreamWaitMs: 0.25,
};

const EVENTS: ChatEvent[] = [
  served,
  { requestId: 'req-2', stream: false, error: Errors.invalidKey(), durationMs: 0.5, startedAt: 2 },
  {
    requestId: 'req-3',
    keyId: 'default/k',
    requestedModel: 'bad model "x"\n',
    stream: false,
    error: Errors.rateLimited('slow down'),
    durationMs: 1,
    startedAt: 3,
  },
  { requestId: 'req-4', stream: false, durationMs: Number.NaN, startedAt: 4 },
];

describe('access line', () => {
  it('is byte for byte what pino writes for the same object', () => {
    // The access log's logger takes the direct path (the members given are what is written).
    const probe = accessLogger();
    infoWriter(probe.logger, { msg: 'request completed', members: () => ',"probe":1' })(accessLogLine(served));
    expect(probe.lines).toEqual([
      `{"level":30,"time":1700000000000,"pid":${process.pid},"hostname":${JSON.stringify(hostname())},"probe":1,"msg":"request completed"}\n`,
    ]);
    for (const e of EVENTS) {
      const viaPino = accessLogger();
      const direct = accessLogger();
      const line: AccessLogLine = accessLogLine(e);
      viaPino.logger.info(line, 'request completed');
      infoWriter(direct.logger, { msg: 'request completed', members: accessLogMembers })(line);
      expect(direct.lines).toEqual(viaPino.lines);
      expect(direct.lines).toHaveLength(1);
      JSON.parse(direct.lines[0] as string);
    }
  });

  it('writes times as pino does, for any duration', () => {
    const viaPino = accessLogger();
    const direct = accessLogger();
    const write = infoWriter(direct.logger, { msg: 'request completed', members: accessLogMembers });
    const durations = [0, -0, 0.0004, 0.0005, 0.001, 0.01, 0.1, 0.999, 1, 1.5, 12.345, 999.9996, 1e6 + 0.25, 1e12 + 0.125, 1e13, 1e16, -1, -2.5, Infinity];
    for (let i = 0; i < 3000; i++) durations.push(Math.random() * 10 ** (i % 9));
    for (const durationMs of durations) {
      const line = accessLogLine({ requestId: 'r', stream: false, durationMs, startedAt: 0, upstreamWaitMs: durationMs / 7 });
      viaPino.logger.info(line, 'request completed');
      write(line);
    }
    expect(direct.lines).toEqual(viaPino.lines);
  });

  it('writes nothing below its level, and leaves loggers it cannot reproduce to pino', () => {
    const quiet = accessLogger({ level: 'warn' });
    infoWriter(quiet.logger, { msg: 'request completed', members: accessLogMembers })(accessLogLine(served));
    expect(quiet.lines).toEqual([]);

    // A mixin adds fields pino would write: the writer hands the line to pino.
    const mixed = accessLogger({ mixin: () => ({ zone: 'z1' }) });
    const line = accessLogLine(served);
    infoWriter(mixed.logger, { msg: 'request completed', members: () => ',"wrong":true' })(line);
    expect(JSON.parse(mixed.lines[0] as string)).toMatchObject({ zone: 'z1', requestId: 'req-1', msg: 'request completed' });

    // With the redaction net on (the root logger, not the access log's child): pino again.
    const out = captured();
    const root = pino(loggerOptions({ level: 'info' }) as Record<string, unknown>, out.stream);
    infoWriter(root, { msg: 'request completed', members: () => ',"wrong":true' })(line);
    expect(JSON.parse(out.lines[0] as string)).toMatchObject({ requestId: 'req-1' });
  });
});
