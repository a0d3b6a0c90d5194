/**
 * Waiting in tests: poll a condition until it holds or the time is up, and say what was awaited
 * and what was last seen. Never sleep and then assert.
 */

export interface PollOptions {
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
  /** What is awaited, for the timeout message. */
  readonly what?: string;
}

/** Polls until `probe` returns a value other than undefined/false (a throw counts as not yet), and returns it. */
export async function waitFor<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, opts: PollOptions = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${opts.what ?? 'condition'}; last: ${String(last instanceof Error ? last.message : JSON.stringify(last))}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
}

/** Polls a boolean check (a throw fails at once) until it holds. */
export async function eventually(check: () => boolean | Promise<boolean>, opts: PollOptions = {}): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 5_000);
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${opts.what ?? 'condition'} not met within ${opts.timeoutMs ?? 5_000} ms`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 20));
  }
}
