/**
 * Does a request fit a model? Capabilities and token limits, checked before any upstream call.
 * Pure. A misfit is a 400 for the client, and a reason to try the next fallback model.
 */
import type { CompiledModel } from '../../compile/types.js';
import { ApiError, Errors } from '../errors.js';
import type { ChatRequest } from './chat-request.js';

export type Fit = { readonly ok: true; readonly maxTokens: number } | { readonly ok: false; readonly error: ApiError };

export function fitModel(req: ChatRequest, model: CompiledModel, inputTokens: number): Fit {
  const caps = model.capabilities;
  if (req.needs.images && !caps.has('multimodal')) return miss(Errors.capability(model.id, 'image input', 'messages'));
  if (req.needs.tools && !caps.has('tools')) return miss(Errors.capability(model.id, 'tool calling', 'tools'));
  if (req.needs.jsonSchema && !caps.has('structuredOutput')) {
    return miss(Errors.capability(model.id, 'structured output (json_schema)', 'response_format'));
  }
  const { maxInput, maxOutput, contextWindow, defaultMaxOutput } = model.limits;
  if (req.maxTokens !== undefined && req.maxTokens.value > maxOutput) {
    return miss(Errors.maxTokensTooLarge(model.id, req.maxTokens.value, maxOutput, req.maxTokens.param));
  }
  if (inputTokens > maxInput) return miss(Errors.contextTooLong(model.id, inputTokens, maxInput));
  if (req.maxTokens !== undefined) {
    const total = inputTokens + req.maxTokens.value;
    if (total > contextWindow) return miss(Errors.contextWindow(model.id, total, contextWindow));
    return { ok: true, maxTokens: req.maxTokens.value };
  }
  // No max_tokens: the model's default, shortened when the prompt leaves less room than that.
  const room = contextWindow - inputTokens;
  if (room < 1) return miss(Errors.contextWindow(model.id, inputTokens + 1, contextWindow));
  return { ok: true, maxTokens: Math.min(defaultMaxOutput, room) };
}

function miss(error: ApiError): Fit {
  return { ok: false, error };
}
