/**
 * The serving thread's keys by hash, as many small Maps chosen by a hash of the key instead of
 * one big one. A recompile that changes a few keys then copies only the shards they fall in and
 * shares the others with the config before it; one Map of 100k keys had to be copied whole, and
 * its rehash near 64k entries alone held the event loop for ~10 ms (issue #13).
 *
 * A KeyShards never changes once built: a request reads its config once and sees one state.
 * Changes go through a KeyShardsBuilder, which copies a shard the first time it writes to it
 * (copy-on-write) and counts the entries it touched (what a change cost).
 */

/** 256 shards: ~400 keys each at 100k, so copying one is a few µs and no rehash is long. */
const SHARDS = 256;

/** The shard of a key: a 31-multiplier string hash (any string works; key hashes are hex). */
function shardOf(key: string): number {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) | 0;
  return h & (SHARDS - 1);
}

export class KeyShards<V> implements ReadonlyMap<string, V> {
  static empty<V>(): KeyShards<V> {
    return new KeyShards<V>(
      Array.from({ length: SHARDS }, () => new Map<string, V>()),
      0,
    );
  }

  /** Built once by a builder; never written to afterwards. */
  private constructor(
    private readonly shards: readonly ReadonlyMap<string, V>[],
    readonly size: number,
  ) {}

  /** A builder that starts from this map's entries (this map stays as it is). */
  edit(): KeyShardsBuilder<V> {
    return new KeyShardsBuilder(this.shards, this.size, (shards, size) => new KeyShards(shards, size));
  }

  get(key: string): V | undefined {
    return this.shards[shardOf(key)]?.get(key);
  }

  has(key: string): boolean {
    return this.shards[shardOf(key)]?.has(key) ?? false;
  }

  forEach(fn: (value: V, key: string, map: ReadonlyMap<string, V>) => void, thisArg?: unknown): void {
    for (const [k, v] of this) fn.call(thisArg, v, k, this);
  }

  *entries(): MapIterator<[string, V]> {
    for (const shard of this.shards) yield* shard.entries();
  }

  *keys(): MapIterator<string> {
    for (const shard of this.shards) yield* shard.keys();
  }

  *values(): MapIterator<V> {
    for (const shard of this.shards) yield* shard.values();
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }

  get [Symbol.toStringTag](): string {
    return 'KeyShards';
  }
}

export class KeyShardsBuilder<V> {
  private readonly shards: ReadonlyMap<string, V>[];
  /** Shards this builder copied (its own to write); the others are still shared. */
  private readonly own = new Set<number>();
  private built = false;
  /** Entries copied or written so far. */
  work = 0;

  constructor(
    from: readonly ReadonlyMap<string, V>[],
    private size: number,
    private readonly make: (shards: readonly ReadonlyMap<string, V>[], size: number) => KeyShards<V>,
  ) {
    this.shards = [...from];
  }

  set(key: string, value: V): void {
    const shard = this.writable(key);
    if (!shard.has(key)) this.size++;
    shard.set(key, value);
  }

  delete(key: string): void {
    const i = shardOf(key);
    if (!this.shards[i]?.has(key)) return;
    this.writable(key).delete(key);
    this.size--;
  }

  /** The finished map; the builder may not be used after. */
  build(): KeyShards<V> {
    if (this.built) throw new Error('KeyShardsBuilder.build called twice');
    this.built = true;
    return this.make(this.shards, this.size);
  }

  private writable(key: string): Map<string, V> {
    if (this.built) throw new Error('KeyShardsBuilder used after build');
    const i = shardOf(key);
    const shard = this.shards[i] ?? new Map<string, V>();
    this.work++;
    if (this.own.has(i)) return shard as Map<string, V>;
    const copy = new Map(shard);
    this.work += copy.size;
    this.shards[i] = copy;
    this.own.add(i);
    return copy;
  }
}
