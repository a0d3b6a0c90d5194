/**
 * Model patterns in allowedModels and modelRateLimits: `*` any run, `?` one character.
 *
 * Matched by a two-pointer scan that never backtracks further than the last `*` (O(pattern ×
 * name) at worst), not by a RegExp: `.*.*.*…X` in V8's backtracking engine took seconds per
 * model id and froze every compile (issue #11). Patterns are tenant input; this must stay cheap.
 */

/** True when `name` matches `pattern` as a whole. */
export function matchGlob(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  let starP = -1;
  let starN = 0;
  while (n < name.length) {
    const c = pattern[p];
    if (c === '*') {
      starP = p++;
      starN = n;
    } else if (c !== undefined && (c === '?' || c === name[n])) {
      p++;
      n++;
    } else if (starP >= 0) {
      // Let the last star swallow one more character and retry from just after it.
      p = starP + 1;
      n = ++starN;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

/** True when any pattern matches any of the names (a model's id or one of its aliases). */
export function matchesAny(patterns: readonly string[], names: readonly string[]): boolean {
  return patterns.some((p) => names.some((n) => matchGlob(p, n)));
}

interface Named {
  readonly id: string;
  readonly aliases: readonly string[];
}

/**
 * The models each distinct pattern selects, computed once per pattern per compile: 20k keys
 * sharing a handful of patterns cost a handful of scans, not keys × policies × models.
 */
export class PatternIndex<M extends Named> {
  private readonly cache = new Map<string, ReadonlySet<M>>();

  constructor(private readonly models: readonly M[]) {}

  /** Models whose id or an alias the pattern matches. */
  select(pattern: string): ReadonlySet<M> {
    let hit = this.cache.get(pattern);
    if (hit === undefined) {
      hit = new Set(this.models.filter((m) => matchGlob(pattern, m.id) || m.aliases.some((a) => matchGlob(pattern, a))));
      this.cache.set(pattern, hit);
    }
    return hit;
  }

  /** True when the pattern selects the model. */
  matches(pattern: string, model: M): boolean {
    return this.select(pattern).has(model);
  }
}
