/**
 * What one sent upstream attempt is billed: pure. The rules (README "How requests are charged"):
 * - input: the upstream's prompt count, else the gateway's estimate; charged for every attempt
 *   whose request was sent and not refused outright (upstream 429/503/4xx answers);
 * - output: the upstream's completion count, else what was seen produced (one token per output
 *   chunk of a stream, an estimate from the text of an answer without usage), else, for a client
 *   that left a non-stream call whose answer could then not be read, the reserved output;
 * - upstream counts are checked: a negative count is 0, a count beyond what the model can hold
 *   (the context window; n of them for the output) is cut to it, and both are logged.
 */
import { costNanos } from '../../billing/money.js';
import type { CompiledModel } from '../../compile/types.js';
import type { Usage } from './sse.js';

export interface BillInput {
  readonly usage?: Usage | undefined;
  /** Output chunks seen in a stream. */
  readonly producedChunks: number;
  /** Output estimated from a non-stream answer's text (used when it carries no usage). */
  readonly outputEstimate?: number | undefined;
  /** Charge the reserved output when nothing better is known (client gone, answer lost). */
  readonly assumeReservedOutput?: boolean | undefined;
  readonly inputEstimate: number;
  /** n × (max tokens + reasoning allowance): the reservation's output part. */
  readonly reservedOutput: number;
  readonly choices: number;
  readonly model: CompiledModel;
}

export interface Bill {
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly costNanos: number;
  /** No upstream usage: the counts are the gateway's estimate. */
  readonly estimated: boolean;
  /** The upstream's counts were out of range and were cut (which ones, for the log). */
  readonly clamped?: readonly string[];
}

export function billOf(b: BillInput): Bill {
  const { model } = b;
  const clamped: string[] = [];
  const window = model.limits.contextWindow;
  const clamp = (name: string, v: number, max: number): number => {
    const c = Math.min(Math.max(Math.round(v), 0), max);
    if (c !== v) clamped.push(name);
    return c;
  };
  let inputTokens: number;
  let outputTokens: number;
  let cached = 0;
  if (b.usage !== undefined) {
    inputTokens = clamp('prompt_tokens', b.usage.promptTokens, window);
    outputTokens = clamp('completion_tokens', b.usage.completionTokens, b.choices * window);
    cached = Math.min(clamp('cached_tokens', b.usage.cachedTokens, window), inputTokens);
  } else {
    inputTokens = b.inputEstimate;
    outputTokens = Math.max(b.producedChunks, b.outputEstimate ?? 0, b.assumeReservedOutput === true ? b.reservedOutput : 0);
  }
  const cost =
    costNanos(inputTokens - cached, model.pricing.input) + costNanos(cached, model.pricing.cachedInput) + costNanos(outputTokens, model.pricing.output);
  return { inputTokens, outputTokens, costNanos: cost, estimated: b.usage === undefined, ...(clamped.length > 0 ? { clamped } : {}) };
}

/** Input only: a sent attempt that failed before any output was seen. */
export function inputOnly(inputEstimate: number, model: CompiledModel): Bill {
  return { inputTokens: inputEstimate, outputTokens: 0, costNanos: costNanos(inputEstimate, model.pricing.input), estimated: true };
}
