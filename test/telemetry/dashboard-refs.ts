/** The metric and label names the Grafana dashboard's queries use, to check them against a scrape. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DASHBOARD = fileURLToPath(new URL('../../charts/tokenhub/dashboards/tokenhub.json', import.meta.url));

interface Panel {
  readonly targets?: readonly { readonly expr: string }[];
}

export function dashboardExprs(): string[] {
  const d = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[]; templating: { list: { query?: unknown }[] } };
  const vars = d.templating.list.map((v) => (v.query as { query?: string } | undefined)?.query).filter((q): q is string => typeof q === 'string');
  return [...d.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)), ...vars];
}

/** Names in the queries: metrics (`tokenhub_…`, `gen_ai_…`) and the labels they group or filter by. */
export function dashboardRefs(filter: (expr: string) => boolean): { metrics: Set<string>; labels: Set<string> } {
  const metrics = new Set<string>();
  const labels = new Set<string>();
  for (const expr of dashboardExprs().filter(filter)) {
    for (const m of expr.matchAll(/by \(([^)]*)\)/g)) for (const l of (m[1] ?? '').split(',')) labels.add(l.trim());
    for (const m of expr.matchAll(/\{([^}]*)\}/g)) for (const l of (m[1] ?? '').matchAll(/([a-z_]+)\s*(?:=~|!=|=)/g)) labels.add(l[1] ?? '');
    // What is left once selectors, groupings and label_values' label argument are gone: metric names.
    const bare = expr
      .replace(/\{[^}]*\}/g, '')
      .replace(/by \([^)]*\)/g, '')
      .replace(/label_values\(([a-z_]+), [a-z_]+\)/g, '$1');
    for (const m of bare.matchAll(/\b(?:tokenhub|gen_ai)_[a-z_]+/g)) metrics.add(m[0]);
  }
  for (const builtIn of ['le', 'instance', '']) labels.delete(builtIn);
  return { metrics, labels };
}
