/**
 * The limiter/usage store interface. The gateway reserves before the upstream call (admit) and
 * reconciles after it (settle). Implementations: memory-store.ts (one instance) and
 * redis-store.ts (a fleet). Both run the same maths (gcra.ts) atomically per call.
 */
import type { Period } from './periods.js';

export type RateUnit = 'requests' | 'tokens';
/** key: all of a key's models; key-model: one key and model; model: all keys, fleet-wide. */
export type RateScope = 'key' | 'key-model' | 'model';

export interface RateCheck {
  /** Counter id; ids of one key share a `{hash tag}` (see plan.ts). */
  readonly id: string;
  readonly scope: RateScope;
  readonly unit: RateUnit;
  /** Per minute. */
  readonly limit: number;
  /** Units this request reserves (1 request, or estimated tokens). */
  readonly cost: number;
}

export interface BudgetCheck {
  readonly id: string;
  readonly unit: 'tokens' | 'cost';
  readonly period: Period;
  /** Tokens, or nano-units of currency. */
  readonly limit: number;
  readonly cost: number;
  /** Counter expiry; none for a total credit. */
  readonly ttlSeconds?: number;
}

export interface AdmitRequest {
  readonly requestId: string;
  readonly keyId: string;
  readonly rates: readonly RateCheck[];
  readonly budgets: readonly BudgetCheck[];
}

export interface RateState {
  readonly check: RateCheck;
  readonly remaining: number;
  readonly resetMs: number;
}

export type Denial =
  | { readonly kind: 'rate'; readonly check: RateCheck; readonly retryAfterMs: number }
  | { readonly kind: 'budget'; readonly check: BudgetCheck; readonly used: number };

/** All-or-nothing: when denied, nothing was reserved. */
export type AdmitResult =
  { readonly allowed: true; readonly rates: readonly RateState[] } | { readonly allowed: false; readonly denial: Denial; readonly rates: readonly RateState[] };

export interface UsageRecord {
  readonly requestId: string;
  readonly keyId: string;
  /** The model that answered (a fallback bills the fallback model). */
  readonly model: string;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly costNanos: number;
  /** Epoch ms. */
  readonly at: number;
  /** The upstream sent no usage: the counts are the gateway's estimate (see proxy/billing.ts). */
  readonly estimated?: boolean;
}

export interface Settlement {
  readonly reservation: AdmitRequest;
  /** What the attempt is charged; zero for one never sent or refused outright. */
  readonly actual: { readonly tokens: number; readonly costNanos: number };
  /**
   * An attempt whose request never left the gateway (no connection, a body it could not send,
   * a client gone before the call): the key's request counters are refunded too; the model's
   * fleet-wide one keeps the attempt. A sent attempt always keeps its request.
   */
  readonly failedAttempt?: boolean;
  /** Recorded once per reservation (replays are no-ops). Absent when nothing is charged. */
  readonly usage?: UsageRecord;
  /**
   * Whether this store holds the reservation. Absent or true: it does (its admit answered).
   * false: it never did (a request admitted by a fallback store, charged here in full).
   * 'unknown': the admit's reply was lost (Redis may have applied it or not), so the settlement
   * applies only where the store finds that admit's mark; see redis-store.ts. A store that
   * cannot lose a reply (memory) never sees 'unknown'.
   */
  readonly reserved?: boolean | 'unknown';
}

export interface UsageRow {
  readonly keyId: string;
  readonly model: string;
  readonly requests: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly costNanos: number;
}

export interface LimitStore {
  readonly name: string;
  admit(req: AdmitRequest, now: number): Promise<AdmitResult>;
  settle(s: Settlement, now: number): Promise<void>;
  /** Usage per key and model for a period id (`d2026-11-28`, `m2026-11`, `total`). */
  usage(query: { periodId: string; keyId?: string }): Promise<UsageRow[]>;
  /**
   * Read-only: what each rate counter would still admit now and when it is full again, as
   * admit would report it, changing nothing (a key holder's `GET /key`).
   */
  peek(rates: readonly RateCheck[], now: number): Promise<RateState[]>;
  /** What a budget counter holds now (tokens or nanos), for status and `tokenhub usage`. */
  budgetUsed(id: string): Promise<number>;
  /** Lowers a budget counter (a recharge of a total credit). */
  credit(id: string, amount: number): Promise<void>;
  close(): Promise<void>;
}
