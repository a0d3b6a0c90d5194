/**
 * A chat completion request as the gateway needs to see it: validated just enough to route,
 * limit and check capabilities; everything else passes through to the upstream untouched.
 */
import { Errors } from '../errors.js';

/** The body as received; fields we do not know are forwarded as they are. */
export type ChatBody = Record<string, unknown>;

export interface ChatRequest {
  readonly body: ChatBody;
  readonly model: string;
  readonly stream: boolean;
  /** The client asked for the usage chunk (stream_options.include_usage). */
  readonly includeUsage: boolean;
  /** max_tokens or max_completion_tokens, and which of the two the client used. */
  readonly maxTokens?: { value: number; param: 'max_tokens' | 'max_completion_tokens' };
  readonly fallbackModels: readonly string[];
  readonly needs: { images: boolean; tools: boolean; jsonSchema: boolean };
  /** Text the model reads, for the token estimate. */
  readonly inputChars: number;
  readonly messageCount: number;
  readonly imageCount: number;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseChatRequest(body: unknown): ChatRequest {
  if (!isRecord(body)) throw Errors.invalidRequest('The request body must be a JSON object.');
  const model = body['model'];
  if (typeof model !== 'string' || model === '') throw Errors.invalidRequest('you must provide a model parameter', 'model');
  const messages = body['messages'];
  if (!Array.isArray(messages) || messages.length === 0) {
    throw Errors.invalidRequest('messages must be a non-empty array', 'messages');
  }
  const content = scanMessages(messages);
  const streamOptions = body['stream_options'];
  return {
    body,
    model,
    stream: body['stream'] === true,
    includeUsage: isRecord(streamOptions) && streamOptions['include_usage'] === true,
    ...maxTokensOf(body),
    fallbackModels: fallbackModelsOf(body),
    needs: {
      images: content.images > 0,
      tools: Array.isArray(body['tools']) && body['tools'].length > 0,
      jsonSchema: isRecord(body['response_format']) && body['response_format']['type'] === 'json_schema',
    },
    inputChars: content.chars + toolChars(body),
    messageCount: messages.length,
    imageCount: content.images,
  };
}

function maxTokensOf(body: ChatBody): Pick<ChatRequest, 'maxTokens'> {
  for (const param of ['max_completion_tokens', 'max_tokens'] as const) {
    const v = body[param];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      throw Errors.invalidRequest(`${param} must be a positive integer`, param);
    }
    return { maxTokens: { value: v, param } };
  }
  return {};
}

function fallbackModelsOf(body: ChatBody): string[] {
  const v = body['fallback_models'];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((m) => typeof m !== 'string') || v.length > 8) {
    throw Errors.invalidRequest('fallback_models must be an array of at most 8 model names', 'fallback_models');
  }
  return v as string[];
}

function scanMessages(messages: unknown[]): { chars: number; images: number } {
  let chars = 0;
  let images = 0;
  messages.forEach((m, i) => {
    if (!isRecord(m) || typeof m['role'] !== 'string') {
      throw Errors.invalidRequest(`messages[${i}] must be an object with a role`, `messages[${i}]`);
    }
    const content = m['content'];
    if (typeof content === 'string') chars += content.length;
    else if (Array.isArray(content)) {
      for (const part of content) {
        if (!isRecord(part)) continue;
        if (part['type'] === 'image_url' || part['type'] === 'input_image') images++;
        else if (typeof part['text'] === 'string') chars += part['text'].length;
      }
    }
    if (m['tool_calls'] !== undefined) chars += JSON.stringify(m['tool_calls']).length;
  });
  return { chars, images };
}

function toolChars(body: ChatBody): number {
  const tools = body['tools'];
  return Array.isArray(tools) ? JSON.stringify(tools).length : 0;
}

/** The body for the upstream: our own fields removed, the model and usage option set. */
export function upstreamBody(req: ChatRequest, opts: { upstreamModel: string; maxTokens: number }): ChatBody {
  const { fallback_models: _drop, ...rest } = req.body;
  const body: ChatBody = { ...rest, model: opts.upstreamModel };
  if (req.maxTokens === undefined) body['max_tokens'] = opts.maxTokens;
  if (req.stream) {
    const options = isRecord(req.body['stream_options']) ? req.body['stream_options'] : {};
    // Always ask for the usage chunk: it is how a stream gets billed exactly.
    body['stream_options'] = { ...options, include_usage: true };
  }
  return body;
}
