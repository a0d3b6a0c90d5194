/**
 * The top-level fields of OpenAI's chat completions request, each with its type check. Pure.
 * Hand-written checks rather than an ajv schema: a body is checked on every request, and a
 * lookup plus a `typeof` per field is cheaper than a generated validator walking the messages.
 * Nested objects are checked only as far as the gateway reads them (chat-request.ts); the
 * upstream validates the rest.
 */
import { ApiError } from '../errors.js';

type Check = (v: unknown) => string | undefined;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const boolean: Check = (v) => (typeof v === 'boolean' ? undefined : 'a boolean');
const string: Check = (v) => (typeof v === 'string' ? undefined : 'a string');
const object: Check = (v) => (isRecord(v) ? undefined : 'an object');
const array: Check = (v) => (Array.isArray(v) ? undefined : 'an array');
const stringOrObject: Check = (v) => (typeof v === 'string' || isRecord(v) ? undefined : 'a string or an object');
const stringOrArray: Check = (v) => (typeof v === 'string' || Array.isArray(v) ? undefined : 'a string or an array');
const number =
  (min: number, max: number): Check =>
  (v) =>
    typeof v !== 'number' || !Number.isFinite(v) ? 'a number' : v < min || v > max ? `a number from ${min} to ${max}` : undefined;
const integer =
  (min: number, max = Number.MAX_SAFE_INTEGER): Check =>
  (v) =>
    typeof v !== 'number' || !Number.isInteger(v) ? 'an integer' : v < min || v > max ? `an integer from ${min} to ${max}` : undefined;

/** OpenAI's chat completions create parameters (2025), plus the gateway's own fallback_models. */
export const KNOWN_FIELDS: ReadonlyMap<string, Check> = new Map<string, Check>([
  ['model', string],
  ['messages', array],
  ['audio', object],
  ['frequency_penalty', number(-2, 2)],
  ['function_call', stringOrObject],
  ['functions', array],
  ['logit_bias', object],
  ['logprobs', boolean],
  ['max_completion_tokens', integer(1)],
  ['max_tokens', integer(1)],
  ['metadata', object],
  ['modalities', array],
  ['n', integer(1, 128)],
  ['parallel_tool_calls', boolean],
  ['prediction', object],
  ['presence_penalty', number(-2, 2)],
  ['prompt_cache_key', string],
  ['prompt_cache_retention', string],
  ['reasoning_effort', string],
  ['response_format', object],
  ['safety_identifier', string],
  ['seed', integer(Number.MIN_SAFE_INTEGER)],
  ['service_tier', string],
  ['stop', stringOrArray],
  ['store', boolean],
  ['stream', boolean],
  ['stream_options', object],
  ['temperature', number(0, 2)],
  ['tool_choice', stringOrObject],
  ['tools', array],
  ['top_logprobs', integer(0, 20)],
  ['top_p', number(0, 1)],
  ['user', string],
  ['verbosity', string],
  ['web_search_options', object],
  ['fallback_models', array],
]);

/**
 * Checks every field's type (null is "not set", as OpenAI takes it) and returns the names the
 * table does not know, for the model's provider parameters to allow or refuse (fit.ts).
 */
export function checkFields(body: Record<string, unknown>): string[] {
  let unknown: string[] | undefined;
  for (const name in body) {
    const check = KNOWN_FIELDS.get(name);
    if (check === undefined) {
      (unknown ??= []).push(name);
      continue;
    }
    const v = body[name];
    if (v === null) continue;
    const expected = check(v);
    if (expected !== undefined) throw invalidType(name, expected, v);
  }
  return unknown ?? NONE;
}

const NONE: string[] = [];

function invalidType(param: string, expected: string, got: unknown): ApiError {
  const kind = Array.isArray(got) ? 'an array' : typeof got === 'object' ? 'an object' : `a ${typeof got}`;
  const range = expected.includes(' from ');
  const message = range
    ? `Invalid '${param}': expected ${expected}, but got ${JSON.stringify(got)} instead.`
    : `Invalid type for '${param}': expected ${expected}, but got ${kind} instead.`;
  return new ApiError(400, 'invalid_request_error', range ? 'invalid_value' : 'invalid_type', message, param);
}

export function unknownParameter(names: readonly string[]): ApiError {
  const list = names.map((n) => `'${n}'`).join(', ');
  return new ApiError(400, 'invalid_request_error', 'unknown_parameter', `Unknown parameter${names.length > 1 ? 's' : ''}: ${list}.`, names[0] ?? null);
}
