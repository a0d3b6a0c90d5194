import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { generateCrds } from '../../src/crds/generate.js';

interface SchemaNode {
  description?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
}

/** Every property path under `node` (array items as `[]`) that has no non-empty description. */
function undescribed(node: SchemaNode, path: string): string[] {
  const missing: string[] = [];
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    if (path === '' && name === 'metadata') continue; // ObjectMeta: Kubernetes documents it
    const at = path === '' ? name : `${path}.${name}`;
    if (typeof child.description !== 'string' || child.description.trim() === '') missing.push(at);
    missing.push(...undescribed(child, at));
    for (let items = child.items, p = `${at}[]`; items; items = items.items, p += '[]') missing.push(...undescribed(items, p));
  }
  return missing;
}

describe('CRD field descriptions (what `kubectl explain` prints)', () => {
  it('every property of every CRD, spec and status, nested and in array items, has a description', () => {
    const missing = generateCrds().flatMap((f) => {
      const crd = parse(f.content) as {
        spec: { names: { kind: string }; versions: { schema: { openAPIV3Schema: SchemaNode } }[] };
      };
      return crd.spec.versions.flatMap((v) =>
        undescribed(v.schema.openAPIV3Schema, '').map((p) => `${crd.spec.names.kind}.${p}`),
      );
    });
    expect(missing, `${missing.length} CRD properties have no description:\n${missing.join('\n')}`).toEqual([]);
  });

  it('says on ApiKey.spec.credential that exactly one source is set', () => {
    const apiKey = generateCrds().find((f) => f.name.includes('apikeys'));
    const crd = parse(apiKey?.content ?? '') as {
      spec: { versions: { schema: { openAPIV3Schema: SchemaNode } }[] };
    };
    const credential = crd.spec.versions[0]?.schema.openAPIV3Schema.properties?.['spec']?.properties?.['credential'];
    expect(credential?.description).toMatch(/exactly one of generate, secretRef, hash or serviceAccount/);
  });
});
