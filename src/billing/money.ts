/**
 * Money without floating point. Prices and budgets are written as decimal strings in the
 * currency's units ("0.80"); inside, prices are integer micro-units per million tokens and
 * costs are integer nano-units (1e-9 of the currency), so sums never drift.
 */

const DECIMAL = /^(\d{1,12})(?:\.(\d{1,6}))?$/;

/** "0.80" → 800000 (micro-units). Throws on anything else; schemas guarantee the shape. */
export function parseMicros(decimal: string): number {
  const m = DECIMAL.exec(decimal);
  if (m === null) throw new RangeError(`not a decimal amount: ${JSON.stringify(decimal)}`);
  const whole = Number(m[1]);
  const frac = Number((m[2] ?? '').padEnd(6, '0'));
  return whole * 1_000_000 + frac;
}

/** Budgets are compared with costs, which are in nano-units. */
export function parseNanos(decimal: string): number {
  return parseMicros(decimal) * 1000;
}

/**
 * Cost in nano-units of `tokens` at `microsPerMillion`: tokens × price / 1e6 micro
 * = tokens × price / 1000 nano. Rounded up per request so a request is never free.
 */
export function costNanos(tokens: number, microsPerMillion: number): number {
  if (tokens <= 0 || microsPerMillion <= 0) return 0;
  return Math.ceil((tokens * microsPerMillion) / 1000);
}

/** 1234567000 nano → "1.234567" (currency units, trailing zeros trimmed to 2 decimals min). */
export function formatNanos(nanos: number): string {
  const sign = nanos < 0 ? '-' : '';
  const abs = Math.abs(Math.round(nanos));
  const whole = Math.floor(abs / 1e9);
  // Trailing zeros cut by arithmetic, not a regex: this formats every access log line's cost.
  let frac = abs % 1e9;
  let digits = 9;
  while (digits > 2 && frac % 10 === 0) {
    frac /= 10;
    digits--;
  }
  return `${sign}${whole}.${String(frac).padStart(digits, '0')}`;
}
