/** QuotaPolicy: RPM/TPM per key and per key×model, token and cost budgets per period. */
import {
  type Condition,
  type CrossFieldRule,
  type JsonSchema,
  type ObjectMeta,
  type RateLimits,
  conditionsSchema,
  decimalString,
  modelPattern,
  positiveInt,
  rateLimits,
} from './common.js';

export interface PeriodBudget<T> {
  day?: T;
  month?: T;
  /** A credit for the key's whole life; `tokenhub usage recharge` raises it. */
  total?: T;
}

export interface ModelRateLimit extends RateLimits {
  /** Model id, alias or glob. */
  model: string;
}

export interface QuotaPolicySpec {
  /** Applies to every ApiKey of the namespace that names no policy. At most one per namespace. */
  default?: boolean;
  /**
   * A platform ceiling: applies to every ApiKey in every namespace, on top of the key's own
   * policies (the strictest limit wins). Honoured only in a platform namespace.
   */
  ceiling?: boolean;
  /**
   * Enforce (default), or Shadow: evaluated and counted on counters of its own (metric, access
   * log, `x-tokenhub-shadow-limited` header), never refusing a request. For trying a new quota.
   */
  mode?: 'Enforce' | 'Shadow';
  /** Per key, across all its models. */
  rateLimits?: RateLimits;
  /** Per key and model. */
  modelRateLimits?: ModelRateLimit[];
  budgets?: {
    tokens?: PeriodBudget<number>;
    /** Decimal amounts in the models' pricing currency. */
    cost?: PeriodBudget<string>;
  };
  /** Requests of one key in flight at once, per gateway pod (streams count until they end). */
  concurrency?: { maxInFlight?: number };
}

export interface QuotaPolicyStatus {
  conditions?: Condition[];
  observedGeneration?: number;
  ready?: string;
  keys?: number;
}

export interface QuotaPolicy {
  apiVersion: string;
  kind: 'QuotaPolicy';
  metadata: ObjectMeta;
  spec: QuotaPolicySpec;
  status?: QuotaPolicyStatus;
}

/** day, month and total of one budget, each described in its unit. */
const periodBudget = (schema: JsonSchema, unit: string): JsonSchema => ({
  type: 'object',
  additionalProperties: false,
  properties: {
    day: { ...schema, description: `${unit} per key per calendar day (UTC); a request that does not fit is refused (429 insufficient_quota).` },
    month: { ...schema, description: `${unit} per key per calendar month (UTC); a request that does not fit is refused (429 insufficient_quota).` },
    total: {
      ...schema,
      description: `${unit} per key over its whole life, a credit that \`tokenhub usage recharge\` raises; never resets.`,
    },
  },
});

const tokenBudget = periodBudget(positiveInt, 'Input plus output tokens');
const costBudget = periodBudget(decimalString, 'Spend, a decimal in the pricing currency,');

export const quotaPolicySpecSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'Limits for the ApiKeys that name this policy: rates, budgets and concurrency. A key under several policies gets the strictest of each.',
  properties: {
    default: { type: 'boolean', default: false, description: 'Use for keys that name no policy.' },
    ceiling: {
      type: 'boolean',
      default: false,
      description: 'Platform ceiling: applies to every ApiKey in every namespace on top of its own policies (strictest wins). Only in a platform namespace.',
    },
    mode: {
      type: 'string',
      enum: ['Enforce', 'Shadow'],
      default: 'Enforce',
      description: 'Shadow: evaluated and reported (metric, access log, x-tokenhub-shadow-limited header), never enforced.',
    },
    rateLimits: { ...rateLimits, description: 'Per key, across all its models.' },
    modelRateLimits: {
      type: 'array',
      maxItems: 64,
      description: 'Per key and model; the first entry whose model matches applies.',
      items: {
        type: 'object',
        required: ['model'],
        additionalProperties: false,
        properties: {
          model: modelPattern,
          rpm: { ...positiveInt, description: 'Requests per minute of one key to this model.' },
          tpm: { ...positiveInt, description: 'Tokens (input + output) per minute of one key to this model.' },
        },
      },
    },
    budgets: {
      type: 'object',
      additionalProperties: false,
      description: 'Token and cost budgets per key, per period; the gateway reserves before it forwards and settles on the real usage.',
      properties: {
        tokens: { ...tokenBudget, description: 'Input plus output tokens per period (UTC).' },
        cost: { ...costBudget, description: 'Spend per period (UTC), in the pricing currency.' },
      },
    },
    concurrency: {
      type: 'object',
      additionalProperties: false,
      description: 'How many requests of one key may be in flight at once.',
      properties: {
        maxInFlight: {
          type: 'integer',
          minimum: 1,
          maximum: 100000,
          description: 'Requests of one key in flight at once, per gateway pod; streams count until they end. The strictest policy wins.',
        },
      },
    },
  },
};

export const quotaPolicyStatusSchema: JsonSchema = {
  type: 'object',
  description: 'Observed state, written by the operator; do not edit.',
  properties: {
    conditions: conditionsSchema,
    observedGeneration: { type: 'integer', format: 'int64', description: 'metadata.generation this status was computed from.' },
    ready: { type: 'string', description: 'Ready condition status (True or False), for kubectl get.' },
    keys: { type: 'integer', description: 'ApiKeys this policy applies to.' },
  },
};

export const modelRateLimitRules: readonly CrossFieldRule<ModelRateLimit>[] = [
  {
    rule: 'has(self.rpm) || has(self.tpm)',
    message: 'set rpm, tpm or both',
    field: '',
  },
];
