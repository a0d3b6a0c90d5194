// How the mock upstream misbehaves, per upstream model name. Re-exported by server.ts.

export interface MockBehaviour {
  /** Delay before the response headers (and so before the first chunk). */
  latencyMs?: number;
  /** Delay between stream chunks. */
  chunkDelayMs?: number;
  /** Answer with this HTTP error status and an OpenAI-shaped error body, e.g. 500, 503, 429. */
  status?: number;
  /** Retry-After header sent with a 429. */
  retryAfterSeconds?: number;
  /** Streaming: destroy the socket after N content chunks (no finish chunk, no usage, no [DONE]). */
  cutAfterChunks?: number;
  /** Tokens to generate (default 16), capped by max_tokens / max_completion_tokens (finish_reason 'length' then). */
  completionTokens?: number;
  /** Never answer (for timeout tests); the request ends only when the client goes away or the mock closes. */
  hang?: boolean;
  /** Which delta field carries the generated tokens (default content): reasoning models, refusals, calls, audio. */
  deltaField?: DeltaField;
  /** Send no usage (no usage chunk in a stream, no `usage` in an answer). */
  omitUsage?: boolean;
  /** Report these counts instead of the real ones (any integer, negatives included: a broken upstream). */
  reportedPromptTokens?: number;
  reportedCompletionTokens?: number;
}

export const DELTA_FIELDS = ['content', 'reasoning_content', 'reasoning', 'refusal', 'tool_calls', 'function_call', 'audio'] as const;
export type DeltaField = (typeof DELTA_FIELDS)[number];

export const DEFAULT_COMPLETION_TOKENS = 16;

const NUMBER_FIELDS = ['latencyMs', 'chunkDelayMs', 'status', 'retryAfterSeconds', 'cutAfterChunks', 'completionTokens'] as const;
const SIGNED_FIELDS = ['reportedPromptTokens', 'reportedCompletionTokens'] as const;

/**
 * Checks a behaviour that came over HTTP. Returns the behaviour (undefined for null, which
 * clears it) or an error message naming the first bad field.
 */
export function parseBehaviour(input: unknown): { behaviour: MockBehaviour | undefined } | { error: string } {
  if (input === null || input === undefined) return { behaviour: undefined };
  if (typeof input !== 'object' || Array.isArray(input)) return { error: 'behaviour must be a JSON object or null' };
  const record = input as Record<string, unknown>;
  const known = new Set<string>([...NUMBER_FIELDS, ...SIGNED_FIELDS, 'hang', 'omitUsage', 'deltaField']);
  const behaviour: MockBehaviour = {};
  for (const [key, value] of Object.entries(record)) {
    if (!known.has(key)) return { error: `unknown behaviour field '${key}'` };
    if (value === undefined || value === null) continue;
    if (key === 'hang' || key === 'omitUsage') {
      if (typeof value !== 'boolean') return { error: `'${key}' must be a boolean` };
      behaviour[key] = value;
      continue;
    }
    if (key === 'deltaField') {
      if (!(DELTA_FIELDS as readonly unknown[]).includes(value)) return { error: `'deltaField' must be one of ${DELTA_FIELDS.join(', ')}` };
      behaviour.deltaField = value as DeltaField;
      continue;
    }
    if ((SIGNED_FIELDS as readonly string[]).includes(key)) {
      if (typeof value !== 'number' || !Number.isInteger(value)) return { error: `'${key}' must be an integer` };
      behaviour[key as (typeof SIGNED_FIELDS)[number]] = value;
      continue;
    }
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      return { error: `'${key}' must be a non-negative integer` };
    }
    behaviour[key as (typeof NUMBER_FIELDS)[number]] = value;
  }
  if (behaviour.status !== undefined && (behaviour.status < 400 || behaviour.status > 599)) {
    return { error: `'status' must be an HTTP error status (400-599)` };
  }
  return { behaviour };
}

/**
 * Behaviours by model name. A model's own behaviour replaces the default as a whole (no
 * field-by-field merge), so a test that sets one model never inherits surprises from '*'.
 */
export class BehaviourStore {
  private readonly byModel = new Map<string, MockBehaviour>();
  private fallback: MockBehaviour;

  constructor(private readonly initialDefault: MockBehaviour = {}) {
    this.fallback = { ...initialDefault };
  }

  set(model: string, behaviour: MockBehaviour | undefined): void {
    if (model === '*') {
      this.fallback = { ...(behaviour ?? this.initialDefault) };
      return;
    }
    if (behaviour === undefined) this.byModel.delete(model);
    else this.byModel.set(model, { ...behaviour });
  }

  get(model: string): MockBehaviour {
    return this.byModel.get(model) ?? this.fallback;
  }

  /** Back to what the mock started with. */
  reset(): void {
    this.byModel.clear();
    this.fallback = { ...this.initialDefault };
  }
}
