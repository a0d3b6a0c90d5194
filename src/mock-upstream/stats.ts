// What the mock upstream saw and sent, so tests can check the gateway's accounting against it.
// Re-exported by server.ts.

export interface TokenCounts {
  promptTokens: number;
  completionTokens: number;
}

export interface MockStats {
  /** Chat completion requests received (every POST to /v1/chat/completions, even rejected ones). */
  requests: number;
  /** Requests by the `model` field of their body (requests without a string model are not listed). */
  byModel: Record<string, number>;
  /**
   * Sum of the usage objects actually written to clients: every non-stream success, and the
   * final usage chunk of streams that asked for it (stream_options.include_usage) and got it.
   * A cut or aborted stream, or a stream without include_usage, adds nothing here.
   */
  usage: TokenCounts;
  /**
   * What was actually generated: prompt tokens of every request whose response started, and
   * every completion token written to the socket, including those of cut and aborted streams.
   */
  produced: TokenCounts;
  /** Requests whose client (the gateway) disconnected before the response ended. */
  aborted: number;
  /** TCP connections accepted (HTTP/1.1: one per request in flight at once; h2c: many requests share one). */
  connections: number;
  lastRequest?: { headers: Record<string, string | string[] | undefined>; body: unknown };
}

function emptyStats(): MockStats {
  return {
    requests: 0,
    byModel: {},
    usage: { promptTokens: 0, completionTokens: 0 },
    produced: { promptTokens: 0, completionTokens: 0 },
    aborted: 0,
    connections: 0,
  };
}

export class StatsRecorder {
  private current: MockStats = emptyStats();

  request(headers: Record<string, string | string[] | undefined>, body: unknown): void {
    const s = this.current;
    s.requests++;
    const model = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['model'] : undefined;
    if (typeof model === 'string') s.byModel[model] = (s.byModel[model] ?? 0) + 1;
    s.lastRequest = { headers, body };
  }

  reported(prompt: number, completion: number): void {
    this.current.usage.promptTokens += prompt;
    this.current.usage.completionTokens += completion;
  }

  producedPrompt(tokens: number): void {
    this.current.produced.promptTokens += tokens;
  }

  producedCompletion(tokens: number): void {
    this.current.produced.completionTokens += tokens;
  }

  aborted(): void {
    this.current.aborted++;
  }

  connection(): void {
    this.current.connections++;
  }

  /** A copy, so callers can compare snapshots taken before and after. */
  snapshot(): MockStats {
    return structuredClone(this.current);
  }

  reset(): void {
    this.current = emptyStats();
  }
}
