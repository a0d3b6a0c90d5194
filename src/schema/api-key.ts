/** ApiKey: who may call, which models, under which QuotaPolicies. */
import {
  dnsSubdomain,
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
  description:
    'Where the key comes from: exactly one of generate, secretRef, hash or serviceAccount. ' +
    'Clients send it as "Authorization: Bearer <key>"; the gateway stores and compares only its sha256.',
  properties: {
    generate: {
      type: 'object',
      additionalProperties: false,
      description: 'The operator generates a random key once and writes it to a Secret in this namespace (see status.secretName).',
      properties: {
        secretName: {
          ...dnsSubdomain,
          description: 'Name of the Secret the generated key is written to; default <apikey name>-key.',
        },
      },
    },
    secretRef: {
      ...secretKeyRef,
      description: 'A Secret key holding the clear key (filled by a secret manager, for example); the operator reads and hashes it.',
    },
    hash: {
      type: 'string',
      pattern: KEY_HASH_PATTERN,
      description: 'sha256:<64 lowercase hex> of the clear key; safe to commit to Git, the clear key never reaches the cluster.',
    },
    serviceAccount: {
      type: 'object',
      required: ['name'],
      additionalProperties: false,
      description: 'A ServiceAccount in this namespace whose projected token (audience tokenhub) authenticates as this key.',
      properties: {
        name: {
          ...dnsSubdomain,
          description: 'Name of the ServiceAccount, in the same namespace as this ApiKey.',
        },
      },
    },
  },
};

export const apiKeySpecSchema: JsonSchema = {
  type: 'object',
  required: ['credential'],
  additionalProperties: false,
  description: 'Who may call the gateway with this key, which models, and under which QuotaPolicies.',
  properties: {
    displayName: { type: 'string', maxLength: 256, description: 'Human-readable name, for people only (at most 256 characters).' },
    owner: { type: 'string', maxLength: 256, description: 'Team or person accountable for the key.' },
    credential,
    previousCredential: {
      type: 'object',
      required: ['notAfter'],
      additionalProperties: false,
      description: 'The old key, accepted beside credential until notAfter (a rotation window without downtime): exactly one of hash or secretRef.',
      properties: {
        hash: { type: 'string', pattern: KEY_HASH_PATTERN, description: 'sha256:<64 lowercase hex> of the old clear key.' },
        secretRef: { ...secretKeyRef, description: 'A Secret key holding the old clear key.' },
        notAfter: {
          type: 'string',
          format: 'date-time',
          description: 'RFC 3339 time from which the old key is refused (401) and only credential is accepted.',
        },
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
    disabled: { type: 'boolean', default: false, description: 'true: the gateway refuses the key (401) without deleting it. Default false.' },
    expiresAt: {
      type: 'string',
      format: 'date-time',
      description: 'RFC 3339 time from which the gateway refuses the key (401); omitted means it never expires.',
    },
  },
};

export const apiKeyStatusSchema: JsonSchema = {
  type: 'object',
  description: 'Observed state, written by the operator; do not edit.',
  properties: {
    conditions: conditionsSchema,
    observedGeneration: { type: 'integer', format: 'int64', description: 'metadata.generation this status was computed from.' },
    ready: { type: 'string', description: 'Ready condition status (True or False), for kubectl get.' },
    keyPrefix: { type: 'string', description: "Short fingerprint of the key's hash, to tell keys apart; never the clear key." },
    previousKeyPrefix: { type: 'string', description: 'Fingerprint of previousCredential while its rotation window is open.' },
    rotationDeadline: {
      type: 'string',
      format: 'date-time',
      description: 'previousCredential.notAfter while the rotation window is open: when the old key stops working.',
    },
    secretName: { type: 'string', description: 'The Secret holding the generated key (credential.generate only).' },
    usage: {
      type: 'object',
      description: "This period's usage summed over models, and what is left of the key's budgets; refreshed by the operator.",
      properties: {
        period: { type: 'string', description: 'The reporting period, e.g. m2026-11 (a calendar month, UTC).' },
        requests: { type: 'integer', format: 'int64', description: 'Requests charged in the period.' },
        inputTokens: { type: 'integer', format: 'int64', description: 'Input (prompt) tokens charged in the period.' },
        outputTokens: { type: 'integer', format: 'int64', description: 'Output (completion, including reasoning) tokens charged in the period.' },
        cost: { type: 'string', description: "Cost charged in the period, a decimal in the models' pricing currency." },
        remainingTokens: {
          type: 'string',
          description: 'Tokens left under the tightest token budget (day, month or total); omitted when unlimited.',
        },
        remainingCost: {
          type: 'string',
          description: 'Spend left under the tightest cost budget, a decimal in the pricing currency; omitted when unlimited.',
        },
        updatedAt: { type: 'string', format: 'date-time', description: 'When these figures last changed (RFC 3339, UTC).' },
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
