// `tokenhub mock-upstream`: the mock OpenAI upstream as a process of its own, for the demo and
// for benchmarks that want the upstream off the gateway's event loop.
import { parseArgs } from 'node:util';
import type { MockBehaviour } from './behaviour.js';
import { startMockUpstream } from './server.js';

const USAGE = `Usage: tokenhub mock-upstream [options]

A mock OpenAI-compatible upstream (chat completions, streaming, models) with controls at
/__mock/behaviour/:model (PUT, DELETE) and /__mock/stats (GET). Runs until SIGINT/SIGTERM.

Options:
  --port N                 port to listen on (default 8090; 0 = any free port)
  --host H                 address to listen on (default 127.0.0.1)
  --latency-ms N           default delay before each response
  --chunk-delay-ms N       default delay between stream chunks
  --completion-tokens N    default tokens per answer (16)
  --api-key K              require Authorization: Bearer K on /v1 routes
  --h2c                    serve cleartext HTTP/2 (prior knowledge) instead of HTTP/1.1
  --log                    one line per request on stderr
  -h, --help               this text
`;

const DEFAULT_PORT = 8090;

function nonNegativeInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} expects a non-negative integer, got '${value}'`);
  return n;
}

function parse(args: string[]): { help: true } | { help: false; opts: Parameters<typeof startMockUpstream>[0] } {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'latency-ms': { type: 'string' },
      'chunk-delay-ms': { type: 'string' },
      'completion-tokens': { type: 'string' },
      'api-key': { type: 'string' },
      log: { type: 'boolean' },
      h2c: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return { help: true };
  const behaviour: MockBehaviour = {};
  const latencyMs = nonNegativeInt('latency-ms', values['latency-ms']);
  const chunkDelayMs = nonNegativeInt('chunk-delay-ms', values['chunk-delay-ms']);
  const completionTokens = nonNegativeInt('completion-tokens', values['completion-tokens']);
  if (latencyMs !== undefined) behaviour.latencyMs = latencyMs;
  if (chunkDelayMs !== undefined) behaviour.chunkDelayMs = chunkDelayMs;
  if (completionTokens !== undefined) behaviour.completionTokens = completionTokens;
  const opts = {
    port: nonNegativeInt('port', values.port) ?? DEFAULT_PORT,
    host: values.host ?? '127.0.0.1',
    defaultBehaviour: behaviour,
    logger: values.log === true,
    h2c: values.h2c === true,
    ...(values['api-key'] !== undefined ? { apiKey: values['api-key'] } : {}),
  };
  return { help: false, opts };
}

function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** Exit code: 0 after a clean stop, 2 for bad arguments, 1 when the port cannot be bound. */
export async function mockUpstreamCommand(args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (err) {
    process.stderr.write(`tokenhub mock-upstream: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  let mock;
  try {
    mock = await startMockUpstream(parsed.opts);
  } catch (err) {
    process.stderr.write(`tokenhub mock-upstream: cannot listen: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  const stopped = untilSignal();
  process.stdout.write(`mock upstream listening on ${mock.url}${parsed.opts?.h2c === true ? ' (h2c)' : ''}\n`);
  const signal = await stopped;
  await mock.close();
  process.stdout.write(`mock upstream stopped (${signal})\n`);
  return 0;
}
