/** The registry of TokenHub kinds: one entry per kind drives CRDs, validation and the CLI. */
import { type CrossFieldRule, type JsonSchema, API_GROUP, API_VERSION } from './common.js';
import { backendRules, modelRouteSpecRules, modelRouteSpecSchema, modelRouteStatusSchema, tokenLimitRules } from './model-route.js';
import { apiKeySpecSchema, apiKeyStatusSchema, credentialRules, previousCredentialRules } from './api-key.js';
import { modelRateLimitRules, quotaPolicySpecSchema, quotaPolicyStatusSchema } from './quota-policy.js';

export const KIND_NAMES = ['ModelRoute', 'ApiKey', 'QuotaPolicy'] as const;
export type KindName = (typeof KIND_NAMES)[number];

/** Cross-field rules attached at a path inside spec; `*` steps into every array item. */
export interface RuleSite {
  readonly at: readonly string[];
  readonly rules: readonly CrossFieldRule<never>[];
}

export interface PrinterColumn {
  readonly name: string;
  readonly type: 'string' | 'integer' | 'date' | 'boolean' | 'number';
  readonly jsonPath: string;
  readonly description?: string;
  readonly priority?: number;
}

export interface KindInfo {
  readonly kind: KindName;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  readonly specSchema: JsonSchema;
  readonly statusSchema: JsonSchema;
  readonly ruleSites: readonly RuleSite[];
  readonly printerColumns: readonly PrinterColumn[];
  readonly description: string;
}

/**
 * status.lastGood, on every kind: the spec the fleet keeps serving while the object's current
 * version is rejected (written by the operator, read by every gateway, so a pod started after
 * the change serves what its elders serve). Absent while the current version is in force.
 */
const lastGoodSchema: JsonSchema = {
  type: 'object',
  description: 'The last good version still in force while the current one is rejected; absent otherwise.',
  required: ['spec'],
  properties: {
    generation: { type: 'integer', format: 'int64', description: 'metadata.generation of that version.' },
    spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, description: 'Its spec.' },
  },
};

const withLastGood = (status: JsonSchema): JsonSchema => ({
  ...status,
  properties: { ...(status['properties'] as Record<string, JsonSchema>), lastGood: lastGoodSchema },
});

const readyColumn: PrinterColumn = { name: 'Ready', type: 'string', jsonPath: '.status.ready' };
const ageColumn: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };
const reasonColumn: PrinterColumn = {
  name: 'Reason',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
  priority: 1,
};

export const KINDS: Readonly<Record<KindName, KindInfo>> = {
  ModelRoute: {
    kind: 'ModelRoute',
    plural: 'modelroutes',
    singular: 'modelroute',
    shortNames: ['mr', 'thmr'],
    description: 'A model clients can call: its limits, price and upstream backends.',
    specSchema: modelRouteSpecSchema,
    statusSchema: withLastGood(modelRouteStatusSchema),
    ruleSites: [
      { at: [], rules: modelRouteSpecRules },
      { at: ['limits'], rules: tokenLimitRules },
      { at: ['backends', '*'], rules: backendRules },
    ],
    printerColumns: [
      { name: 'Model', type: 'string', jsonPath: '.spec.model' },
      { name: 'Lifecycle', type: 'string', jsonPath: '.spec.lifecycle' },
      readyColumn,
      { name: 'RPM', type: 'integer', jsonPath: '.spec.rateLimits.rpm' },
      { name: 'TPM', type: 'integer', jsonPath: '.spec.rateLimits.tpm' },
      reasonColumn,
      ageColumn,
    ],
  },
  ApiKey: {
    kind: 'ApiKey',
    plural: 'apikeys',
    singular: 'apikey',
    shortNames: ['ak', 'thkey'],
    description: 'A credential for the gateway: allowed models and quota policies.',
    specSchema: apiKeySpecSchema,
    statusSchema: withLastGood(apiKeyStatusSchema),
    ruleSites: [
      { at: ['credential'], rules: credentialRules },
      { at: ['previousCredential'], rules: previousCredentialRules },
    ],
    printerColumns: [
      { name: 'Prefix', type: 'string', jsonPath: '.status.keyPrefix' },
      readyColumn,
      { name: 'Requests', type: 'integer', jsonPath: '.status.usage.requests' },
      { name: 'Tokens-In', type: 'integer', jsonPath: '.status.usage.inputTokens' },
      { name: 'Tokens-Out', type: 'integer', jsonPath: '.status.usage.outputTokens' },
      { name: 'Cost', type: 'string', jsonPath: '.status.usage.cost' },
      { name: 'Remaining', type: 'string', jsonPath: '.status.usage.remainingCost' },
      reasonColumn,
      ageColumn,
    ],
  },
  QuotaPolicy: {
    kind: 'QuotaPolicy',
    plural: 'quotapolicies',
    singular: 'quotapolicy',
    shortNames: ['qp', 'thqp'],
    description: 'RPM/TPM limits and token and cost budgets that ApiKeys refer to.',
    specSchema: quotaPolicySpecSchema,
    statusSchema: withLastGood(quotaPolicyStatusSchema),
    ruleSites: [{ at: ['modelRateLimits', '*'], rules: modelRateLimitRules }],
    printerColumns: [
      { name: 'Default', type: 'boolean', jsonPath: '.spec.default' },
      { name: 'RPM', type: 'integer', jsonPath: '.spec.rateLimits.rpm' },
      { name: 'TPM', type: 'integer', jsonPath: '.spec.rateLimits.tpm' },
      { name: 'Keys', type: 'integer', jsonPath: '.status.keys' },
      readyColumn,
      reasonColumn,
      ageColumn,
    ],
  },
};

export function isKindName(kind: unknown): kind is KindName {
  return typeof kind === 'string' && (KIND_NAMES as readonly string[]).includes(kind);
}

export { API_GROUP, API_VERSION };
