/**
 * The gateway's error catalogue: every error a client can see, with its HTTP status and its
 * OpenAI `type`/`code`, defined once. Messages never carry keys, prompts or stack traces.
 */

import { StoreUnavailableError } from '../limits/errors.js';

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly type: string,
    readonly code: string | null,
    message: string,
    readonly param: string | null = null,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }

  toBody(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }

  withHeaders(headers: Record<string, string>): ApiError {
    return new ApiError(this.status, this.type, this.code, this.message, this.param, { ...this.headers, ...headers });
  }
}

const invalid = (message: string, param: string | null = null, code: string | null = null): ApiError =>
  new ApiError(400, 'invalid_request_error', code, message, param);

export const Errors = {
  invalidJson: () => invalid('We could not parse the JSON body of your request.', null, 'invalid_json'),
  invalidRequest: (message: string, param: string | null = null) => invalid(message, param),
  bodyTooLarge: (limit: number) => new ApiError(413, 'invalid_request_error', 'request_too_large', `Request body exceeds ${limit} bytes.`),
  missingKey: () => new ApiError(401, 'invalid_request_error', 'missing_api_key', 'You didn\'t provide an API key. Send it as "Authorization: Bearer <key>".'),
  invalidKey: () => new ApiError(401, 'invalid_request_error', 'invalid_api_key', 'Incorrect API key provided.'),
  disabledKey: () => new ApiError(401, 'invalid_request_error', 'api_key_disabled', 'This API key is disabled.'),
  expiredKey: () => new ApiError(401, 'invalid_request_error', 'api_key_expired', 'This API key has expired.'),
  modelNotAllowed: (model: string) => new ApiError(403, 'permission_error', 'model_not_allowed', `This API key may not use the model \`${model}\`.`, 'model'),
  modelNotFound: (model: string) =>
    new ApiError(404, 'invalid_request_error', 'model_not_found', `The model \`${model}\` does not exist or you do not have access to it.`, 'model'),
  notFound: (path: string) => new ApiError(404, 'invalid_request_error', 'not_found', `Unknown path ${path}.`),
  methodNotAllowed: () => new ApiError(405, 'invalid_request_error', 'method_not_allowed', 'Method not allowed.'),
  maxTokensTooLarge: (model: string, asked: number, max: number, param: string) =>
    invalid(`${param} is too large: ${asked}. The model \`${model}\` supports at most ${max} completion tokens.`, param, 'max_tokens_too_large'),
  contextTooLong: (model: string, input: number, max: number) =>
    invalid(
      `This model's maximum context length is ${max} tokens for input; your messages need about ${input}. Shorten them.`,
      'messages',
      'context_length_exceeded',
    ),
  contextWindow: (model: string, total: number, window: number) =>
    invalid(
      `The model \`${model}\` has a context window of ${window} tokens; your messages plus max_tokens need ${total}.`,
      'max_tokens',
      'context_length_exceeded',
    ),
  capability: (model: string, capability: string, param: string) =>
    invalid(`The model \`${model}\` does not support ${capability}.`, param, 'unsupported_capability'),
  rateLimited: (message: string) => new ApiError(429, 'requests', 'rate_limit_exceeded', message),
  tokensLimited: (message: string) => new ApiError(429, 'tokens', 'rate_limit_exceeded', message),
  insufficientQuota: (message: string) => new ApiError(429, 'insufficient_quota', 'insufficient_quota', message),
  upstreamUnavailable: (message: string) => new ApiError(503, 'api_error', 'upstream_unavailable', message),
  upstreamError: (message: string) => new ApiError(502, 'api_error', 'upstream_error', message),
  upstreamTimeout: (message: string) => new ApiError(504, 'api_error', 'upstream_timeout', message),
  limiterUnavailable: () => new ApiError(503, 'api_error', 'limiter_unavailable', 'Rate limiting is unavailable; try again shortly.'),
  notReady: () => new ApiError(503, 'api_error', 'not_ready', 'The gateway has no configuration yet.'),
  internal: () => new ApiError(500, 'api_error', 'internal_error', 'The gateway failed to handle the request.'),
} as const;

/** The client-facing error for a typed error from inside; undefined for anything unexpected. */
export function knownApiError(err: unknown): ApiError | undefined {
  if (err instanceof ApiError) return err;
  if (err instanceof StoreUnavailableError) return Errors.limiterUnavailable();
  return undefined;
}
