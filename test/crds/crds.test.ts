import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateCrds } from '../../src/crds/generate.js';

const CRD_DIR = join(import.meta.dirname, '../../crds');

describe('crds/', () => {
  it('is exactly what `tokenhub crds --out crds` writes (run `npm run crds` when this fails)', () => {
    const generated = generateCrds();
    const committed = readdirSync(CRD_DIR).filter((f) => f.endsWith('.yaml')).sort();
    expect(committed).toEqual(generated.map((f) => f.name).sort());
    for (const f of generated) expect(readFileSync(join(CRD_DIR, f.name), 'utf8'), f.name).toBe(f.content);
  });

  it('has structural schemas: no additionalProperties:false beside properties, every node typed', () => {
    for (const f of generateCrds()) {
      expect(f.content).not.toMatch(/additionalProperties: false/);
      expect(f.content).toMatch(/x-kubernetes-validations/);
      expect(f.content).toMatch(/subresources:\n\s+status: \{\}/);
    }
  });
});
