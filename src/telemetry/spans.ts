/**
 * Traces: a SERVER span per chat request (joined to the caller's trace when it sent W3C trace
 * context) and a CLIENT span per upstream attempt under it, so retries on other backends and
 * fallbacks to other models show as siblings. Each attempt's span context goes upstream as
 * `traceparent`. Context is passed explicitly: no global context manager or provider is needed.
 */
import type { IncomingHttpHeaders } from 'node:http';
import {
  type Attributes,
  type Context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  defaultTextMapGetter,
  defaultTextMapSetter,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { formatNanos } from '../billing/money.js';
import type { CompiledBackend, CompiledModel, GatewayConfig } from '../compile/types.js';
import type { AttemptOutcome, ChatEvent } from '../gateway/events.js';
import { GEN_AI, OTHER, TOKENHUB } from './names.js';
import { errorTypeOf, outcomeOf, statusOf } from './outcome.js';
import { attemptOutcomeOf } from './gateway-metrics.js';

const propagator = new W3CTraceContextPropagator();

export interface ServerSpan {
  /** Starts a client span for one attempt; returns the headers carrying its context upstream. */
  startAttempt(a: { model: CompiledModel; backend: CompiledBackend; stream: boolean }): {
    headers: Record<string, string>;
    end(o: AttemptOutcome | undefined): void;
  };
  end(e: ChatEvent, config: GatewayConfig | undefined): void;
}

export function startServerSpan(tracer: Tracer, req: { requestId: string; method: string; url: string; headers: IncomingHttpHeaders }): ServerSpan {
  const parent = propagator.extract(ROOT_CONTEXT, req.headers, defaultTextMapGetter);
  const path = req.url.split('?')[0] ?? req.url;
  const span = tracer.startSpan(
    'chat',
    {
      kind: SpanKind.SERVER,
      attributes: { [GEN_AI.operationName]: 'chat', [OTHER.httpMethod]: req.method, [OTHER.urlPath]: path, [TOKENHUB.requestId]: req.requestId },
    },
    parent,
  );
  const ctx = trace.setSpan(parent, span);
  let attempt = 0;
  return {
    startAttempt: (a) => startClientSpan(tracer, ctx, { ...a, attempt: ++attempt }),
    end: (e, config) => endServerSpan(span, e, config),
  };
}

function endServerSpan(span: Span, e: ChatEvent, config: GatewayConfig | undefined): void {
  const r = e.result;
  const known = e.requestedModel !== undefined && config?.models.has(e.requestedModel) === true;
  // Span names stay low-cardinality: a model the config does not know is not named.
  if (known) span.updateName(`chat ${e.requestedModel}`);
  const served = r?.servedModel === undefined ? undefined : config?.models.get(r.servedModel);
  const status = statusOf(e);
  const errorType = errorTypeOf(e);
  const attrs: Attributes = {
    [OTHER.httpStatus]: status,
    [TOKENHUB.outcome]: outcomeOf(e),
    [TOKENHUB.stream]: e.stream,
    ...(e.keyId === undefined ? {} : { [TOKENHUB.keyId]: e.keyId }),
    ...(known ? { [GEN_AI.requestModel]: e.requestedModel } : {}),
    ...(served === undefined ? {} : { [GEN_AI.responseModel]: served.id, [GEN_AI.providerName]: served.provider }),
    ...(r === undefined ? {} : { [TOKENHUB.attempts]: r.attempts, [TOKENHUB.fallbacks]: r.fallbacks }),
    ...(r?.usage === undefined
      ? {}
      : { [GEN_AI.usageInputTokens]: r.usage.inputTokens, [GEN_AI.usageOutputTokens]: r.usage.outputTokens, [TOKENHUB.cost]: formatNanos(r.usage.costNanos) }),
    ...(errorType === undefined ? {} : { [OTHER.errorType]: errorType }),
  };
  span.setAttributes(attrs);
  if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: errorType ?? String(status) });
  span.end();
}

function startClientSpan(
  tracer: Tracer,
  parent: Context,
  a: { model: CompiledModel; backend: CompiledBackend; stream: boolean; attempt: number },
): { headers: Record<string, string>; end(o: AttemptOutcome | undefined): void } {
  const url = safeURL(a.backend.baseURL);
  const span = tracer.startSpan(
    `chat ${a.backend.upstreamModel}`,
    {
      kind: SpanKind.CLIENT,
      attributes: {
        [GEN_AI.operationName]: 'chat',
        [GEN_AI.providerName]: a.model.provider,
        [GEN_AI.requestModel]: a.backend.upstreamModel,
        [TOKENHUB.model]: a.model.id,
        [TOKENHUB.backend]: a.backend.name,
        [TOKENHUB.attempt]: a.attempt,
        [TOKENHUB.stream]: a.stream,
        ...(url === undefined ? {} : { [OTHER.serverAddress]: url.hostname, [OTHER.serverPort]: portOf(url) }),
      },
    },
    parent,
  );
  const headers: Record<string, string> = {};
  propagator.inject(trace.setSpan(parent, span), headers, defaultTextMapSetter);
  return { headers, end: (o) => endClientSpan(span, o) };
}

function endClientSpan(span: Span, o: AttemptOutcome | undefined): void {
  span.setAttribute(TOKENHUB.attemptOutcome, attemptOutcomeOf(o));
  if (o?.kind === 'served') {
    if (o.status !== 499) span.setAttribute(OTHER.httpStatus, o.status);
    if (o.usage !== undefined) span.setAttributes({ [GEN_AI.usageInputTokens]: o.usage.promptTokens, [GEN_AI.usageOutputTokens]: o.usage.completionTokens });
    if (o.cut) span.setStatus({ code: SpanStatusCode.ERROR, message: 'upstream_stream_cut' });
  } else {
    const type = o === undefined ? '_OTHER' : o.kind === 'rejected' ? String(o.status) : (o.error.code ?? String(o.error.status));
    if (o?.kind === 'rejected') span.setAttribute(OTHER.httpStatus, o.status);
    span.setAttribute(OTHER.errorType, type);
    span.setStatus({ code: SpanStatusCode.ERROR, message: type });
  }
  span.end();
}

function safeURL(baseURL: string): URL | undefined {
  try {
    return new URL(baseURL);
  } catch {
    return undefined;
  }
}

function portOf(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}
