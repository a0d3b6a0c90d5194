/**
 * Shared schema fragments for the three TokenHub kinds.
 *
 * The JSON Schemas here are the single source: `tokenhub crds` turns them into CRD
 * openAPIV3Schema (src/crds/generate.ts) and ajv validates the same objects at runtime
 * (src/schema/validate.ts). Keep them structural (every node typed) so Kubernetes accepts them.
 */

export const API_GROUP = 'tokenhub.io';
export const API_VERSION = 'v1alpha1';
export const GROUP_VERSION = `${API_GROUP}/${API_VERSION}`;

/** A JSON Schema node as we write it: a plain object, serialised into CRDs as-is. */
export type JsonSchema = { readonly [keyword: string]: unknown };

/**
 * A rule that spans several fields: CEL, written once. The API server runs it
 * (`x-kubernetes-validations`) and `tokenhub validate` runs the same text offline
 * (src/schema/cel.ts); test/contracts runs each rule's cases on both.
 * `T` names the object the rule sits on, for readers; the rule text is what runs.
 */
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- T documents the site's type (see above)
export interface CrossFieldRule<T> {
  readonly rule: string;
  readonly message: string;
  /** Path of the field the message is about, relative to the object the rule sits on. */
  readonly field: string;
}

export const positiveInt: JsonSchema = { type: 'integer', minimum: 1 };
export const nonNegativeInt: JsonSchema = { type: 'integer', minimum: 0 };

/** Money as a decimal string in the currency's units, e.g. "0.80"; at most 6 decimals. */
export const decimalString: JsonSchema = {
  type: 'string',
  pattern: '^[0-9]{1,12}(\\.[0-9]{1,6})?$',
};

export const dnsLabel: JsonSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 63,
  pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
};

/** A Kubernetes object name (DNS subdomain, RFC 1123): ModelRoute, ApiKey, Secret, ServiceAccount names. */
export const dnsSubdomain = {
  type: 'string',
  minLength: 1,
  maxLength: 253,
  pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$',
} as const satisfies JsonSchema;

/** Name of a Secret in the object's namespace and the key inside it. */
export const secretKeyRef: JsonSchema = {
  type: 'object',
  required: ['name', 'key'],
  additionalProperties: false,
  properties: {
    name: {
      ...dnsSubdomain,
      description: 'Name of the Secret, in the same namespace as this object (a DNS subdomain, at most 253 characters).',
    },
    key: {
      type: 'string',
      minLength: 1,
      maxLength: 253,
      pattern: '^[-._a-zA-Z0-9]+$',
      description: 'Key inside the Secret whose value is used (letters, digits, -, _ and .).',
    },
  },
};

export interface SecretKeyRef {
  name: string;
  key: string;
}

/** The most `*` a model pattern may hold; keeps every match cheap (issue #11). */
export const MAX_PATTERN_STARS = 8;

const segment = '[A-Za-z0-9._:/?-]*';
/**
 * A model id, alias or glob (`*` any run, `?` one character), with at most MAX_PATTERN_STARS
 * stars. Each star is followed by a run without stars, so this RegExp is linear in ajv too.
 */
export const modelPattern: JsonSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 128,
  pattern: `^(\\*${segment}(\\*${segment}){0,${MAX_PATTERN_STARS - 1}}|[A-Za-z0-9?]${segment}(\\*${segment}){0,${MAX_PATTERN_STARS}})$`,
  description: `Model id, alias or glob: * any run, ? one character, at most ${MAX_PATTERN_STARS} stars.`,
};

/** Requests and tokens per minute. */
export const rateLimits: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    rpm: { ...positiveInt, description: 'Requests per minute.' },
    tpm: { ...positiveInt, description: 'Tokens (input + output) per minute.' },
  },
};

export interface RateLimits {
  rpm?: number;
  tpm?: number;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  generation?: number;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

/** Status conditions, as every kind carries them (written by the operator). */
export const conditionsSchema: JsonSchema = {
  type: 'array',
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
  description:
    'Conditions written by the operator, one per type. Ready=True: the current spec is valid and in force on the gateways; ' +
    'Ready=False: it is rejected (reason and message say why) and status.lastGood, if any, is served instead.',
  items: {
    type: 'object',
    required: ['type', 'status', 'reason', 'message', 'lastTransitionTime'],
    properties: {
      type: { type: 'string', maxLength: 316, description: 'Condition type, e.g. Ready; unique within the list.' },
      status: { type: 'string', enum: ['True', 'False', 'Unknown'], description: 'True, False or Unknown.' },
      reason: { type: 'string', maxLength: 1024, description: 'Machine-readable CamelCase reason for the last transition.' },
      message: { type: 'string', maxLength: 32768, description: 'Human-readable detail: what is wrong and which field.' },
      observedGeneration: {
        type: 'integer',
        format: 'int64',
        minimum: 0,
        description: 'metadata.generation the condition was computed from; older than metadata.generation means stale.',
      },
      lastTransitionTime: { type: 'string', format: 'date-time', description: 'When status last changed (RFC 3339, UTC).' },
    },
  },
};
