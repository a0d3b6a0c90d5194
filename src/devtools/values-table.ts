/**
 * The chart README's values table, generated from values.yaml: one row per leaf value (a scalar,
 * a list, an empty map) with its dotted key, type, default and the `# --` comment above it (the
 * helm-docs convention; continuation lines are the `#` lines that follow). Pure, plus a small
 * CLI that rewrites the table between the README's markers:
 *   npm run chart-docs
 * test/chart/readme.test.ts fails when the committed table is not what this generates.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMap, isScalar, isSeq, parseDocument, type Node, type Pair } from 'yaml';

export const BEGIN = '<!-- values:begin (generated from values.yaml; do not edit) -->';
export const END = '<!-- values:end -->';

interface Row {
  readonly key: string;
  readonly type: string;
  readonly value: string;
  readonly description: string;
}

/** The text of a `# --` comment: from its `--` line to the end, continuation lines joined. */
function describe(comment: string | null | undefined): string {
  if (!comment) return '';
  const lines = comment.split('\n').map((l) => l.replace(/^\s?/, ''));
  const start = lines.findIndex((l) => l.startsWith('-- '));
  if (start < 0) return '';
  return lines
    .slice(start)
    .map((l, i) => (i === 0 ? l.slice(3) : l))
    .join(' ')
    .replace(/\s+/g, ' ')
    .trim();
}

function typeOf(value: unknown): string {
  if (Array.isArray(value)) return 'list';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'object';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  return typeof value;
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function walk(node: Node | null, prefix: string, comment: string, rows: Row[]): void {
  if (isMap(node) && node.items.length > 0) {
    // A documented map gets a row of its own (then its members theirs), as helm-docs does.
    if (describe(comment) !== '') rows.push({ key: prefix, type: 'object', value: JSON.stringify(node.toJSON()), description: describe(comment) });
    (node.items as Pair<Node, Node>[]).forEach((pair, i) => {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const path = prefix === '' ? key : /^[A-Za-z0-9_]+$/.test(key) ? `${prefix}.${key}` : `${prefix}["${key}"]`;
      // A comment above a map's first key is the map's own (yaml attaches it there).
      const above = pair.key?.commentBefore ?? (i === 0 ? node.commentBefore : undefined);
      walk(pair.value, path, above ?? '', rows);
    });
    return;
  }
  const value: unknown = isScalar(node) || isSeq(node) || isMap(node) ? node.toJSON() : null;
  rows.push({ key: prefix, type: typeOf(value), value: JSON.stringify(value), description: describe(comment) });
}

export function valuesTable(valuesYaml: string): string {
  const rows: Row[] = [];
  walk(parseDocument(valuesYaml).contents, '', '', rows);
  const lines = ['| Key | Type | Default | Description |', '| --- | --- | --- | --- |'];
  for (const r of rows) lines.push(`| \`${cell(r.key)}\` | ${r.type} | \`${cell(r.value)}\` | ${cell(r.description)} |`);
  return `${lines.join('\n')}\n`;
}

/** The README with the table between the markers replaced. */
export function withValuesTable(readme: string, valuesYaml: string): string {
  const begin = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`the README has no ${BEGIN} … ${END} section`);
  return `${readme.slice(0, begin + BEGIN.length)}\n${valuesTable(valuesYaml)}${readme.slice(end)}`;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const chart = process.argv[2] ?? 'charts/tokenhub';
  const readmePath = join(chart, 'README.md');
  writeFileSync(readmePath, withValuesTable(readFileSync(readmePath, 'utf8'), readFileSync(join(chart, 'values.yaml'), 'utf8')));
}
