// Small node:http helpers for the mock upstream: bodies, JSON answers and OpenAI-shaped errors.
// The mock runs on node:http directly, not fastify: see the header of server.ts for why.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** Larger bodies are refused with 413; enough for long prompts with a few images. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

export interface OpenAIErrorBody {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers?: OutgoingHttpHeaders): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** What OpenAI answers for a status, when the caller has nothing more specific to say. */
export function defaultError(status: number): OpenAIErrorBody {
  switch (status) {
    case 400:
      return { message: 'Invalid request.', type: 'invalid_request_error', param: null, code: null };
    case 401:
      return { message: 'Incorrect API key provided.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' };
    case 403:
      return { message: 'You are not allowed to use this model.', type: 'invalid_request_error', param: null, code: 'model_not_allowed' };
    case 404:
      return { message: 'The model does not exist.', type: 'invalid_request_error', param: 'model', code: 'model_not_found' };
    case 429:
      return { message: 'Rate limit reached (mock upstream).', type: 'requests', param: null, code: 'rate_limit_exceeded' };
    case 503:
      return { message: 'The engine is currently overloaded, please try again later.', type: 'server_error', param: null, code: null };
    default:
      return status >= 500
        ? { message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: null }
        : { message: `Request failed with status ${status}.`, type: 'invalid_request_error', param: null, code: null };
  }
}

export function sendError(res: ServerResponse, status: number, error: Partial<OpenAIErrorBody> = {}, headers?: OutgoingHttpHeaders): void {
  sendJson(res, status, { error: { ...defaultError(status), ...error } }, headers);
}

export function invalidRequest(res: ServerResponse, message: string, param: string | null = null): void {
  sendError(res, 400, { message, param, code: null });
}

/**
 * The whole request body as text, or undefined when it is too large (413 already sent) or the
 * client went away. Event listeners rather than `for await`: measurably cheaper per request.
 */
export function readBody(req: IncomingMessage, res: ServerResponse): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) {
        chunks.push(chunk);
        return;
      }
      req.removeAllListeners('data');
      // HTTP/2 forbids connection headers (the h2c mock's response has a `stream`).
      sendError(res, 413, { message: 'Request body too large.' }, 'stream' in res ? {} : { connection: 'close' });
      resolve(undefined);
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) return;
      resolve(chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    });
    // A promise settles once, so these only matter when the body never ended.
    req.on('error', () => resolve(undefined));
    req.on('close', () => resolve(undefined));
  });
}

/** decodeURIComponent that answers undefined for malformed escapes instead of throwing. */
export function decodePath(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

export type Parsed = { ok: true; value: unknown } | { ok: false };

export function parseJson(text: string): Parsed {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}
