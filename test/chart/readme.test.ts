/** charts/tokenhub/README.md's values table is what values.yaml generates (`npm run chart-docs`). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { valuesTable, withValuesTable } from '../../src/devtools/values-table.js';
import { CHART } from './helm.js';

describe('chart README', () => {
  it('carries the values table generated from values.yaml (run `npm run chart-docs` when this fails)', () => {
    const readme = readFileSync(join(CHART, 'README.md'), 'utf8');
    expect(readme).toBe(withValuesTable(readme, readFileSync(join(CHART, 'values.yaml'), 'utf8')));
  });

  it('lists every leaf with its type, default and `# --` description, nested keys dotted', () => {
    const table = valuesTable(
      [
        '# -- Top.',
        'a: 1',
        'm:',
        '  # -- First member (the comment yaml gives the map).',
        '  x: "s"',
        '  y: [1, 2]',
        '  z: {}',
        '# -- A documented map.',
        'p:',
        '  q: 0.5',
        '  "dotted.key": true',
        'plain: null',
        '# a comment that is not a description',
        'bar: "a|b <c>"',
      ].join('\n'),
    );
    expect(table.split('\n').slice(2, -1)).toEqual([
      '| `a` | int | `1` | Top. |',
      '| `m.x` | string | `"s"` | First member (the comment yaml gives the map). |',
      '| `m.y` | list | `[1,2]` |  |',
      '| `m.z` | object | `{}` |  |',
      '| `p` | object | `{"q":0.5,"dotted.key":true}` | A documented map. |',
      '| `p.q` | float | `0.5` |  |',
      '| `p["dotted.key"]` | boolean | `true` |  |',
      '| `plain` | null | `null` |  |',
      '| `bar` | string | `"a\\|b &lt;c&gt;"` |  |',
    ]);
  });
});
