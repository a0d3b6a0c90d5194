import { afterEach, describe, expect, it, vi } from 'vitest';
import { LineBatcher, type LineSink } from '../../src/gateway/line-batcher.js';

function sink(): LineSink & { writes: string[]; chunks: Buffer[]; syncs: number } {
  const s = {
    writes: [] as string[],
    chunks: [] as Buffer[],
    syncs: 0,
    write(chunk: Buffer): boolean {
      s.writes.push(chunk.toString('utf8'));
      s.chunks.push(chunk);
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

  it('hands lines on in order, one write per batch of at least minBytes', () => {
    const out = sink();
    const b = new LineBatcher(out, { minBytes: 10, flushMs: 60_000 });
    for (const line of ['aaaa\n', 'bbbb\n', 'cc\n', 'dddddddddddd\n', 'e\n']) b.write(line);
    expect(out.writes).toEqual(['aaaa\nbbbb\n', 'cc\ndddddddddddd\n']);
    b.close();
    expect(out.writes).toEqual(['aaaa\nbbbb\n', 'cc\ndddddddddddd\n', 'e\n']);
  });

  it('a small batch goes after flushMs; flushSync hands on the rest and flushes the sink', () => {
    vi.useFakeTimers();
    const out = sink();
    const b = new LineBatcher(out, { minBytes: 1000, flushMs: 250 });
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

  it('encodes multi-byte text exactly; a line longer than a batch goes alone, in order; a handed-on batch is never overwritten', () => {
    const out = sink();
    const b = new LineBatcher(out, { minBytes: 8, flushMs: 60_000 });
    b.write('é€\n');
    b.write('😀😀😀😀😀😀😀😀\n');
    b.write('x\n');
    b.write('y\n');
    b.close();
    expect(out.writes).toEqual(['é€\n', '😀😀😀😀😀😀😀😀\n', 'x\ny\n']);
    expect(out.chunks.map((c) => c.toString('utf8'))).toEqual(out.writes);
    expect(Buffer.concat(out.chunks).toString('utf8')).toBe('é€\n😀😀😀😀😀😀😀😀\nx\ny\n');
  });
});
