/**
 * Golden files for the rendered gateway fleet: testdata/fleet/<case>.in.yaml (a fleet.yaml) →
 * <case>.out.yaml (the objects the operator applies). A reviewer reads the YAML diff.
 * Regenerate with UPDATE_GOLDEN=1 npx vitest run test/operator/fleet-golden.test.ts, then review.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { FleetConfigParser } from '../../src/operator/fleet/config.js';
import { renderFleet } from '../../src/operator/fleet/render.js';

const DIR = join(import.meta.dirname, 'testdata/fleet');
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';
const parser = new FleetConfigParser();
const cases = readdirSync(DIR)
  .filter((f) => f.endsWith('.in.yaml'))
  .map((f) => f.slice(0, -'.in.yaml'.length));

describe('rendered fleet (golden)', () => {
  it('has cases', () => expect(cases.length).toBeGreaterThanOrEqual(2));

  it.each(cases)('%s', (name) => {
    const parsed = parser.parse(readFileSync(join(DIR, `${name}.in.yaml`), 'utf8'));
    if (!parsed.ok) throw new Error(`${name}.in.yaml: ${parsed.error}`);
    const objects = Object.values(renderFleet({ config: parsed.config, namespace: 'tokenhub', owner: { name: 'tokenhub-gateway', uid: 'uid-1' } })).filter(
      (o) => o !== undefined,
    );
    const actual = objects.map((o) => stringify(o, { sortMapEntries: false })).join('---\n');
    const outPath = join(DIR, `${name}.out.yaml`);
    if (UPDATE) writeFileSync(outPath, actual);
    // A new case without its expected output fails: run with UPDATE_GOLDEN=1 and review the YAML.
    expect(existsSync(outPath), `${outPath} is missing`).toBe(true);
    expect(actual).toBe(readFileSync(outPath, 'utf8'));
  });
});
