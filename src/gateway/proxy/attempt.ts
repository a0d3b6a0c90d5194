/**
 * One attempt: one model, one backend. Sends the request upstream and turns the answer into an
 * outcome the serve loop can bill and act on. Non-streamed answers are read whole; streams are
 * relayed. Every outcome says whether the request was sent: from then on it is charged.
 */
import type { FastifyReply } from 'fastify';
import type { CompiledBackend, CompiledModel } from '../../compile/types.js';
import { ApiError, Errors } from '../errors.js';
import { type ChatRequest, tooDeep, upstreamPayload } from '../request/chat-request.js';
import { textTokens } from '../request/estimate.js';
import type { UpstreamLimit } from '../request/chat-request.js';
import { CallAbort } from '../upstream/call-abort.js';
import { type UpstreamClient, UpstreamFailure, classify } from '../upstream/client.js';
import type { AttemptObserver, AttemptOutcome } from '../events.js';
import { usageOf } from './sse.js';
import { relayStream } from './stream-relay.js';

export interface AttemptInput {
  readonly chat: ChatRequest;
  readonly model: CompiledModel;
  readonly backend: CompiledBackend;
  /** The output bound sent upstream, the one reserved for. */
  readonly upstreamLimit: UpstreamLimit;
  readonly reply: FastifyReply;
  /** The client response's headers; this attempt's own object (a non-stream answer adds its content headers to it). */
  readonly headers: Record<string, string>;
  readonly upstream: UpstreamClient;
  readonly upstreamHeaders: Record<string, string>;
  /** A stream whose client stopped reading this long is cut (0: never). */
  readonly streamIdleMs: number;
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

const clientGone = (sent: boolean, extra: { answerLost?: boolean } = {}): AttemptOutcome => ({
  kind: 'served',
  sent,
  producedChunks: 0,
  status: 499,
  cut: false,
  clientGone: true,
  ...extra,
});

async function attemptOnce(input: AttemptInput): Promise<AttemptOutcome> {
  const { chat, model, backend, reply } = input;
  // The client left while we were admitting or falling back: its 'close' has fired already.
  if (reply.raw.destroyed) return clientGone(false);
  let payload: string;
  try {
    payload = upstreamPayload(chat, { upstreamModel: backend.upstreamModel, limit: input.upstreamLimit });
  } catch {
    // Nested deeper than JSON.stringify's stack: the client's body, not the upstream, is at fault.
    return { kind: 'rejected', status: 400, error: tooDeep(null), sent: false };
  }
  // A non-stream call is read to its end (bounded by the backend's timeout) so that its usage
  // can be billed: the upstream is generating it either way. Nothing aborts it.
  if (!chat.stream) return sendComplete(input, payload);
  // A stream stops generating when its reader leaves.
  const abort = new CallAbort();
  const onClose = (): void => {
    if (!reply.raw.writableFinished) abort.abort();
  };
  reply.raw.once('close', onClose);
  try {
    const res = await input.upstream.send({ backend, body: payload, signal: abort, headers: input.upstreamHeaders });
    if (res.statusCode !== 200) return await failedStatus(res.statusCode, res.body, model);
    const out = await relayStream({
      upstream: res,
      raw: reply.raw,
      headers: input.headers,
      includeUsage: chat.includeUsage,
      rename: { from: backend.upstreamModel, to: model.id },
      abort,
      idleMs: input.streamIdleMs,
    });
    if (!out.started) return out.clientGone ? clientGone(true) : failed(classify(out.error), model);
    return {
      kind: 'served',
      sent: true,
      ...(out.usage === undefined ? {} : { usage: out.usage }),
      producedChunks: out.producedChunks,
      status: 200,
      cut: !out.completed && !out.clientGone,
      clientGone: out.clientGone,
      ...(out.firstChunkAt === undefined ? {} : { firstChunkAt: out.firstChunkAt, chunkGapsMs: out.chunkGapsMs ?? [] }),
    };
  } catch (err) {
    const failure = classify(err);
    if (failure.kind === 'aborted') return clientGone(true);
    return failed(failure, model);
  } finally {
    reply.raw.off('close', onClose);
  }
}

async function sendComplete(input: AttemptInput, payload: string): Promise<AttemptOutcome> {
  const { model, reply } = input;
  try {
    // No abort signal: nothing aborts a non-stream call (an AbortController per request, then a
    // shared never-firing signal, still cost undici an abort listener per call).
    const res = await input.upstream.send({ backend: input.backend, body: payload, headers: input.upstreamHeaders });
    if (res.statusCode !== 200) return await failedStatus(res.statusCode, res.body, model);
    return await complete(input, res.body);
  } catch (err) {
    const failure = classify(err);
    if (reply.raw.destroyed) return clientGone(failure.sent, { answerLost: failure.sent });
    return failed(failure, model);
  }
}

function failed(failure: UpstreamFailure, model: CompiledModel): AttemptOutcome {
  // No connection came free in time: nothing was sent, and another backend or model may have room.
  if (failure.kind === 'saturated')
    return {
      kind: 'retryable',
      failure: 'overloaded',
      sent: false,
      error: Errors.upstreamUnavailable(`The upstream for \`${model.id}\` has no free connection (${failure.message}).`),
    };
  if (!failure.sent)
    return { kind: 'retryable', failure: 'connect', sent: false, error: Errors.upstreamError(`The upstream for \`${model.id}\` could not be reached.`) };
  if (failure.kind === 'timeout')
    return { kind: 'retryable', failure: 'timeout', sent: true, error: Errors.upstreamTimeout(`The upstream for \`${model.id}\` timed out.`) };
  return { kind: 'retryable', failure: 'serverError', sent: true, error: Errors.upstreamError(`The upstream for \`${model.id}\` failed before answering.`) };
}

async function failedStatus(status: number, body: { json(): Promise<unknown> }, model: CompiledModel): Promise<AttemptOutcome> {
  const payload = await body.json().catch(() => undefined);
  if (status === 429 || status === 503) {
    return {
      kind: 'retryable',
      failure: 'overloaded',
      sent: true,
      error: Errors.upstreamUnavailable(`The upstream for \`${model.id}\` is overloaded (HTTP ${status}).`),
    };
  }
  if (status >= 500 || status === 401 || status === 403 || status === 404 || status === 408) {
    return { kind: 'retryable', failure: 'serverError', sent: true, error: Errors.upstreamError(`The upstream for \`${model.id}\` failed (HTTP ${status}).`) };
  }
  return { kind: 'rejected', status, error: upstreamRejection(payload, status), sent: true };
}

/** An upstream's 4xx body, reduced to the OpenAI error shape (never its headers or internals). */
function upstreamRejection(payload: unknown, status: number): ApiError {
  const e = (payload as { error?: Record<string, unknown> } | undefined)?.error;
  const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  const message = str(e?.['message']) ?? `The upstream rejected the request (HTTP ${status}).`;
  return new ApiError(status, str(e?.['type']) ?? 'invalid_request_error', str(e?.['code']), message, str(e?.['param']));
}

/**
 * A non-stream answer: parsed for its usage (and model), and passed on as the upstream's own
 * bytes when its model already is the one the client asked for; otherwise with the model renamed.
 */
async function complete(input: AttemptInput, body: { text(): Promise<string> }): Promise<AttemptOutcome> {
  let text: string;
  const unreadable = (): AttemptOutcome =>
    input.reply.raw.destroyed
      ? clientGone(true, { answerLost: true })
      : {
          kind: 'retryable',
          failure: 'serverError',
          sent: true,
          error: Errors.upstreamError(`The upstream for \`${input.model.id}\` sent an unreadable answer.`),
        };
  try {
    text = await body.text();
  } catch (err) {
    const failure = classify(err);
    if (failure.kind === 'timeout' && !input.reply.raw.destroyed) return failed(failure, input.model);
    return unreadable();
  }
  const payload = parseObject(text);
  if (payload === undefined) return unreadable();
  const usage = usageOf(payload['usage']);
  const outputEstimate = usage === undefined ? answerTokens(payload['choices']) : undefined;
  const billing = { ...(usage === undefined ? {} : { usage }), ...(outputEstimate === undefined ? {} : { outputEstimate }) };
  // The client left while the upstream was answering: bill what it answered, send nothing.
  if (input.reply.raw.destroyed) return { kind: 'served', sent: true, ...billing, producedChunks: 0, status: 499, cut: false, clientGone: true };
  // JSON.parse keeps a duplicated key's last value, as the client's parser will: the check sees what the client sees.
  if (payload['model'] !== input.model.id) {
    payload['model'] = input.model.id;
    text = JSON.stringify(payload);
  }
  // Straight to the socket, as a stream's head is: the text is ready and needs none of fastify's
  // serialisation or send hooks. With its length (not chunked): one write for head and body.
  const raw = input.reply.hijack().raw;
  // All headers in the one object given to writeHead (the attempt's own): a setHeader before it
  // sends Node down its slower path, which checks and stores every header once more.
  const headers = input.headers;
  headers['content-type'] = JSON_TYPE;
  headers['content-length'] = String(Buffer.byteLength(text));
  raw.writeHead(200, headers).end(text);
  return { kind: 'served', sent: true, ...billing, producedChunks: 0, status: 200, cut: false, clientGone: false };
}

const JSON_TYPE = 'application/json; charset=utf-8';

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Estimated output of an answer without usage: the text of every choice's message. */
export function answerTokens(choices: unknown): number {
  if (!Array.isArray(choices)) return 0;
  let tokens = 0;
  for (const c of choices) {
    const m = (c as { message?: Record<string, unknown> } | null)?.message;
    if (typeof m !== 'object' || m === null) continue;
    for (const field of ['content', 'reasoning_content', 'reasoning', 'refusal'] as const) {
      const v = m[field];
      if (typeof v === 'string') tokens += textTokens(v);
    }
    for (const field of ['tool_calls', 'function_call', 'audio'] as const) {
      if (m[field] !== undefined && m[field] !== null) tokens += textTokens(JSON.stringify(m[field]));
    }
  }
  return tokens;
}
