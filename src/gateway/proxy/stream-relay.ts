/**
 * Relays an upstream SSE stream to the client chunk by chunk, with backpressure: the events of
 * one upstream chunk go out in one write, unchanged ones as the upstream's own bytes (sse-scan.ts). The client's
 * response starts only when the first upstream event is in hand, so a stream that fails before
 * its first byte can still fall back. A client that goes away aborts the upstream call; a stream
 * the upstream cuts ends with an OpenAI-style error event, never a silent 200.
 */
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { type Usage, processEvent } from './sse.js';
import { SseScanner, scanOptions, tallyEvent } from './sse-scan.js';
import type { CallAbort } from '../upstream/call-abort.js';
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
  /** The response's headers (rate limits, ids): built for this response, the relay adds the stream's own to them. */
  readonly headers: Record<string, string>;
  readonly includeUsage: boolean;
  readonly rename: { from: string; to: string };
  readonly abort: CallAbort;
  /**
   * A client that must keep reading: a response whose socket stays backed up (write() said wait,
   * no 'drain' since) this long is cut: the upstream call is aborted, the client's socket closed,
   * and what was produced until then is billed as for a client that left. 0 or none: never.
   */
  readonly idleMs?: number;
}

/**
 * Waits for the client to drain the socket; false when it did not within the stream's idle
 * timeout. Its listeners go when it settles (events.once would leave a 'close' and an 'error'
 * listener behind on every backed-up write of a long stream).
 */
function drained(raw: ServerResponse, idleMs: number | undefined): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const done = (ok: boolean): void => {
      raw.off('drain', onDrain);
      raw.off('close', onDrain);
      if (timer !== undefined) clearTimeout(timer);
      resolve(ok);
    };
    const onDrain = (): void => done(true);
    const timer = idleMs === undefined || idleMs <= 0 ? undefined : setTimeout(() => done(false), idleMs);
    raw.on('drain', onDrain);
    raw.on('close', onDrain);
  });
}

const CUT_EVENT = `data: ${JSON.stringify({
  error: { message: 'The upstream stream was interrupted before it finished.', type: 'api_error', param: null, code: 'upstream_stream_cut' },
})}\n\n`;

export async function relayStream(opts: RelayOptions): Promise<StreamOutcome> {
  const { raw, abort } = opts;
  const state: RelayState = { started: false, usage: undefined, produced: 0, done: false, clientGone: false, gaps: [] };
  const scanner = new SseScanner(scanOptions({ includeUsage: opts.includeUsage, rename: opts.rename }), state);
  const onClose = (): void => {
    if (!raw.writableFinished) {
      state.clientGone = true;
      abort.abort();
    }
  };
  raw.on('close', onClose);
  let error: unknown;
  try {
    await pump(opts.upstream.body, (chunk) => {
      // Read to the upstream's end (its connection is reused) but send nothing after [DONE] or a client gone.
      if (state.clientGone || raw.writableEnded) return undefined;
      const before = state.produced;
      const bytes = scanner.push(chunk);
      return bytes === undefined ? undefined : send({ bytes, produced: state.produced - before }, opts, state);
    });
    const rest = scanner.rest().trim();
    if (rest !== '' && !state.clientGone && !raw.writableEnded) {
      const r = processEvent(rest, { includeUsage: opts.includeUsage, rename: opts.rename });
      tallyEvent(state, r);
      if (r.out !== null) await send({ bytes: Buffer.from(r.out), produced: r.produced ? 1 : 0 }, opts, state);
    }
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

/** What one upstream chunk sends the client: bytes for a single write, and how many produced events they carry. */
interface Outgoing {
  readonly bytes: Buffer;
  readonly produced: number;
}

/** Writes one chunk's bytes; a promise only when the client's socket is backed up (the body waits for it). */
function send(out: Outgoing, opts: RelayOptions, state: RelayState): Promise<void> | undefined {
  const { raw } = opts;
  if (!state.started) {
    state.started = true;
    // A draining gateway has set `Connection: close` on the response already (drain.ts): it must
    // survive. Otherwise say keep-alive, as before: without it, closing the gateway after a stream
    // waited for the keep-alive timeout (72 s) before that connection ended.
    // Added to the attempt's own header object, not spread into a new one: the spread of a dozen
    // headers was most of this function's time.
    const head = opts.headers;
    head['content-type'] = 'text/event-stream; charset=utf-8';
    head['cache-control'] = 'no-cache';
    head['x-accel-buffering'] = 'no';
    if (!raw.hasHeader('connection')) head['connection'] = 'keep-alive';
    raw.writeHead(200, head);
  }
  // The chunk with [DONE] ends the response in the same write (one syscall, not two).
  if (state.done) raw.end(out.bytes);
  // A destroyed socket never drains and may have closed already: waiting for either would hang.
  else if (!raw.write(out.bytes) && !raw.destroyed) {
    return drained(raw, opts.idleMs).then((ok) => {
      if (ok) return markChunks(state, out.produced);
      state.clientGone = true;
      opts.abort.abort();
      raw.destroy();
    });
  }
  markChunks(state, out.produced);
  return undefined;
}

/**
 * Feeds every chunk of `body` to `onChunk` until the body ends, pausing it while the promise
 * `onChunk` returns is pending (backpressure). Listeners, not `for await`: no iterator step and
 * promise per chunk on the common path, a write the socket took at once. Rejects as `for await`
 * would: with the body's error, or when it closes before its end.
 */
function pump(body: Readable, onChunk: (chunk: Buffer) => Promise<void> | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let waiting: Promise<void> | undefined;
    let settled = false;
    const settle = (err?: Error): void => {
      if (settled) return;
      settled = true;
      body.off('data', onData).off('end', onEnd).off('error', onError).off('close', onBodyClose);
      // A write still waiting for the client finishes first, as it would have under for-await.
      void (waiting ?? Promise.resolve()).then(() => (err === undefined ? resolve() : reject(err)));
    };
    const onData = (chunk: Buffer): void => {
      const pending = onChunk(chunk);
      if (pending === undefined) return;
      body.pause();
      waiting = pending.then(() => {
        waiting = undefined;
        if (!settled) body.resume();
      });
    };
    const onEnd = (): void => settle();
    const onError = (err: Error): void => settle(err);
    const onBodyClose = (): void => settle(new Error('the upstream body closed before its end'));
    body.on('data', onData).once('end', onEnd).once('error', onError).once('close', onBodyClose);
  });
}

function markChunks(state: RelayState, produced: number): void {
  if (produced === 0) return;
  const now = performance.now();
  for (let i = 0; i < produced; i++) markChunk(state, now);
}

function markChunk(state: RelayState, now: number): void {
  if (state.lastChunkAt === undefined) state.firstChunkAt = now;
  else if (state.gaps.length < MAX_CHUNK_GAPS) state.gaps.push(now - state.lastChunkAt);
  state.lastChunkAt = now;
}
