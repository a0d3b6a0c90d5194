// What the mock answers to a chat completion request, decided without any I/O: request
// validation, the answer's tokens and the response bodies.
import { DEFAULT_COMPLETION_TOKENS, type DeltaField, type MockBehaviour } from './behaviour.js';
import { answerTokens, countPromptTokens, countWords, lastUserText, mentionsWord } from './tokens.js';

export interface ChatRequest {
  model: string;
  messages: unknown[];
  stream: boolean;
  includeUsage: boolean;
  /** max_completion_tokens, else max_tokens. */
  maxTokens?: number;
  /** Name of the function to call when the request offers tools and asks about the weather. */
  weatherTool?: string;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls';

/** One stream chunk's delta and the completion tokens it carries. */
export interface Piece {
  delta: Record<string, unknown>;
  tokens: number;
}

export interface AnswerPlan {
  promptTokens: number;
  completionTokens: number;
  finishReason: FinishReason;
  pieces: Piece[];
  /** choices[0].message of the non-stream answer. */
  message: Record<string, unknown>;
  /** The usage reported (behaviour may skew it), or null to send none. */
  reported: { prompt: number; completion: number } | null;
}

type Invalid = { error: string; param: string | null };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function readMaxTokens(body: Record<string, unknown>): number | undefined | Invalid {
  // As Ark (and OpenAI's reasoning models): one bound or the other, so a gateway that sends both is caught.
  if (body['max_tokens'] != null && body['max_completion_tokens'] != null) {
    return { error: 'max_tokens and max_completion_tokens cannot both be set; send one of them.', param: 'max_completion_tokens' };
  }
  for (const param of ['max_completion_tokens', 'max_tokens']) {
    const value = body[param];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      return { error: `Invalid '${param}': expected an integer greater than or equal to 1.`, param };
    }
    return value;
  }
  return undefined;
}

/** The first function tool's name, when the request's tools and last user message call for one. */
function pickWeatherTool(body: Record<string, unknown>, messages: unknown[]): string | undefined {
  const tools = body['tools'];
  if (!Array.isArray(tools) || tools.length === 0 || body['tool_choice'] === 'none') return undefined;
  if (!mentionsWord(lastUserText(messages), 'weather')) return undefined;
  for (const tool of tools) {
    const fn = isRecord(tool) ? tool['function'] : undefined;
    if (isRecord(fn) && typeof fn['name'] === 'string') return fn['name'];
  }
  return undefined;
}

function checkShape(body: Record<string, unknown>): Invalid | undefined {
  if (typeof body['model'] !== 'string' || body['model'] === '') {
    return { error: 'you must provide a model parameter', param: 'model' };
  }
  const messages = body['messages'];
  if (!Array.isArray(messages) || messages.length === 0) {
    return { error: "Invalid 'messages': expected a non-empty array.", param: 'messages' };
  }
  const bad = messages.findIndex((m) => !isRecord(m) || typeof m['role'] !== 'string');
  if (bad >= 0) return { error: `Invalid 'messages[${bad}]': expected an object with a 'role'.`, param: `messages[${bad}]` };
  if (body['stream'] !== undefined && body['stream'] !== null && typeof body['stream'] !== 'boolean') {
    return { error: "Invalid 'stream': expected a boolean.", param: 'stream' };
  }
  if (body['tools'] !== undefined && !Array.isArray(body['tools'])) {
    return { error: "Invalid 'tools': expected an array.", param: 'tools' };
  }
  if (body['stream_options'] !== undefined && body['stream_options'] !== null && body['stream'] !== true) {
    // OpenAI's own rule; a gateway that adds include_usage to non-stream requests must hear about it.
    return { error: "The 'stream_options' parameter is only allowed when 'stream' is enabled.", param: 'stream_options' };
  }
  return undefined;
}

export function validateChatRequest(body: unknown): { request: ChatRequest } | Invalid {
  if (!isRecord(body)) return { error: 'The request body must be a JSON object.', param: null };
  const invalid = checkShape(body);
  if (invalid) return invalid;
  const maxTokens = readMaxTokens(body);
  if (isRecord(maxTokens)) return maxTokens;
  const messages = body['messages'] as unknown[];
  const streamOptions = body['stream_options'];
  const request: ChatRequest = {
    model: body['model'] as string,
    messages,
    stream: body['stream'] === true,
    includeUsage: isRecord(streamOptions) && streamOptions['include_usage'] === true,
  };
  if (maxTokens !== undefined) request.maxTokens = maxTokens;
  const weatherTool = pickWeatherTool(body, messages);
  if (weatherTool !== undefined) request.weatherTool = weatherTool;
  return { request };
}

/** "weather in Lyon?" → Lyon; anything else → Paris. */
function weatherLocation(text: string): string {
  const words = text.split(/\s+/);
  const at = words.findIndex((w) => w.toLowerCase() === 'in');
  const next = at >= 0 ? words[at + 1]?.replace(/^\W+|\W+$/g, '') : undefined;
  return next ? next : 'Paris';
}

function planToolCall(request: ChatRequest, name: string, callId: string, promptTokens: number): AnswerPlan {
  const args = JSON.stringify({ location: weatherLocation(lastUserText(request.messages)) });
  // One token for the function name, one per word of the arguments; max_tokens does not apply.
  const argTokens = countWords(args);
  const pieces: Piece[] = [
    { delta: { tool_calls: [{ index: 0, id: callId, type: 'function', function: { name, arguments: '' } }] }, tokens: 1 },
    { delta: { tool_calls: [{ index: 0, function: { arguments: args } }] }, tokens: argTokens },
  ];
  const message = {
    role: 'assistant',
    content: null,
    refusal: null,
    tool_calls: [{ id: callId, type: 'function', function: { name, arguments: args } }],
  };
  const completionTokens = 1 + argTokens;
  return { promptTokens, completionTokens, finishReason: 'tool_calls', pieces, message, reported: { prompt: promptTokens, completion: completionTokens } };
}

/** A token as a delta of the given field, and the message field of a whole answer. */
function deltaOf(field: DeltaField, text: string): Record<string, unknown> {
  if (field === 'tool_calls') return { tool_calls: [{ index: 0, function: { arguments: text } }] };
  if (field === 'function_call') return { function_call: { arguments: text } };
  if (field === 'audio') return { audio: { transcript: text } };
  return { [field]: text };
}

function messageOf(field: DeltaField, text: string): Record<string, unknown> {
  if (field === 'content') return { role: 'assistant', content: text, refusal: null };
  const rest = deltaOf(field, text);
  if (field === 'tool_calls')
    return { role: 'assistant', content: null, tool_calls: [{ id: 'call_mock', type: 'function', function: { name: 'f', arguments: text } }] };
  return { role: 'assistant', content: null, ...rest };
}

function reportedOf(b: MockBehaviour, prompt: number, completion: number): AnswerPlan['reported'] {
  if (b.omitUsage === true) return null;
  return { prompt: b.reportedPromptTokens ?? prompt, completion: b.reportedCompletionTokens ?? completion };
}

export function planAnswer(request: ChatRequest, behaviour: MockBehaviour, callId: string): AnswerPlan {
  const promptTokens = countPromptTokens(request.messages);
  if (request.weatherTool !== undefined) {
    const plan = planToolCall(request, request.weatherTool, callId, promptTokens);
    return { ...plan, reported: reportedOf(behaviour, plan.promptTokens, plan.completionTokens) };
  }
  const wanted = behaviour.completionTokens ?? DEFAULT_COMPLETION_TOKENS;
  const capped = request.maxTokens !== undefined && request.maxTokens < wanted;
  const tokens = answerTokens(lastUserText(request.messages), capped ? (request.maxTokens as number) : wanted);
  const field = behaviour.deltaField ?? 'content';
  return {
    promptTokens,
    completionTokens: tokens.length,
    finishReason: capped ? 'length' : 'stop',
    pieces: tokens.map((text) => ({ delta: field === 'content' ? { content: text } : deltaOf(field, text), tokens: 1 })),
    message: messageOf(field, tokens.join('')),
    reported: reportedOf(behaviour, promptTokens, tokens.length),
  };
}

export interface ResponseMeta {
  id: string;
  created: number;
  model: string;
}

function usageOf(plan: AnswerPlan): Record<string, number> {
  const r = plan.reported ?? { prompt: plan.promptTokens, completion: plan.completionTokens };
  return { prompt_tokens: r.prompt, completion_tokens: r.completion, total_tokens: r.prompt + r.completion };
}

export function completionBody(meta: ResponseMeta, plan: AnswerPlan): Record<string, unknown> {
  return {
    id: meta.id,
    object: 'chat.completion',
    created: meta.created,
    model: meta.model,
    system_fingerprint: 'fp_mock',
    choices: [{ index: 0, message: plan.message, logprobs: null, finish_reason: plan.finishReason }],
    ...(plan.reported === null ? {} : { usage: usageOf(plan) }),
  };
}

/**
 * Stream chunks as JSON text. The envelope is the same for every chunk, so it is serialised
 * once and only the delta per chunk: the stream is the benchmark's hot path.
 */
export class ChunkEncoder {
  private readonly head: string;
  private readonly usageTail: string;

  constructor(
    private readonly meta: ResponseMeta,
    includeUsage: boolean,
  ) {
    this.head =
      `{"id":${JSON.stringify(meta.id)},"object":"chat.completion.chunk","created":${meta.created},` +
      `"model":${JSON.stringify(meta.model)},"system_fingerprint":"fp_mock","choices":[{"index":0,"delta":`;
    // OpenAI sends `usage: null` on every chunk only when the client asked for the usage chunk.
    this.usageTail = includeUsage ? ',"usage":null}' : '}';
  }

  delta(delta: Record<string, unknown>, finishReason: FinishReason | null = null): string {
    const finish = finishReason === null ? 'null' : `"${finishReason}"`;
    return `${this.head}${JSON.stringify(delta)},"logprobs":null,"finish_reason":${finish}}]${this.usageTail}`;
  }

  usage(plan: AnswerPlan): string {
    return JSON.stringify({
      id: this.meta.id,
      object: 'chat.completion.chunk',
      created: this.meta.created,
      model: this.meta.model,
      system_fingerprint: 'fp_mock',
      choices: [],
      usage: usageOf(plan),
    });
  }
}
