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
  positiveInt,
  rateLimits,
  secretKeyRef,
} from './common.js';

export const CAPABILITIES = [
  'thinking',
  'text',
  'multimodal',
  'tools',
  'structuredOutput',
  'visualGrounding',
  'gui',
  'code',
] as const;
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
}

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
  properties: {
    contextWindow: { ...positiveInt, description: 'Input plus output tokens the model can hold.' },
    maxInput: { ...positiveInt, description: 'Largest prompt, in tokens.' },
    maxOutput: { ...positiveInt, description: 'Largest max_tokens a request may ask for.' },
    defaultMaxOutput: {
      ...positiveInt,
      description: 'max_tokens used when a request sets none; default 4096 or maxOutput if smaller.',
    },
    maxReasoning: { ...positiveInt, description: 'Largest chain of thought, in tokens.' },
  },
};

const pricing: JsonSchema = {
  type: 'object',
  required: ['inputPerMillion', 'outputPerMillion'],
  additionalProperties: false,
  properties: {
    currency: { type: 'string', pattern: '^[A-Z]{3}$', default: 'USD' },
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
    name: { type: 'string', minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
    baseURL: {
      type: 'string',
      maxLength: 2048,
      pattern: '^https?://[^\\s]+$',
      description: 'OpenAI-compatible base URL, e.g. https://host/api/v1 (…/chat/completions is appended).',
    },
    upstreamModel: { ...modelId, description: 'Model name sent upstream; defaults to spec.model.' },
    credentialSecretRef: { ...secretKeyRef, description: 'Secret key holding the upstream API key.' },
    weight: { type: 'integer', minimum: 0, maximum: 1000, default: 100 },
    priority: {
      type: 'integer',
      minimum: 0,
      maximum: 100,
      default: 0,
      description: 'Lower is tried first; weight splits traffic within a priority.',
    },
    timeoutSeconds: { type: 'integer', minimum: 1, maximum: 3600, default: 120 },
  },
};

export const modelRouteSpecSchema: JsonSchema = {
  type: 'object',
  required: ['model', 'capabilities', 'limits', 'backends'],
  additionalProperties: false,
  properties: {
    model: { ...modelId, description: 'Public model id clients send in "model".' },
    aliases: { type: 'array', maxItems: 32, items: modelId, 'x-kubernetes-list-type': 'set' },
    provider: {
      type: 'string',
      maxLength: 63,
      default: 'openai',
      description: 'Provider name reported as gen_ai.provider.name.',
    },
    lifecycle: { type: 'string', enum: [...LIFECYCLES], default: 'latest' },
    capabilities: {
      type: 'array',
      minItems: 1,
      items: { type: 'string', enum: [...CAPABILITIES] },
      'x-kubernetes-list-type': 'set',
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
    },
    fallbackModels: {
      type: 'array',
      maxItems: 8,
      items: modelId,
      description: 'Default fallback chain, tried in order when this model is unavailable.',
    },
  },
};

export const modelRouteStatusSchema: JsonSchema = {
  type: 'object',
  properties: {
    conditions: conditionsSchema,
    observedGeneration: { type: 'integer', format: 'int64' },
    model: { type: 'string' },
    ready: { type: 'string' },
    backends: { type: 'integer' },
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
];

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
