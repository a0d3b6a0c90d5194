/** ModelRoute: one public model id, its limits, price and the upstream backends serving it. */
import {
  type Condition,
  type CrossFieldRule,
  type JsonSchema,
  type ObjectMeta,
  type RateLimits,
  type SecretKeyRef,
  conditionsSchema,
  decimalString,
  dnsLabel,
  positiveInt,
  rateLimits,
  secretKeyRef,
} from './common.js';

export const CAPABILITIES = ['thinking', 'text', 'multimodal', 'tools', 'structuredOutput', 'visualGrounding', 'gui', 'code'] as const;
export type Capability = (typeof CAPABILITIES)[number];

export const LIFECYCLES = ['latest', 'legacy', 'deprecated'] as const;
export type Lifecycle = (typeof LIFECYCLES)[number];

/** A model id as clients send it: letters, digits and . _ - / : (no globs). */
const modelId: JsonSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 128,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._:/-]*$',
};

export interface TokenLimits {
  contextWindow: number;
  maxInput: number;
  maxOutput: number;
  defaultMaxOutput: number;
  maxReasoning?: number;
  /** Reasoning allowed on top of the answer when a request does not bound it; see DEFAULT_REASONING_ALLOWANCE. */
  reasoningAllowance?: number;
  /** Largest `n` (choices per request); default 1. */
  maxChoices?: number;
}

/** Upstream failures a route may move on from (next backend, then fallback model). */
export const FAILURE_KINDS = ['connect', 'overloaded', 'serverError', 'timeout'] as const;
export type FailureKind = (typeof FAILURE_KINDS)[number];

export interface Failover {
  retryOn?: FailureKind[];
  maxAttempts?: number;
}

export interface Pricing {
  currency?: string;
  inputPerMillion: string;
  outputPerMillion: string;
  cachedInputPerMillion?: string;
}

export interface Backend {
  name: string;
  baseURL: string;
  upstreamModel?: string;
  credentialSecretRef?: SecretKeyRef;
  weight?: number;
  priority?: number;
  timeoutSeconds?: number;
  connection?: BackendConnection;
}

/** How the gateway connects to one backend: its share of sockets, and how long a request may wait for one. */
export interface BackendConnection {
  /** Requests in flight to this backend at once (HTTP/1.1: one connection each; HTTP/2: up to 100 share one). */
  maxConnections?: number;
  /** Keep-alive of an idle upstream connection. */
  idleTimeoutSeconds?: number;
  /** Longest wait for a free connection; then a 503 that falls back. */
  queueTimeoutMs?: number;
  /** The HTTP version spoken to the backend; see UPSTREAM_PROTOCOLS. */
  protocol?: UpstreamProtocol;
}

/**
 * auto: HTTP/2 over TLS when the upstream takes it (ALPN), HTTP/1.1 otherwise and on http://.
 * http1: HTTP/1.1 only. h2c: cleartext HTTP/2 with prior knowledge (http:// only), as in-cluster
 * vLLM, Triton and Envoy upstreams serve it: many streams on one connection.
 */
export const UPSTREAM_PROTOCOLS = ['auto', 'http1', 'h2c'] as const;

/**
 * The defaults of a ModelRoute's optional fields: the schema's `default`s (what `kubectl explain`
 * and the API server show) and compile's fallbacks for a field left out, from one place.
 */
export const ROUTE_DEFAULTS = {
  provider: 'openai',
  lifecycle: 'latest',
  currency: 'USD',
  maxChoices: 1,
  retryOn: ['connect', 'overloaded', 'serverError'] as readonly FailureKind[],
  maxAttempts: 3,
} as const;

export const BACKEND_DEFAULTS = {
  weight: 100,
  priority: 0,
  timeoutSeconds: 120,
  maxConnections: 4096,
  idleTimeoutSeconds: 60,
  queueTimeoutMs: 2000,
  protocol: 'auto',
} as const satisfies { protocol: UpstreamProtocol } & Record<string, unknown>;
export type UpstreamProtocol = (typeof UPSTREAM_PROTOCOLS)[number];

export interface ModelRouteSpec {
  model: string;
  aliases?: string[];
  provider?: string;
  lifecycle?: Lifecycle;
  capabilities: Capability[];
  limits: TokenLimits;
  rateLimits?: RateLimits;
  pricing?: Pricing;
  backends: Backend[];
  fallbackModels?: string[];
  providerParameters?: string[];
  failover?: Failover;
  /** Namespaces whose ApiKeys may call this model; omitted: every namespace TokenHub serves. */
  publishTo?: string[];
}

export interface ModelRouteStatus {
  conditions?: Condition[];
  observedGeneration?: number;
  model?: string;
  ready?: string;
  backends?: number;
}

export interface ModelRoute {
  apiVersion: string;
  kind: 'ModelRoute';
  metadata: ObjectMeta;
  spec: ModelRouteSpec;
  status?: ModelRouteStatus;
}

const tokenLimits: JsonSchema = {
  type: 'object',
  required: ['contextWindow', 'maxInput', 'maxOutput'],
  additionalProperties: false,
  description:
    "The model's token limits: the gateway refuses (400) a request that exceeds them before it reaches an upstream, " +
    'and reserves quota from them. maxInput and maxOutput must not exceed contextWindow.',
  properties: {
    contextWindow: { ...positiveInt, description: 'Input plus output tokens the model can hold.' },
    maxInput: { ...positiveInt, description: 'Largest prompt, in tokens.' },
    maxOutput: { ...positiveInt, description: 'Largest max_tokens a request may ask for.' },
    defaultMaxOutput: {
      ...positiveInt,
      description: 'max_tokens used when a request sets none; default 4096 or maxOutput if smaller.',
    },
    maxReasoning: { ...positiveInt, description: 'Largest chain of thought, in tokens.' },
    reasoningAllowance: {
      ...positiveInt,
      description:
        'Reasoning tokens a thinking model may spend on top of the answer when the request does not send max_completion_tokens: ' +
        'the gateway forwards max_completion_tokens = max_tokens + this and reserves it. Default min(16384, maxReasoning, else maxOutput).',
    },
    maxChoices: { type: 'integer', minimum: 1, maximum: 128, default: ROUTE_DEFAULTS.maxChoices, description: 'Largest `n` a request may ask for.' },
  },
};

const failover: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'When and how often a failed upstream attempt moves on to the next backend, then to fallbackModels.',
  properties: {
    // Not `on`: YAML 1.1 readers (kubectl, Helm) turn an unquoted `on` key into `true`.
    retryOn: {
      type: 'array',
      maxItems: 4,
      items: { type: 'string', enum: [...FAILURE_KINDS] },
      'x-kubernetes-list-type': 'set',
      description:
        'Failures that move on to the next backend or fallback model: connect (nothing was sent), overloaded (upstream 429/503), ' +
        'serverError (other 5xx, a broken or unreadable answer), timeout (after the request was sent). Default [connect, overloaded, serverError].',
    },
    maxAttempts: {
      type: 'integer',
      minimum: 1,
      maximum: 8,
      default: ROUTE_DEFAULTS.maxAttempts,
      description: 'Upstream attempts per request, across backends and fallback models (this route as the requested model).',
    },
  },
};

/** A top-level request field name (OpenAI style: lower case, digits, underscores). */
const paramName: JsonSchema = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[a-z][a-z0-9_]*$' };

const pricing: JsonSchema = {
  type: 'object',
  required: ['inputPerMillion', 'outputPerMillion'],
  additionalProperties: false,
  description:
    'Prices the gateway charges per request against cost budgets and reports in usage; decimal strings, at most 6 decimals. ' +
    'Omitted: the model costs nothing.',
  properties: {
    currency: { type: 'string', pattern: '^[A-Z]{3}$', default: ROUTE_DEFAULTS.currency, description: 'ISO 4217 code of the prices; default USD.' },
    inputPerMillion: { ...decimalString, description: 'Price of one million input tokens.' },
    outputPerMillion: { ...decimalString, description: 'Price of one million output tokens.' },
    cachedInputPerMillion: { ...decimalString, description: 'Price of one million cached input tokens.' },
  },
};

const backend: JsonSchema = {
  type: 'object',
  required: ['name', 'baseURL'],
  additionalProperties: false,
  properties: {
    name: {
      type: 'string',
      minLength: 1,
      maxLength: 63,
      pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
      description: 'Backend name, unique within the route (a DNS label); used in metrics, logs and status.',
    },
    baseURL: {
      type: 'string',
      maxLength: 2048,
      pattern: '^https?://[^\\s]+$',
      description: 'OpenAI-compatible base URL, e.g. https://host/api/v1 (…/chat/completions is appended).',
    },
    upstreamModel: { ...modelId, description: 'Model name sent upstream; defaults to spec.model.' },
    credentialSecretRef: { ...secretKeyRef, description: 'Secret key holding the upstream API key.' },
    weight: {
      type: 'integer',
      minimum: 0,
      maximum: 1000,
      default: BACKEND_DEFAULTS.weight,
      description: `Share of traffic among backends of the same priority (0 to 1000, default ${BACKEND_DEFAULTS.weight}); 0 takes none.`,
    },
    priority: {
      type: 'integer',
      minimum: 0,
      maximum: 100,
      default: BACKEND_DEFAULTS.priority,
      description: 'Lower is tried first; weight splits traffic within a priority.',
    },
    timeoutSeconds: {
      type: 'integer',
      minimum: 1,
      maximum: 3600,
      default: BACKEND_DEFAULTS.timeoutSeconds,
      description: `Seconds to wait for the upstream response headers, and at most between two chunks of its body (1 to 3600, default ${BACKEND_DEFAULTS.timeoutSeconds}); then a timeout failure.`,
    },
    connection: {
      type: 'object',
      additionalProperties: false,
      description: 'Connection capacity to this backend, sized for long streams.',
      properties: {
        maxConnections: {
          type: 'integer',
          minimum: 1,
          maximum: 65536,
          default: BACKEND_DEFAULTS.maxConnections,
          description: 'Requests in flight to this backend at once (HTTP/1.1: a connection each; HTTP/2: up to 100 share one).',
        },
        idleTimeoutSeconds: {
          type: 'integer',
          minimum: 1,
          maximum: 3600,
          default: BACKEND_DEFAULTS.idleTimeoutSeconds,
          description: 'Keep-alive of an idle upstream connection.',
        },
        queueTimeoutMs: {
          type: 'integer',
          minimum: 0,
          maximum: 600000,
          default: BACKEND_DEFAULTS.queueTimeoutMs,
          description: 'Longest wait for a free connection before a 503 (and fallback).',
        },
        protocol: {
          type: 'string',
          enum: [...UPSTREAM_PROTOCOLS],
          default: BACKEND_DEFAULTS.protocol,
          description:
            'auto (default): HTTP/2 over TLS when the upstream offers it (ALPN), else HTTP/1.1; HTTP/1.1 on http://. ' +
            'http1: HTTP/1.1 only. h2c: cleartext HTTP/2 with prior knowledge, for http:// upstreams that serve it (vLLM, Triton, Envoy): up to 100 streams per connection, fewer if the upstream says so; not through an egress proxy (HTTP/1.1 there).',
        },
      },
    },
  },
};

export const modelRouteSpecSchema: JsonSchema = {
  type: 'object',
  required: ['model', 'capabilities', 'limits', 'backends'],
  additionalProperties: false,
  description: 'A model clients can call: its id, limits, price, upstream backends and failover.',
  properties: {
    model: { ...modelId, description: 'Public model id clients send in "model".' },
    aliases: {
      type: 'array',
      maxItems: 32,
      items: modelId,
      'x-kubernetes-list-type': 'set',
      description: 'Other model ids clients may send for this model (at most 32, none equal to model).',
    },
    provider: {
      type: 'string',
      maxLength: 63,
      default: ROUTE_DEFAULTS.provider,
      description: 'Provider name reported as gen_ai.provider.name.',
    },
    lifecycle: {
      type: 'string',
      enum: [...LIFECYCLES],
      default: ROUTE_DEFAULTS.lifecycle,
      description: 'latest (default), legacy or deprecated; listed in /v1/models for clients to see.',
    },
    capabilities: {
      type: 'array',
      minItems: 1,
      items: { type: 'string', enum: [...CAPABILITIES] },
      'x-kubernetes-list-type': 'set',
      description:
        'What the model can do (at least one): thinking, text, multimodal, tools, structuredOutput, visualGrounding, gui, code. ' +
        'thinking makes the gateway reserve a reasoning allowance.',
    },
    limits: tokenLimits,
    rateLimits: { ...rateLimits, description: 'Model-wide limits across the whole fleet.' },
    pricing,
    backends: {
      type: 'array',
      minItems: 1,
      maxItems: 32,
      items: backend,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      description: 'Upstreams serving this model (1 to 32, unique names): lowest priority first, weight splits traffic within a priority.',
    },
    fallbackModels: {
      type: 'array',
      maxItems: 8,
      items: modelId,
      description: 'Default fallback chain, tried in order when this model is unavailable.',
    },
    providerParameters: {
      type: 'array',
      maxItems: 32,
      items: paramName,
      'x-kubernetes-list-type': 'set',
      description:
        "Request fields outside OpenAI's chat completions API that this model's upstream accepts (e.g. Ark's `thinking`); passed through unchecked. Other unknown fields are a 400.",
    },
    failover,
    publishTo: {
      type: 'array',
      maxItems: 256,
      items: dnsLabel,
      'x-kubernetes-list-type': 'set',
      description: 'Namespaces whose ApiKeys may call this model; omitted means every namespace TokenHub serves.',
    },
  },
};

export const modelRouteStatusSchema: JsonSchema = {
  type: 'object',
  description: 'Observed state, written by the operator; do not edit.',
  properties: {
    conditions: conditionsSchema,
    observedGeneration: { type: 'integer', format: 'int64', description: 'metadata.generation this status was computed from.' },
    model: { type: 'string', description: 'The public model id in force.' },
    ready: { type: 'string', description: 'Ready condition status (True or False), for kubectl get.' },
    backends: { type: 'integer', description: 'Number of backends in force.' },
  },
};

/** Rules on spec.limits that span fields (CEL in the CRD, TypeScript offline). */
export const tokenLimitRules: readonly CrossFieldRule<TokenLimits>[] = [
  {
    rule: '!has(self.defaultMaxOutput) || self.defaultMaxOutput <= self.maxOutput',
    message: 'defaultMaxOutput must not exceed maxOutput',
    field: 'defaultMaxOutput',
  },
  {
    rule: 'self.maxInput <= self.contextWindow',
    message: 'maxInput must not exceed contextWindow',
    field: 'maxInput',
  },
  {
    rule: 'self.maxOutput <= self.contextWindow',
    message: 'maxOutput must not exceed contextWindow',
    field: 'maxOutput',
  },
  {
    rule: '!has(self.maxReasoning) || self.maxReasoning <= self.maxOutput',
    message: 'maxReasoning must not exceed maxOutput',
    field: 'maxReasoning',
  },
  {
    rule: '!has(self.reasoningAllowance) || self.reasoningAllowance <= (has(self.maxReasoning) ? self.maxReasoning : self.maxOutput)',
    message: 'reasoningAllowance must not exceed maxReasoning (or maxOutput when maxReasoning is not set)',
    field: 'reasoningAllowance',
  },
];

/** A thinking model's reasoning allowance when its route sets none: enough for most chains of thought, cheap to reserve. */
export const DEFAULT_REASONING_ALLOWANCE = 16384;

export const modelRouteSpecRules: readonly CrossFieldRule<ModelRouteSpec>[] = [
  {
    rule: '!has(self.aliases) || !self.aliases.exists(a, a == self.model)',
    message: 'an alias must differ from the model id',
    field: 'aliases',
  },
  {
    rule: '!has(self.fallbackModels) || !self.fallbackModels.exists(m, m == self.model)',
    message: 'a model cannot fall back to itself',
    field: 'fallbackModels',
  },
];

/** Rules on each backend that span fields. */
export const backendRules: readonly CrossFieldRule<Backend>[] = [
  {
    rule: "!has(self.connection) || !has(self.connection.protocol) || self.connection.protocol != 'h2c' || self.baseURL.startsWith('http://')",
    message: 'connection.protocol h2c is cleartext HTTP/2: it needs an http:// baseURL (https:// upstreams negotiate HTTP/2 with protocol auto)',
    field: 'connection.protocol',
  },
];
