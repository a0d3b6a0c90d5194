/** What compile() produces: the gateway's immutable config and one verdict per object. */
import type { Capability, FailureKind, Lifecycle, UpstreamProtocol } from '../schema/model-route.js';
import type { SchemaProblem } from '../schema/validate.js';
import type { ReasonCode } from './reasons.js';

export interface ObjectRef {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

export interface Verdict {
  readonly ref: ObjectRef;
  readonly generation?: number;
  readonly ready: boolean;
  readonly reason: ReasonCode;
  readonly message: string;
  /** Field-level problems for InvalidSpec. */
  readonly problems?: readonly SchemaProblem[];
  /** Values for status printer columns. */
  readonly status?: {
    readonly model?: string;
    readonly keyPrefix?: string;
    /** A key in a rotation window: the old credential's fingerprint and its deadline (RFC 3339). */
    readonly previousKeyPrefix?: string;
    readonly rotationDeadline?: string;
    readonly keys?: number;
    readonly backends?: number;
  };
}

export interface CompiledBackend {
  readonly name: string;
  /** Base URL without a trailing slash; the gateway appends /chat/completions. */
  readonly baseURL: string;
  readonly upstreamModel: string;
  /** Resolved from the credential Secret; never logged. */
  readonly apiKey?: string;
  readonly weight: number;
  readonly priority: number;
  readonly timeoutMs: number;
  readonly connection: ConnectionLimits;
}

/** Per backend: see BackendConnection in src/schema/model-route.ts. */
export interface ConnectionLimits {
  readonly maxConnections: number;
  readonly idleTimeoutMs: number;
  readonly queueTimeoutMs: number;
  readonly protocol: UpstreamProtocol;
}

export interface CompiledModel {
  readonly id: string;
  readonly route: ObjectRef;
  readonly aliases: readonly string[];
  readonly provider: string;
  readonly lifecycle: Lifecycle;
  readonly capabilities: ReadonlySet<Capability>;
  readonly limits: {
    readonly contextWindow: number;
    readonly maxInput: number;
    readonly maxOutput: number;
    readonly defaultMaxOutput: number;
    readonly maxReasoning?: number;
    /** Reasoning a thinking model may add to the answer when the request does not bound it (max_completion_tokens); 0 without `thinking`. */
    readonly reasoningAllowance: number;
    /** Largest `n`. */
    readonly maxChoices: number;
  };
  /** Non-OpenAI request fields passed through to this model's upstream. */
  readonly providerParameters: ReadonlySet<string>;
  /** Which upstream failures move on, and the attempt budget when this is the requested model. */
  readonly failover: { readonly retryOn: ReadonlySet<FailureKind>; readonly maxAttempts: number };
  /** Fleet-wide, all keys together. */
  readonly rateLimits: RateLimitPair;
  /** Micro-units of the currency per million tokens. */
  readonly pricing: { readonly currency: string; readonly input: number; readonly output: number; readonly cachedInput: number };
  /** Sorted by priority; weight splits within a priority. */
  readonly backends: readonly CompiledBackend[];
  /** Route's default fallback chain, resolved to model ids, transitively, without the model itself. */
  readonly fallbackChain: readonly string[];
}

export interface RateLimitPair {
  readonly rpm?: number;
  readonly tpm?: number;
}

export interface PeriodLimits {
  readonly day?: number;
  readonly month?: number;
  readonly total?: number;
}

export interface EffectiveLimits {
  /** Per key, all models together. */
  readonly key: RateLimitPair;
  /** Per key and model id (only models with a limit appear). */
  readonly perModel: ReadonlyMap<string, RateLimitPair>;
  readonly budgets: { readonly tokens: PeriodLimits; readonly costNanos: PeriodLimits };
  /** Requests in flight at once per gateway pod (QuotaPolicy concurrency.maxInFlight); none: no limit. */
  readonly maxInFlight?: number;
}

export interface CompiledKey {
  /** `namespace/name`: the stable id used in metrics, logs and usage; never the secret. */
  readonly id: string;
  readonly ref: ObjectRef;
  readonly hash: string;
  readonly fingerprint: string;
  /** spec.owner and spec.displayName, shown to the key's holder (GET /key). */
  readonly owner?: string;
  readonly displayName?: string;
  readonly allowedModels: ReadonlySet<string>;
  readonly disabled: boolean;
  /** Epoch ms, checked on every request (the config may outlive the expiry). */
  readonly expiresAt?: number;
  /**
   * Set on the config entry of a previous credential (a rotation window): epoch ms from which
   * this credential is refused, checked on every request. The key itself (id, limits) is shared.
   */
  readonly credentialNotAfter?: number;
  readonly policies: readonly string[];
  /** What is enforced: the strictest of the key's Enforce policies. */
  readonly limits: EffectiveLimits;
  /** The key's Shadow policies: evaluated and reported, never enforced. */
  readonly shadow?: { readonly policies: readonly string[]; readonly limits: EffectiveLimits };
}

export interface GatewayConfig {
  /** Content hash of everything compiled: equal configs have equal revisions. */
  readonly revision: string;
  /** By model id and by alias. */
  readonly models: ReadonlyMap<string, CompiledModel>;
  /** Model ids, sorted. */
  readonly modelIds: readonly string[];
  /** By key hash (`sha256:<hex>`). Disabled and expired keys are kept so the 401 can say why. */
  readonly keys: ReadonlyMap<string, CompiledKey>;
}

export interface CompileResult {
  readonly config: GatewayConfig;
  readonly verdicts: readonly Verdict[];
}

/** A Secret as compile needs it: string values, already decoded from base64. */
export interface SecretInput {
  readonly namespace: string;
  readonly name: string;
  readonly data: Readonly<Record<string, string>>;
  /** Only a Secret labelled CREDENTIAL_LABEL="true" may be referenced (its owner's consent). */
  readonly labels?: Readonly<Record<string, string>>;
}

export interface CompileInput {
  /** Raw objects of the three kinds, as read from files or the API server. */
  readonly objects: readonly unknown[];
  readonly secrets: readonly SecretInput[];
}

export interface CompileOptions {
  readonly now: Date;
  /** Namespace for objects that carry none (files). */
  readonly defaultNamespace?: string;
}
