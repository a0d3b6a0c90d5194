import { afterEach, describe, expect, it, vi } from 'vitest';
import { LineBatcher, type LineSink } from '../../src/gateway/line-batcher.js';

function sink(): LineSink & { writes: string[]; syncs: number } {
  const s = {
    writes: [] as string[],
    syncs: 0,
    write(text: string): boolean {
      s.writes.push(text);
      return true;
    },
    flushSync(): void {
      s.syncs++;
    },
  };
  return s;
}

describe('LineBatcher', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('hands lines on in order, one write per batch of at least minChars', () => {
    const out = sink();
    const b = new LineBatcher(out, { minChars: 10, flushMs: 60_000 });
    for (const line of ['aaaa\n', 'bbbb\n', 'cc\n', 'dddddddddddd\n', 'e\n']) b.write(line);
    expect(out.writes).toEqual(['aaaa\nbbbb\n', 'cc\ndddddddddddd\n']);
    b.close();
    expect(out.writes).toEqual(['aaaa\nbbbb\n', 'cc\ndddddddddddd\n', 'e\n']);
  });

  it('a small batch goes after flushMs; flushSync hands on the rest and flushes the sink', () => {
    vi.useFakeTimers();
    const out = sink();
    const b = new LineBatcher(out, { minChars: 1000, flushMs: 250 });
    b.write('one\n');
    b.write('two\n');
    expect(out.writes).toEqual([]);
    vi.advanceTimersByTime(250);
    expect(out.writes).toEqual(['one\ntwo\n']);
    b.write('three\n');
    b.flushSync();
    expect(out.writes).toEqual(['one\ntwo\n', 'three\n']);
    expect(out.syncs).toBe(1);
    vi.advanceTimersByTime(1000);
    expect(out.writes).toHaveLength(2);
    b.close();
  });
});
