/** ApiKey: who may call, which models, under which QuotaPolicies. */
import {
  type Condition,
  type CrossFieldRule,
  type JsonSchema,
  type ObjectMeta,
  type SecretKeyRef,
  conditionsSchema,
  modelPattern,
  secretKeyRef,
} from './common.js';

/** Where the key's secret value comes from: exactly one of the three. */
export interface KeyCredential {
  /** The operator generates a key into a Secret named `secretName` (default `<apikey>-key`). */
  generate?: { secretName?: string };
  /** A Secret (filled by a secret manager, for example) holds the clear key. */
  secretRef?: SecretKeyRef;
  /** The key's hash, committed to Git: `sha256:<64 hex>` of the clear key. */
  hash?: string;
  /**
   * A ServiceAccount in the key's namespace: its pods send their projected token (audience
   * `tokenhub`) as the Bearer, no key to distribute.
   */
  serviceAccount?: { name: string };
}

/** A second credential accepted until `notAfter`: the old key during a rotation window. */
export interface PreviousCredential {
  hash?: string;
  secretRef?: SecretKeyRef;
  /** RFC 3339; from then on only `credential` is accepted. */
  notAfter: string;
}

export interface ApiKeySpec {
  displayName?: string;
  owner?: string;
  credential: KeyCredential;
  previousCredential?: PreviousCredential;
  /** Model ids, aliases or globs (`*`, `doubao-seed-2-0-*`). Default: every model. */
  allowedModels?: string[];
  /** QuotaPolicy names in the same namespace; none means the namespace's default policy. */
  quotaPolicies?: string[];
  disabled?: boolean;
  expiresAt?: string;
}

export interface KeyUsageStatus {
  period?: string;
  requests?: number;
  inputTokens?: number;
  outputTokens?: number;
  cost?: string;
  remainingTokens?: string;
  remainingCost?: string;
  updatedAt?: string;
}

export interface ApiKeyStatus {
  conditions?: Condition[];
  observedGeneration?: number;
  ready?: string;
  keyPrefix?: string;
  /** During a rotation window: the old credential's fingerprint and when it stops working. */
  previousKeyPrefix?: string;
  rotationDeadline?: string;
  secretName?: string;
  usage?: KeyUsageStatus;
}

export interface ApiKey {
  apiVersion: string;
  kind: 'ApiKey';
  metadata: ObjectMeta;
  spec: ApiKeySpec;
  status?: ApiKeyStatus;
}

export const KEY_HASH_PATTERN = '^sha256:[0-9a-f]{64}$';

const credential: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    generate: {
      type: 'object',
      additionalProperties: false,
      properties: { secretName: { type: 'string', maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' } },
    },
    secretRef: secretKeyRef,
    hash: { type: 'string', pattern: KEY_HASH_PATTERN, description: 'sha256:<hex> of the clear key.' },
    serviceAccount: {
      type: 'object',
      required: ['name'],
      additionalProperties: false,
      description: "A ServiceAccount in this namespace whose projected token (audience tokenhub) authenticates as this key.",
      properties: { name: { type: 'string', minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' } },
    },
  },
};

export const apiKeySpecSchema: JsonSchema = {
  type: 'object',
  required: ['credential'],
  additionalProperties: false,
  properties: {
    displayName: { type: 'string', maxLength: 256 },
    owner: { type: 'string', maxLength: 256, description: 'Team or person accountable for the key.' },
    credential,
    previousCredential: {
      type: 'object',
      required: ['notAfter'],
      additionalProperties: false,
      description: 'The old key, accepted until notAfter (a rotation window without downtime).',
      properties: {
        hash: { type: 'string', pattern: KEY_HASH_PATTERN },
        secretRef: secretKeyRef,
        notAfter: { type: 'string', format: 'date-time' },
      },
    },
    allowedModels: {
      type: 'array',
      maxItems: 256,
      items: modelPattern,
      description: 'Model ids, aliases or globs; omitted means every model.',
    },
    quotaPolicies: {
      type: 'array',
      maxItems: 16,
      items: { type: 'string', minLength: 1, maxLength: 253 },
      description: 'QuotaPolicies in this namespace; the most restrictive limit wins.',
    },
    disabled: { type: 'boolean', default: false },
    expiresAt: { type: 'string', format: 'date-time' },
  },
};

export const apiKeyStatusSchema: JsonSchema = {
  type: 'object',
  properties: {
    conditions: conditionsSchema,
    observedGeneration: { type: 'integer', format: 'int64' },
    ready: { type: 'string' },
    keyPrefix: { type: 'string' },
    previousKeyPrefix: { type: 'string' },
    rotationDeadline: { type: 'string', format: 'date-time' },
    secretName: { type: 'string' },
    usage: {
      type: 'object',
      properties: {
        period: { type: 'string' },
        requests: { type: 'integer', format: 'int64' },
        inputTokens: { type: 'integer', format: 'int64' },
        outputTokens: { type: 'integer', format: 'int64' },
        cost: { type: 'string' },
        remainingTokens: { type: 'string' },
        remainingCost: { type: 'string' },
        updatedAt: { type: 'string', format: 'date-time' },
      },
    },
  },
};

export const credentialRules: readonly CrossFieldRule<KeyCredential>[] = [
  {
    rule: '(has(self.generate) ? 1 : 0) + (has(self.secretRef) ? 1 : 0) + (has(self.hash) ? 1 : 0) + (has(self.serviceAccount) ? 1 : 0) == 1',
    message: 'set exactly one of generate, secretRef, hash or serviceAccount',
    field: '',
  },
];

export const previousCredentialRules: readonly CrossFieldRule<PreviousCredential>[] = [
  {
    rule: '(has(self.secretRef) ? 1 : 0) + (has(self.hash) ? 1 : 0) == 1',
    message: 'set exactly one of secretRef or hash',
    field: '',
  },
];
