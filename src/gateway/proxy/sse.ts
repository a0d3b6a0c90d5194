/**
 * Server-sent events from an OpenAI-compatible upstream, one event at a time: inspect (usage,
 * produced chunks, [DONE]) and rewrite (the public model name, the usage chunk the client did not
 * ask for). Pure: text in, text out. processEvent defines what each event becomes; the relay's
 * fast pass over whole chunks (sse-scan.ts) gives the same bytes for the common events without
 * decoding them.
 */

export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly cachedTokens: number;
}

export interface EventResult {
  /** What to send to the client (with its trailing blank line), or null to drop the event. */
  readonly out: string | null;
  readonly usage?: Usage;
  /** The event carried generated output (content, reasoning, refusal, tool/function call or audio delta). */
  readonly produced: boolean;
  readonly done: boolean;
}

// JSON from upstreams may have spaces after the colons (Python's json.dumps does). Every kind of
// output delta counts: text, reasoning (DeepSeek/Ark's reasoning_content, OpenRouter's reasoning),
// a refusal, tool and legacy function calls, audio.
export const PRODUCED = /"(?:content|reasoning_content|reasoning|refusal)"\s*:\s*"(?!")|"(?:tool_calls|function_call|audio)"\s*:\s*[[{]/;
export const HAS_USAGE = /"usage":\s*\{/;

export function processEvent(event: string, opts: { includeUsage: boolean; rename?: { from: string; to: string } }): EventResult {
  const data = dataOf(event);
  if (data === undefined) return { out: `${event}\n\n`, produced: false, done: false };
  if (data.trim() === '[DONE]') return { out: 'data: [DONE]\n\n', produced: false, done: true };
  let payload = data;
  if (opts.rename !== undefined && opts.rename.from !== opts.rename.to) payload = renameModel(payload, opts.rename);
  const produced = PRODUCED.test(payload);
  if (!HAS_USAGE.test(payload)) return { out: `data: ${payload}\n\n`, produced, done: false };
  return withUsage(payload, produced, opts.includeUsage);
}

/** The first `"model": "<from>"` (compact, or spaced by the upstream) becomes `"model":"<to>"`. */
function renameModel(payload: string, rename: { from: string; to: string }): string {
  const to = `"model":${JSON.stringify(rename.to)}`;
  const compact = `"model":${JSON.stringify(rename.from)}`;
  if (payload.includes(compact)) return payload.replace(compact, () => to);
  const literal = JSON.stringify(rename.from).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return payload.replace(new RegExp(`"model"\\s*:\\s*${literal}`), () => to);
}

function withUsage(payload: string, produced: boolean, includeUsage: boolean): EventResult {
  let chunk: Record<string, unknown>;
  try {
    chunk = JSON.parse(payload) as Record<string, unknown>;
  } catch {
    return { out: `data: ${payload}\n\n`, produced, done: false };
  }
  const usage = usageOf(chunk['usage']);
  if (includeUsage) return { out: `data: ${payload}\n\n`, ...(usage ? { usage } : {}), produced, done: false };
  const choices = chunk['choices'];
  // The client did not ask for usage: drop the usage-only chunk, or blank usage on a content chunk.
  if (!Array.isArray(choices) || choices.length === 0) return { out: null, ...(usage ? { usage } : {}), produced, done: false };
  return { out: `data: ${JSON.stringify({ ...chunk, usage: null })}\n\n`, ...(usage ? { usage } : {}), produced, done: false };
}

function dataOf(event: string): string | undefined {
  const lines = event.split(/\r?\n/).filter((l) => l.startsWith('data:'));
  if (lines.length === 0) return undefined;
  return lines.map((l) => l.slice(l.startsWith('data: ') ? 6 : 5)).join('\n');
}

/** OpenAI usage object → ours; undefined when absent or malformed. */
export function usageOf(u: unknown): Usage | undefined {
  if (typeof u !== 'object' || u === null) return undefined;
  const r = u as Record<string, unknown>;
  const prompt = r['prompt_tokens'];
  const completion = r['completion_tokens'];
  // Counts are taken as sent (billing.ts clamps and logs those out of range); 1e999 parses as Infinity.
  if (typeof prompt !== 'number' || typeof completion !== 'number' || !Number.isFinite(prompt) || !Number.isFinite(completion)) return undefined;
  const details = r['prompt_tokens_details'] as Record<string, unknown> | undefined;
  const c = details?.['cached_tokens'];
  const cached = typeof c === 'number' && Number.isFinite(c) ? c : 0;
  return { promptTokens: prompt, completionTokens: completion, cachedTokens: Math.min(cached, prompt) };
}
