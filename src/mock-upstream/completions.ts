// POST /v1/chat/completions: the request's life from body to last byte, with the configured
// misbehaviour (latency, errors, slow or cut streams, hangs) and the accounting of what was sent.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { completionBody, planAnswer, validateChatRequest, type ChatRequest, type ResponseMeta } from './answer.js';
import type { BehaviourStore, MockBehaviour } from './behaviour.js';
import { invalidRequest, parseJson, readBody, sendError, sendJson } from './http.js';
import type { StatsRecorder } from './stats.js';
import { pause, streamAnswer, watch, type Exchange } from './stream.js';

export interface CompletionContext {
  stats: StatsRecorder;
  behaviours: BehaviourStore;
  /** Models requested so far, for GET /v1/models. */
  models: Set<string>;
  apiKey: string | undefined;
  /** A fresh number per answer, for response and tool call ids. */
  nextId(): number;
}

export function authorized(apiKey: string | undefined, req: IncomingMessage): boolean {
  return apiKey === undefined || req.headers.authorization === `Bearer ${apiKey}`;
}

function sendBehaviourError(res: ServerResponse, b: MockBehaviour & { status: number }): void {
  const headers = b.retryAfterSeconds !== undefined ? { 'retry-after': String(b.retryAfterSeconds) } : undefined;
  sendError(res, b.status, {}, headers);
}

async function respond(ctx: CompletionContext, ex: Exchange, request: ChatRequest, b: MockBehaviour): Promise<void> {
  // A hung request ends only when the client gives up (counted as an abort) or the mock closes.
  if (b.hang) return;
  if (b.latencyMs && !(await pause(ex, b.latencyMs))) return;
  if (b.status !== undefined) return sendBehaviourError(ex.res, { ...b, status: b.status });
  const n = ctx.nextId();
  const meta: ResponseMeta = { id: `chatcmpl-mock${n}`, created: Math.floor(Date.now() / 1000), model: request.model };
  const plan = planAnswer(request, b, `call_mock${n}`);
  ctx.stats.producedPrompt(plan.promptTokens);
  if (request.stream) return streamAnswer(ex, { meta, plan, includeUsage: request.includeUsage, behaviour: b });
  sendJson(ex.res, 200, completionBody(meta, plan), { 'x-request-id': `req_${meta.id}` });
  ctx.stats.producedCompletion(plan.completionTokens);
  ctx.stats.reported(plan.promptTokens, plan.completionTokens);
}

export async function handleChatCompletion(ctx: CompletionContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const raw = await readBody(req, res);
  if (raw === undefined) return;
  const parsed = parseJson(raw);
  ctx.stats.request(req.headers, parsed.ok ? parsed.value : raw);
  if (!authorized(ctx.apiKey, req)) return sendError(res, 401);
  if (!parsed.ok) {
    return invalidRequest(res, 'We could not parse the JSON body of your request. (The mock upstream expects JSON.)');
  }
  const checked = validateChatRequest(parsed.value);
  if ('error' in checked) return invalidRequest(res, checked.error, checked.param);
  ctx.models.add(checked.request.model);
  const ex = watch(res, ctx.stats);
  return respond(ctx, ex, checked.request, ctx.behaviours.get(checked.request.model));
}
