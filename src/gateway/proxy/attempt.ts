/**
 * One attempt: one model, one backend. Sends the request upstream and turns the answer into an
 * outcome the fallback loop can act on. Non-streamed answers are read whole; streams are relayed.
 */
import type { FastifyReply } from 'fastify';
import type { CompiledBackend, CompiledModel } from '../../compile/types.js';
import { ApiError, Errors } from '../errors.js';
import { type ChatRequest, upstreamBody } from '../request/chat-request.js';
import { type UpstreamClient, UpstreamFailure, classify } from '../upstream/client.js';
import type { AttemptObserver, AttemptOutcome } from '../events.js';
import { usageOf } from './sse.js';
import { relayStream } from './stream-relay.js';

export type { AttemptOutcome } from '../events.js';


export interface AttemptInput {
  readonly chat: ChatRequest;
  readonly model: CompiledModel;
  readonly backend: CompiledBackend;
  readonly maxTokens: number;
  readonly reply: FastifyReply;
  readonly headers: Record<string, string>;
  readonly upstream: UpstreamClient;
  readonly upstreamHeaders: Record<string, string>;
  /** Watches the attempt (a client span, trace context for the upstream); none: not watched. */
  readonly observer?: AttemptObserver;
}

export async function runAttempt(input: AttemptInput): Promise<AttemptOutcome> {
  const watch = input.observer?.start({ model: input.model, backend: input.backend, stream: input.chat.stream });
  if (watch === undefined) return attemptOnce(input);
  let outcome: AttemptOutcome | undefined;
  try {
    outcome = await attemptOnce({ ...input, upstreamHeaders: { ...input.upstreamHeaders, ...watch.headers } });
    return outcome;
  } finally {
    watch.end(outcome);
  }
}

const CLIENT_GONE: AttemptOutcome = { kind: 'served', producedChunks: 0, status: 499, cut: false, clientGone: true };

async function attemptOnce(input: AttemptInput): Promise<AttemptOutcome> {
  const { chat, model, backend, reply } = input;
  // The client left while we were admitting or falling back: its 'close' has fired already.
  if (reply.raw.destroyed) return CLIENT_GONE;
  const abort = new AbortController();
  const onClose = (): void => {
    if (!reply.raw.writableFinished) abort.abort();
  };
  reply.raw.once('close', onClose);
  try {
    const res = await input.upstream.send({
      backend,
      body: upstreamBody(chat, { upstreamModel: backend.upstreamModel, maxTokens: input.maxTokens }),
      signal: abort.signal,
      headers: input.upstreamHeaders,
    });
    if (res.statusCode !== 200) return await failedStatus(res.statusCode, res.body, model);
    if (!chat.stream) return await complete(input, res.body);
    const out = await relayStream({
      upstream: res,
      raw: reply.raw,
      headers: input.headers,
      includeUsage: chat.includeUsage,
      rename: { from: backend.upstreamModel, to: model.id },
      abort,
    });
    if (!out.started) return { kind: 'retryable', error: errorOf(classify(out.error), model) };
    return {
      kind: 'served',
      ...(out.usage === undefined ? {} : { usage: out.usage }),
      producedChunks: out.producedChunks,
      status: 200,
      cut: !out.completed && !out.clientGone,
      clientGone: out.clientGone,
      ...(out.firstChunkAt === undefined ? {} : { firstChunkAt: out.firstChunkAt, chunkGapsMs: out.chunkGapsMs ?? [] }),
    };
  } catch (err) {
    const failure = classify(err);
    if (failure.kind === 'aborted') return CLIENT_GONE;
    return { kind: 'retryable', error: errorOf(failure, model) };
  } finally {
    reply.raw.off('close', onClose);
  }
}

function errorOf(failure: UpstreamFailure, model: CompiledModel): ApiError {
  if (failure.kind === 'timeout') return Errors.upstreamTimeout(`The upstream for \`${model.id}\` timed out.`);
  return Errors.upstreamError(`The upstream for \`${model.id}\` could not be reached.`);
}

async function failedStatus(status: number, body: AsyncIterable<unknown> & { json(): Promise<unknown>; text(): Promise<string> }, model: CompiledModel): Promise<AttemptOutcome> {
  const payload = await body.json().catch(() => undefined);
  if (status === 429 || status === 503) {
    return { kind: 'retryable', error: Errors.upstreamUnavailable(`The upstream for \`${model.id}\` is overloaded (HTTP ${status}).`) };
  }
  if (status >= 500 || status === 401 || status === 403 || status === 404 || status === 408) {
    return { kind: 'retryable', error: Errors.upstreamError(`The upstream for \`${model.id}\` failed (HTTP ${status}).`) };
  }
  return { kind: 'rejected', status, error: upstreamRejection(payload, status) };
}

/** An upstream's 4xx body, reduced to the OpenAI error shape (never its headers or internals). */
function upstreamRejection(payload: unknown, status: number): ApiError {
  const e = (payload as { error?: Record<string, unknown> } | undefined)?.error;
  const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  const message = str(e?.['message']) ?? `The upstream rejected the request (HTTP ${status}).`;
  return new ApiError(status, str(e?.['type']) ?? 'invalid_request_error', str(e?.['code']), message, str(e?.['param']));
}

async function complete(input: AttemptInput, body: { json(): Promise<unknown> }): Promise<AttemptOutcome> {
  let payload: Record<string, unknown>;
  try {
    payload = (await body.json()) as Record<string, unknown>;
  } catch (err) {
    const failure = classify(err);
    if (failure.kind === 'aborted') return CLIENT_GONE;
    return { kind: 'retryable', error: Errors.upstreamError(`The upstream for \`${input.model.id}\` sent an unreadable answer.`) };
  }
  if (typeof payload !== 'object' || payload === null) {
    return { kind: 'retryable', error: Errors.upstreamError(`The upstream for \`${input.model.id}\` sent an unreadable answer.`) };
  }
  const usage = usageOf(payload['usage']);
  payload['model'] = input.model.id;
  await input.reply.code(200).headers(input.headers).send(payload);
  return { kind: 'served', ...(usage === undefined ? {} : { usage }), producedChunks: 0, status: 200, cut: false, clientGone: false };
}

