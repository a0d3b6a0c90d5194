/** Model patterns in allowedModels and modelRateLimits: `*` any run, `?` one character. */

export function globToRegExp(glob: string): RegExp {
  const body = glob
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\/-]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`);
}

/** True when any pattern matches any of the names (a model's id or one of its aliases). */
export function matchesAny(patterns: readonly string[], names: readonly string[]): boolean {
  return patterns.some((p) => {
    const re = globToRegExp(p);
    return names.some((n) => re.test(n));
  });
}
