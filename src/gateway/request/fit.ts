/**
 * Does a request fit a model? Capabilities, provider parameters, `n` and token limits, checked
 * before any upstream call; and how many output tokens it may produce there. Pure. A misfit is a
 * 400 for the client, and a reason to try the next fallback model.
 */
import type { CompiledModel } from '../../compile/types.js';
import { ApiError, Errors } from '../errors.js';
import { unknownParameter } from './body-fields.js';
import type { ChatRequest, UpstreamLimit } from './chat-request.js';

export type Fit =
  | {
      readonly ok: true;
      /** max_tokens in force: the client's, else the model's default within the context window. */
      readonly maxTokens: number;
      /** The one output bound sent upstream (upstreamBody): what each choice may generate, reasoning included. */
      readonly upstreamLimit: UpstreamLimit;
      /** Everything the upstream may generate, the reservation's output part: n × upstreamLimit. */
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
    return fits(req, model, { maxTokens: req.maxTokens.value, room: contextWindow - total });
  }
  // No max_tokens: the model's default, shortened when the prompt leaves less room than that.
  const room = contextWindow - inputTokens;
  if (room < 1) return miss(Errors.contextWindow(model.id, inputTokens + 1, contextWindow));
  const maxTokens = Math.min(defaultMaxOutput, room);
  return fits(req, model, { maxTokens, room: room - maxTokens });
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
    return new ApiError(
      400,
      'invalid_request_error',
      'invalid_value',
      `The model \`${model.id}\` allows n up to ${model.limits.maxChoices}; you asked for ${req.choices}.`,
      'n',
    );
  }
  return undefined;
}

/**
 * What the upstream is told it may generate. A thinking model's reasoning is not bounded by
 * max_tokens, so unless the client bounded it (max_completion_tokens) or turned it off, the
 * gateway sends max_completion_tokens = max_tokens + the route's reasoning allowance instead:
 * the upstream then cannot produce more than was reserved. The allowance is cut to the room the
 * context window leaves, as the upstream's own window would cut it.
 */
export function upstreamLimit(req: ChatRequest, model: CompiledModel, opts: { maxTokens: number; room: number }): UpstreamLimit {
  if (req.maxTokens?.param === 'max_completion_tokens') return { param: 'max_completion_tokens', value: req.maxTokens.value };
  if (!model.capabilities.has('thinking') || req.thinkingDisabled) return { param: 'max_tokens', value: opts.maxTokens };
  const allowance = Math.max(0, Math.min(model.limits.reasoningAllowance, opts.room));
  return { param: 'max_completion_tokens', value: opts.maxTokens + allowance };
}

function fits(req: ChatRequest, model: CompiledModel, opts: { maxTokens: number; room: number }): Fit {
  const limit = upstreamLimit(req, model, opts);
  return { ok: true, maxTokens: opts.maxTokens, upstreamLimit: limit, maxOutput: req.choices * limit.value };
}

function miss(error: ApiError): Fit {
  return { ok: false, error };
}
