/**
 * Runtime validation of one TokenHub object with the same schemas the CRDs are made from:
 * structure with ajv, then the cross-field rules the API server runs as CEL.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { dnsSubdomain, GROUP_VERSION, type JsonSchema } from './common.js';
import { celHolds } from './cel.js';
import { copyData } from './json-copy.js';
import { KINDS, type KindInfo, type KindName, type RuleSite, isKindName } from './kinds.js';
import type { ModelRoute } from './model-route.js';
import type { ApiKey } from './api-key.js';
import type { QuotaPolicy } from './quota-policy.js';

export type TokenHubResource = ModelRoute | ApiKey | QuotaPolicy;

/** A path into the document, e.g. ['spec', 'backends', 0, 'baseURL']. */
export type FieldPath = readonly (string | number)[];

export interface SchemaProblem {
  readonly path: FieldPath;
  readonly message: string;
}

export type ValidationResult = { ok: true; resource: TokenHubResource } | { ok: false; kind?: string; name?: string; problems: SchemaProblem[] };

const metadataSchema: JsonSchema = {
  type: 'object',
  required: ['name'],
  properties: {
    name: dnsSubdomain,
    namespace: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 },
  },
};

function objectSchema(info: KindInfo): JsonSchema {
  return {
    type: 'object',
    required: ['apiVersion', 'kind', 'metadata', 'spec'],
    properties: {
      apiVersion: { const: GROUP_VERSION },
      kind: { const: info.kind },
      metadata: metadataSchema,
      spec: info.specSchema,
      status: info.statusSchema,
    },
  };
}

// ajv-formats ships CommonJS; its default export is the plugin under ESM interop.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/** Compiled validators, built once per process on first use (ajv compilation is costly). */
export class ResourceValidator {
  private readonly validators: ReadonlyMap<KindName, ValidateFunction>;

  constructor() {
    const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
    addFormats(ajv);
    this.validators = new Map(Object.values(KINDS).map((info) => [info.kind, ajv.compile(objectSchema(info))] as const));
  }

  /** Validates a parsed document; returns a defaulted deep copy when it is valid. */
  validate(doc: unknown): ValidationResult {
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
      return { ok: false, problems: [{ path: [], message: 'expected a mapping (a Kubernetes object)' }] };
    }
    const raw = doc as Record<string, unknown>;
    const kind = raw['kind'];
    const name = nameOf(raw);
    if (!isKindName(kind)) {
      const message = `unknown kind ${JSON.stringify(kind)} for ${GROUP_VERSION}; expected one of ${Object.keys(KINDS).join(', ')}`;
      return { ok: false, name, problems: [{ path: ['kind'], message }] };
    }
    const copy = copyData(raw);
    const validate = this.validators.get(kind);
    if (validate === undefined) throw new Error(`no validator for ${kind}`);
    const problems = validate(copy) ? [] : (validate.errors ?? []).map(toProblem);
    if (problems.length === 0) problems.push(...checkRules(KINDS[kind].ruleSites, copy['spec']));
    if (problems.length > 0) return { ok: false, kind, name, problems };
    return { ok: true, resource: copy as unknown as TokenHubResource };
  }
}

function nameOf(raw: Record<string, unknown>): string | undefined {
  const meta = raw['metadata'];
  if (typeof meta !== 'object' || meta === null) return undefined;
  const name = (meta as Record<string, unknown>)['name'];
  return typeof name === 'string' ? name : undefined;
}

function toProblem(error: ErrorObject): SchemaProblem {
  const path: (string | number)[] = error.instancePath
    .split('/')
    .slice(1)
    .map((seg) => seg.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((seg) => (/^\d+$/.test(seg) ? Number(seg) : seg));
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return { path: [...path, String(params['missingProperty'])], message: 'required field is missing' };
    case 'additionalProperties':
      return { path: [...path, String(params['additionalProperty'])], message: 'unknown field' };
    case 'enum':
      return { path, message: `must be one of ${(params['allowedValues'] as unknown[]).join(', ')}` };
    case 'const':
      return { path, message: `must be ${JSON.stringify(params['allowedValue'])}` };
    default:
      return { path, message: error.message ?? `fails ${error.keyword}` };
  }
}

/** Walks each rule site (stepping into array items at `*`) and evaluates its CEL rules there. */
export function checkRules(sites: readonly RuleSite[], spec: unknown): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  for (const site of sites) {
    for (const { value, path } of resolveSite(spec, site.at, ['spec'])) {
      for (const rule of site.rules) {
        if (!celHolds(rule.rule, value)) {
          const fieldPath = rule.field === '' ? path : [...path, rule.field];
          problems.push({ path: fieldPath, message: rule.message });
        }
      }
    }
  }
  return problems;
}

function resolveSite(value: unknown, at: readonly string[], path: (string | number)[]): { value: unknown; path: (string | number)[] }[] {
  if (value === undefined || value === null) return [];
  const [step, ...rest] = at;
  if (step === undefined) return [{ value, path }];
  if (step === '*') {
    if (!Array.isArray(value)) return [];
    return value.flatMap((item, i) => resolveSite(item, rest, [...path, i]));
  }
  return resolveSite((value as Record<string, unknown>)[step], rest, [...path, step]);
}

export function formatPath(path: FieldPath): string {
  return path.reduce<string>((acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : acc === '' ? seg : `${acc}.${seg}`), '');
}
