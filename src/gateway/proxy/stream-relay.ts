/**
 * Relays an upstream SSE stream to the client chunk by chunk, with backpressure. The client's
 * response starts only when the first upstream event is in hand, so a stream that fails before
 * its first byte can still fall back. A client that goes away aborts the upstream call; a stream
 * the upstream cuts ends with an OpenAI-style error event, never a silent 200.
 */
import type { ServerResponse } from 'node:http';
import { type Usage, SseSplitter, processEvent } from './sse.js';
import type { UpstreamResponse } from '../upstream/client.js';

export interface StreamOutcome {
  /** False: nothing reached the client; the caller may fall back. */
  readonly started: boolean;
  readonly usage?: Usage;
  /** Events that carried generated output: the token count of a cut stream. */
  readonly producedChunks: number;
  readonly completed: boolean;
  readonly clientGone: boolean;
  readonly error?: unknown;
  /** performance.now() when the first produced chunk went to the client (time to first chunk). */
  readonly firstChunkAt?: number;
  /** Milliseconds between consecutive produced chunks (the first MAX_CHUNK_GAPS of them). */
  readonly chunkGapsMs?: readonly number[];
}

/** Bounds the per-stream timing kept for metrics (8 bytes each). */
export const MAX_CHUNK_GAPS = 8192;

type RelayState = {
  started: boolean;
  usage: Usage | undefined;
  produced: number;
  done: boolean;
  clientGone: boolean;
  firstChunkAt?: number;
  lastChunkAt?: number;
  gaps: number[];
};

export interface RelayOptions {
  readonly upstream: UpstreamResponse;
  readonly raw: ServerResponse;
  readonly headers: Record<string, string>;
  readonly includeUsage: boolean;
  readonly rename: { from: string; to: string };
  readonly abort: AbortController;
}

/**
 * Streams whose client must keep reading: a response whose socket stays backed up (write()
 * said wait, no 'drain' since) for `ms` is cut: the upstream call is aborted, the client's
 * socket closed, and what was produced until then is billed as for a client that left. Set by
 * the route per response, so the attempt and fallback code need not carry it.
 */
const idleTimeouts = new WeakMap<ServerResponse, number>();

export function cutStalledReaderAfter(raw: ServerResponse, ms: number): void {
  if (ms > 0) idleTimeouts.set(raw, ms);
}

/**
 * Waits for the client to drain the socket; false when it did not within the stream's idle
 * timeout. Its listeners go when it settles (events.once would leave a 'close' and an 'error'
 * listener behind on every backed-up write of a long stream).
 */
function drained(raw: ServerResponse): Promise<boolean> {
  const idleMs = idleTimeouts.get(raw);
  return new Promise<boolean>((resolve) => {
    const done = (ok: boolean): void => {
      raw.off('drain', onDrain);
      raw.off('close', onDrain);
      if (timer !== undefined) clearTimeout(timer);
      resolve(ok);
    };
    const onDrain = (): void => done(true);
    const timer = idleMs === undefined ? undefined : setTimeout(() => done(false), idleMs);
    raw.on('drain', onDrain);
    raw.on('close', onDrain);
  });
}

const CUT_EVENT = `data: ${JSON.stringify({
  error: { message: 'The upstream stream was interrupted before it finished.', type: 'api_error', param: null, code: 'upstream_stream_cut' },
})}\n\n`;

export async function relayStream(opts: RelayOptions): Promise<StreamOutcome> {
  const { raw, abort } = opts;
  const splitter = new SseSplitter();
  const state: RelayState = { started: false, usage: undefined, produced: 0, done: false, clientGone: false, gaps: [] };
  const onClose = (): void => {
    if (!raw.writableFinished) {
      state.clientGone = true;
      abort.abort();
    }
  };
  raw.on('close', onClose);
  let error: unknown;
  try {
    for await (const chunk of opts.upstream.body) {
      for (const event of splitter.push(chunk as Uint8Array)) await handle(event, opts, state);
    }
    const rest = splitter.rest().trim();
    if (rest !== '') await handle(rest, opts, state);
  } catch (err) {
    error = err;
  } finally {
    raw.off('close', onClose);
  }
  if (!state.started) {
    return { started: false, producedChunks: 0, completed: false, clientGone: state.clientGone, error: error ?? new Error('empty stream') };
  }
  if (!state.clientGone && !raw.writableEnded) {
    if (!state.done) raw.write(CUT_EVENT);
    raw.end();
  }
  return {
    started: true,
    ...(state.usage === undefined ? {} : { usage: state.usage }),
    producedChunks: state.produced,
    completed: state.done && error === undefined,
    clientGone: state.clientGone,
    ...(error === undefined ? {} : { error }),
    ...(state.firstChunkAt === undefined ? {} : { firstChunkAt: state.firstChunkAt, chunkGapsMs: state.gaps }),
  };
}

async function handle(event: string, opts: RelayOptions, state: RelayState): Promise<void> {
  if (state.clientGone) return;
  const r = processEvent(event, { includeUsage: opts.includeUsage, rename: opts.rename });
  if (r.usage !== undefined) state.usage = r.usage;
  if (r.produced) state.produced++;
  if (r.done) state.done = true;
  if (r.out === null) return;
  if (!state.started) {
    state.started = true;
    // A draining gateway has set `Connection: close` on the response already (drain.ts): it must
    // survive. Otherwise say keep-alive, as before: without it, closing the gateway after a stream
    // waited for the keep-alive timeout (72 s) before that connection ended.
    const connection = opts.raw.hasHeader('connection') ? {} : { connection: 'keep-alive' };
    opts.raw.writeHead(200, {
      ...opts.headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
      ...connection,
    });
  }
  // A destroyed socket never drains and may have closed already: waiting for either would hang.
  if (!opts.raw.write(r.out) && !opts.raw.destroyed && !(await drained(opts.raw))) {
    state.clientGone = true;
    opts.abort.abort();
    opts.raw.destroy();
    return;
  }
  if (r.produced) markChunk(state, performance.now());
}

function markChunk(state: RelayState, now: number): void {
  if (state.lastChunkAt === undefined) state.firstChunkAt = now;
  else if (state.gaps.length < MAX_CHUNK_GAPS) state.gaps.push(now - state.lastChunkAt);
  state.lastChunkAt = now;
}
