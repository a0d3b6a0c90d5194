/** The gate in front of a backend's connection pool: counted, first come first served, bounded wait. */
import { describe, expect, it } from 'vitest';
import { CallAbort } from '../../src/gateway/upstream/call-abort.js';
import { ConnectionGate } from '../../src/gateway/upstream/connection-gate.js';
import { DEFAULT_TIMEOUTS, timeoutsFromEnv } from '../../src/gateway/timeouts.js';

describe('ConnectionGate', () => {
  it('admits up to its limit at once, then makes the next wait', async () => {
    const gate = new ConnectionGate(2);
    expect(await gate.acquire({ timeoutMs: 1000 })).toEqual({ acquired: true, waitedMs: 0 });
    expect(await gate.acquire({ timeoutMs: 1000 })).toEqual({ acquired: true, waitedMs: 0 });
    const waiting = gate.acquire({ timeoutMs: 1000 });
    expect(gate.queued).toBe(1);
    await new Promise((r) => setTimeout(r, 30));
    gate.release();
    const got = await waiting;
    expect(got.acquired).toBe(true);
    expect(got.waitedMs).toBeGreaterThanOrEqual(25);
    expect(gate.inUse).toBe(2);
  });

  it('gives up after the timeout, and serves waiters in arrival order', async () => {
    const gate = new ConnectionGate(1);
    await gate.acquire({ timeoutMs: 10 });
    expect(await gate.acquire({ timeoutMs: 20 })).toMatchObject({ acquired: false, reason: 'timeout' });
    const order: string[] = [];
    const a = gate.acquire({ timeoutMs: 1000 }).then(() => order.push('a'));
    const b = gate.acquire({ timeoutMs: 1000 }).then(() => order.push('b'));
    gate.release();
    await a;
    gate.release();
    await b;
    expect(order).toEqual(['a', 'b']);
    expect(gate.queued).toBe(0);
  });

  it('lets an aborted waiter go without taking a slot', async () => {
    const gate = new ConnectionGate(1);
    await gate.acquire({ timeoutMs: 10 });
    const abort = new AbortController();
    const waiting = gate.acquire({ timeoutMs: 1000, signal: abort.signal });
    abort.abort();
    expect(await waiting).toMatchObject({ acquired: false, reason: 'aborted' });
    gate.release();
    expect(gate.inUse).toBe(0);
    expect(await gate.acquire({ timeoutMs: 10, signal: AbortSignal.abort() })).toMatchObject({ acquired: true });
  });

  it('takes a CallAbort (what a stream passes) as an AbortSignal: aborted waiters leave, listeners do not pile up', async () => {
    const gate = new ConnectionGate(1);
    await gate.acquire({ timeoutMs: 10 });
    const abort = new CallAbort();
    const waiting = gate.acquire({ timeoutMs: 1000, signal: abort });
    abort.abort();
    abort.abort();
    expect(await waiting).toMatchObject({ acquired: false, reason: 'aborted' });
    expect(await gate.acquire({ timeoutMs: 10, signal: abort })).toMatchObject({ acquired: false, reason: 'aborted' });
    const other = new CallAbort();
    const granted = gate.acquire({ timeoutMs: 1000, signal: other });
    gate.release();
    expect(await granted).toMatchObject({ acquired: true });
    // The granted waiter removed its listener: a later abort reaches nobody.
    expect((other as unknown as { listeners: unknown[] }).listeners).toEqual([]);
  });
});

describe('timeoutsFromEnv', () => {
  it('keeps the defaults, takes overrides, and refuses nonsense', () => {
    expect(timeoutsFromEnv({})).toEqual(DEFAULT_TIMEOUTS);
    expect(timeoutsFromEnv({ TOKENHUB_STREAM_IDLE_TIMEOUT_MS: '0', TOKENHUB_REQUEST_TIMEOUT_MS: '5000' })).toMatchObject({
      streamIdleMs: 0,
      requestMs: 5000,
      headersMs: 5000,
    });
    expect(() => timeoutsFromEnv({ TOKENHUB_HEADERS_TIMEOUT_MS: '-1' })).toThrow(/TOKENHUB_HEADERS_TIMEOUT_MS/);
    expect(() => timeoutsFromEnv({ TOKENHUB_HEADERS_TIMEOUT_MS: '1e99' })).toThrow();
  });
});
