/**
 * A chat completion request as the gateway needs to see it: every known top-level field
 * type-checked (body-fields.ts), what the gateway routes, limits and bills on read out, and the
 * fields it does not know listed for the model's provider parameters to allow (fit.ts).
 */
import { ApiError, Errors } from '../errors.js';
import { checkFields } from './body-fields.js';
import { spliceObject } from './body-splice.js';
import { type MediaCounts, type MediaKind, textTokens } from './estimate.js';

/** The body as received; provider parameters are forwarded as they are. */
export type ChatBody = Record<string, unknown>;

export interface ChatRequest {
  readonly body: ChatBody;
  /** The JSON text `body` was parsed from, when known: the upstream body is an edit of it (body-splice.ts). */
  readonly raw?: string;
  readonly model: string;
  readonly stream: boolean;
  /** The client asked for the usage chunk (stream_options.include_usage). */
  readonly includeUsage: boolean;
  /**
   * max_tokens or max_completion_tokens, and which of the two the client used. Both may be sent
   * only with the same value. max_completion_tokens bounds reasoning too (OpenAI, Ark);
   * max_tokens bounds the answer only, so a thinking model's reasoning comes on top.
   */
  readonly maxTokens?: { value: number; param: 'max_tokens' | 'max_completion_tokens' };
  /** `n`: choices asked for (default 1); each one may produce max tokens. */
  readonly choices: number;
  /** The client turned a thinking model's reasoning off (Ark's `thinking: {type: "disabled"}`). */
  readonly thinkingDisabled: boolean;
  readonly fallbackModels: readonly string[];
  readonly needs: { images: boolean; media: boolean; tools: boolean; jsonSchema: boolean };
  /** Top-level fields outside the OpenAI API: allowed only as the model's provider parameters. */
  readonly extraParams: readonly string[];
  /** Estimated tokens of the text the model reads (messages, tools, schema). */
  readonly inputTextTokens: number;
  readonly messageCount: number;
  readonly media: MediaCounts;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseChatRequest(body: unknown, raw?: string): ChatRequest {
  if (!isRecord(body)) throw Errors.invalidRequest('The request body must be a JSON object.');
  const model = body['model'];
  if (typeof model !== 'string' || model === '') throw Errors.invalidRequest('you must provide a model parameter', 'model');
  const extraParams = checkFields(body);
  const messages = body['messages'];
  if (!Array.isArray(messages) || messages.length === 0) {
    throw Errors.invalidRequest('messages must be a non-empty array', 'messages');
  }
  const content = scanMessages(messages);
  const streamOptions = body['stream_options'];
  const thinking = body['thinking'];
  const m = content.media;
  return {
    body,
    ...(raw === undefined ? {} : { raw }),
    model,
    stream: body['stream'] === true,
    includeUsage: isRecord(streamOptions) && streamOptions['include_usage'] === true,
    ...maxTokensOf(body),
    choices: typeof body['n'] === 'number' ? body['n'] : 1,
    thinkingDisabled: isRecord(thinking) && thinking['type'] === 'disabled',
    fallbackModels: fallbackModelsOf(body),
    needs: {
      images: m.image > 0,
      media: m.video + m.audio + m.file > 0,
      tools: Array.isArray(body['tools']) && body['tools'].length > 0,
      jsonSchema: isRecord(body['response_format']) && body['response_format']['type'] === 'json_schema',
    },
    extraParams,
    inputTextTokens: content.tokens + jsonTokens(body['tools'], 'tools') + jsonTokens(body['response_format'], 'response_format'),
    messageCount: messages.length,
    media: m,
  };
}

function maxTokensOf(body: ChatBody): Pick<ChatRequest, 'maxTokens'> {
  const completion = body['max_completion_tokens'];
  const plain = body['max_tokens'];
  // Types were checked by checkFields; null means not set.
  if (typeof completion === 'number') {
    if (typeof plain === 'number' && plain !== completion) {
      throw Errors.invalidRequest(`max_tokens (${plain}) and max_completion_tokens (${completion}) differ; send one of them.`, 'max_completion_tokens');
    }
    return { maxTokens: { value: completion, param: 'max_completion_tokens' } };
  }
  if (typeof plain === 'number') return { maxTokens: { value: plain, param: 'max_tokens' } };
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

/** Content part types that carry media, by what they cost (estimate.ts). */
const MEDIA_PARTS: Readonly<Record<string, MediaKind>> = {
  image_url: 'image',
  input_image: 'image',
  video_url: 'video',
  input_video: 'video',
  input_audio: 'audio',
  audio_url: 'audio',
  file: 'file',
  input_file: 'file',
};

function scanMessages(messages: unknown[]): { tokens: number; media: MediaCounts } {
  let tokens = 0;
  const media: MediaCounts = { image: 0, video: 0, audio: 0, file: 0 };
  messages.forEach((m, i) => {
    if (!isRecord(m) || typeof m['role'] !== 'string') {
      throw Errors.invalidRequest(`messages[${i}] must be an object with a role`, `messages[${i}]`);
    }
    const content = m['content'];
    if (typeof content === 'string') tokens += textTokens(content);
    else if (Array.isArray(content)) {
      for (const part of content) {
        if (!isRecord(part)) continue;
        const kind = typeof part['type'] === 'string' ? MEDIA_PARTS[part['type']] : undefined;
        if (kind !== undefined) media[kind]++;
        else if (typeof part['text'] === 'string') tokens += textTokens(part['text']);
      }
    }
    // An assistant turn's reasoning and tool calls are read again as input.
    if (typeof m['reasoning_content'] === 'string') tokens += textTokens(m['reasoning_content']);
    if (m['tool_calls'] !== undefined) tokens += jsonTokens(m['tool_calls'], `messages[${i}].tool_calls`);
  });
  return { tokens, media };
}

/**
 * Tokens of a JSON value the model reads. JSON.stringify recurses: a value nested deeper than
 * its stack is the client's fault (400), never an upstream's (see attempt.ts for the body).
 */
function jsonTokens(v: unknown, param: string): number {
  if (v === undefined || v === null) return 0;
  try {
    return textTokens(JSON.stringify(v));
  } catch {
    throw tooDeep(param);
  }
}

export function tooDeep(param: string | null): ApiError {
  return new ApiError(400, 'invalid_request_error', 'invalid_value', 'The request body is nested too deeply to be processed.', param);
}

/**
 * The body for the upstream: our own fields removed, the model and usage option set, and exactly
 * one output bound, the one reserved for (fit.ts): upstreams refuse max_tokens together with
 * max_completion_tokens.
 */
/** max_tokens bounds the answer; max_completion_tokens bounds reasoning and answer together (OpenAI, Ark). */
export interface UpstreamLimit {
  readonly param: 'max_tokens' | 'max_completion_tokens';
  readonly value: number;
}

export function upstreamBody(req: ChatRequest, opts: { upstreamModel: string; limit: UpstreamLimit }): ChatBody {
  const { fallback_models: _drop, max_tokens: _plain, max_completion_tokens: _completion, ...rest } = req.body;
  const body: ChatBody = { ...rest, model: opts.upstreamModel, [opts.limit.param]: opts.limit.value };
  if (req.stream) body['stream_options'] = streamOptions(req);
  return body;
}

/** Always ask for the usage chunk: it is how a stream gets billed exactly. */
function streamOptions(req: ChatRequest): ChatBody {
  const options = isRecord(req.body['stream_options']) ? req.body['stream_options'] : {};
  return { ...options, include_usage: true };
}

const GATEWAY_FIELDS: ReadonlySet<string> = new Set(['fallback_models', 'max_tokens', 'max_completion_tokens']);

/**
 * upstreamBody as JSON text: an edit of the client's text when there is one and it can be edited
 * safely (body-splice.ts), else the serialised upstreamBody; the same members either way. Throws
 * what JSON.stringify throws (a body nested deeper than its stack).
 */
export function upstreamPayload(req: ChatRequest, opts: { upstreamModel: string; limit: UpstreamLimit }): string {
  if (req.raw !== undefined) {
    const set: [string, string][] = [
      ['model', JSON.stringify(opts.upstreamModel)],
      [opts.limit.param, JSON.stringify(opts.limit.value)],
    ];
    if (req.stream) set.push(['stream_options', JSON.stringify(streamOptions(req))]);
    const spliced = spliceObject(req.raw, { drop: GATEWAY_FIELDS, set });
    if (spliced !== undefined) return spliced;
  }
  return JSON.stringify(upstreamBody(req, opts));
}
