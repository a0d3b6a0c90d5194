/**
 * Does a request fit a model? Capabilities, provider parameters, `n` and token limits, checked
 * before any upstream call; and how many output tokens it may produce there. Pure. A misfit is a
 * 400 for the client, and a reason to try the next fallback model.
 */
import type { CompiledModel } from '../../compile/types.js';
import { ApiError, Errors } from '../errors.js';
import { unknownParameter } from './body-fields.js';
import type { ChatRequest } from './chat-request.js';

export type Fit =
  | {
      readonly ok: true;
      /** max_tokens in force (sent upstream when the client set none). */
      readonly maxTokens: number;
      /** Everything the upstream may generate: n × (max tokens + a thinking model's reasoning). */
      readonly maxOutput: number;
    }
  | { readonly ok: false; readonly error: ApiError };

export function fitModel(req: ChatRequest, model: CompiledModel, inputTokens: number): Fit {
  const refused = capabilityMiss(req, model) ?? paramsMiss(req, model);
  if (refused !== undefined) return miss(refused);
  const { maxInput, maxOutput, contextWindow, defaultMaxOutput } = model.limits;
  if (req.maxTokens !== undefined && req.maxTokens.value > maxOutput) {
    return miss(Errors.maxTokensTooLarge(model.id, req.maxTokens.value, maxOutput, req.maxTokens.param));
  }
  if (inputTokens > maxInput) return miss(Errors.contextTooLong(model.id, inputTokens, maxInput));
  if (req.maxTokens !== undefined) {
    const total = inputTokens + req.maxTokens.value;
    if (total > contextWindow) return miss(Errors.contextWindow(model.id, total, contextWindow));
    return fits(req, model, req.maxTokens.value);
  }
  // No max_tokens: the model's default, shortened when the prompt leaves less room than that.
  const room = contextWindow - inputTokens;
  if (room < 1) return miss(Errors.contextWindow(model.id, inputTokens + 1, contextWindow));
  return fits(req, model, Math.min(defaultMaxOutput, room));
}

function capabilityMiss(req: ChatRequest, model: CompiledModel): ApiError | undefined {
  const caps = model.capabilities;
  if (req.needs.images && !caps.has('multimodal')) return Errors.capability(model.id, 'image input', 'messages');
  if (req.needs.media && !caps.has('multimodal')) return Errors.capability(model.id, 'video, audio or file input', 'messages');
  if (req.needs.tools && !caps.has('tools')) return Errors.capability(model.id, 'tool calling', 'tools');
  if (req.needs.jsonSchema && !caps.has('structuredOutput')) return Errors.capability(model.id, 'structured output (json_schema)', 'response_format');
  return undefined;
}

function paramsMiss(req: ChatRequest, model: CompiledModel): ApiError | undefined {
  if (req.extraParams.length > 0) {
    const refused = req.extraParams.filter((p) => !model.providerParameters.has(p));
    if (refused.length > 0) return unknownParameter(refused);
  }
  if (req.choices > model.limits.maxChoices) {
    return new ApiError(400, 'invalid_request_error', 'invalid_value', `The model \`${model.id}\` allows n up to ${model.limits.maxChoices}; you asked for ${req.choices}.`, 'n');
  }
  return undefined;
}

/** The reasoning a thinking model may add on top of max_tokens (max_completion_tokens includes it). */
export function reasoningAllowance(req: ChatRequest, model: CompiledModel): number {
  if (!model.capabilities.has('thinking') || req.thinkingDisabled || req.maxTokens?.param === 'max_completion_tokens') return 0;
  return model.limits.maxReasoning ?? 0;
}

function fits(req: ChatRequest, model: CompiledModel, maxTokens: number): Fit {
  return { ok: true, maxTokens, maxOutput: req.choices * (maxTokens + reasoningAllowance(req, model)) };
}

function miss(error: ApiError): Fit {
  return { ok: false, error };
}
