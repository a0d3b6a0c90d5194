/**
 * What changed between two compiled key maps: the compile worker sends the serving thread only
 * these, not every key of every compile (at 10k keys, fifty messages of structured clone per
 * change, most of an apply's latency; issue #13). Pure.
 */
import { keyText } from './compile.js';
import type { CompiledKey } from './types.js';

export interface KeyDiff {
  /** Keys that are new or whose content differs, by key hash. */
  readonly changed: [string, CompiledKey][];
  /** Key hashes in `previous` that `next` no longer has. */
  readonly removed: string[];
}

export function diffKeys(previous: ReadonlyMap<string, CompiledKey>, next: ReadonlyMap<string, CompiledKey>): KeyDiff {
  const changed: [string, CompiledKey][] = [];
  for (const [hash, key] of next) {
    const before = previous.get(hash);
    // The revision's own per-key text: what makes two configs' revisions differ makes two keys differ.
    if (before === undefined || keyText(before) !== keyText(key)) changed.push([hash, key]);
  }
  const removed: string[] = [];
  for (const hash of previous.keys()) if (!next.has(hash)) removed.push(hash);
  return { changed, removed };
}

/** `previous` with the diff applied, as one plain Map (unchanged keys keep their objects): the reference for what the serving thread's sharded map holds (gateway/config/key-shards.ts). */
export function applyKeyDiff(previous: ReadonlyMap<string, CompiledKey>, diff: KeyDiff): Map<string, CompiledKey> {
  const out = new Map(previous);
  for (const hash of diff.removed) out.delete(hash);
  for (const [hash, key] of diff.changed) out.set(hash, key);
  return out;
}
