/**
 * Reads Kubernetes manifests from files and directories (multi-document YAML, JSON too) and keeps
 * enough of the source to point at a field's line. The only file I/O of `tokenhub validate`.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LineCounter, isCollection, isMap, isScalar, parseAllDocuments, type Document, type YAMLMap, type YAMLSeq } from 'yaml';
import type { SecretInput } from '../compile/types.js';
import type { FieldPath } from '../schema/validate.js';

export interface LoadedDoc {
  readonly file: string;
  /** 0-based index of the document in its file. */
  readonly index: number;
  /** 1-based line where the document starts. */
  readonly line: number;
  readonly object: unknown;
  /** 1-based line of a field, or of its nearest existing parent. */
  readonly lineOf: (path: FieldPath) => number;
}

export interface LoadProblem {
  readonly file: string;
  readonly line: number;
  readonly message: string;
}

export interface LoadResult {
  readonly docs: LoadedDoc[];
  readonly problems: LoadProblem[];
}

const MANIFEST = /\.(ya?ml|json)$/i;

/** Files in path order; a directory contributes its manifests recursively, sorted by name. */
export async function listManifestFiles(paths: readonly string[]): Promise<{ files: string[]; problems: LoadProblem[] }> {
  const files: string[] = [];
  const problems: LoadProblem[] = [];
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined);
    if (info === undefined) problems.push({ file: path, line: 0, message: 'no such file or directory' });
    else if (info.isDirectory()) files.push(...(await walk(path)));
    else files.push(path);
  }
  return { files, problems };
}

async function walk(dir: string): Promise<string[]> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
  const out: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const full = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(full)));
    else if (MANIFEST.test(e.name)) out.push(full);
  }
  return out;
}

/** Each file's last text and parse, for a caller that loads the same files again and again. */
export type ParseCache = Map<string, { readonly text: string; readonly parsed: LoadResult }>;

/**
 * Reads and parses every manifest under `paths`. With a cache, a file whose text did not change
 * keeps its parse (a change to one file re-parses that file, not 10k keys' worth), and files
 * that are gone leave the cache.
 */
export async function loadManifests(paths: readonly string[], cache?: ParseCache): Promise<LoadResult> {
  const { files, problems } = await listManifestFiles(paths);
  const docs: LoadedDoc[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    let hit = cache?.get(file);
    if (hit?.text !== text) {
      hit = { text, parsed: parseManifestText(file, text) };
      cache?.set(file, hit);
    }
    docs.push(...hit.parsed.docs);
    problems.push(...hit.parsed.problems);
  }
  if (cache !== undefined) {
    const present = new Set(files);
    for (const file of cache.keys()) if (!present.has(file)) cache.delete(file);
  }
  return { docs, problems };
}

/** Pure: one file's text → its documents (empty documents skipped) and syntax problems. */
export function parseManifestText(file: string, text: string): LoadResult {
  const counter = new LineCounter();
  const docs: LoadedDoc[] = [];
  const problems: LoadProblem[] = [];
  parseAllDocuments(text, { lineCounter: counter, prettyErrors: false }).forEach((doc, index) => {
    const start = doc.range[0];
    const line = counter.linePos(start).line;
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        const at = err.linePos?.[0]?.line ?? line;
        problems.push({ file, line: at, message: `not valid YAML: ${firstLine(err.message)}` });
      }
      return;
    }
    const object: unknown = doc.toJS();
    if (object === null || object === undefined) return;
    docs.push({ file, index, line: firstContentLine(doc, counter, line), object, lineOf: (path) => lineOf(doc, counter, path, line) });
  });
  return { docs, problems };
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

function firstContentLine(doc: Document, counter: LineCounter, fallback: number): number {
  const range = doc.contents?.range;
  return range === undefined || range === null ? fallback : counter.linePos(range[0]).line;
}

function lineOf(doc: Document, counter: LineCounter, path: FieldPath, fallback: number): number {
  for (let n = path.length; n > 0; n--) {
    const parent = doc.getIn(path.slice(0, n - 1), true);
    const offset = isCollection(parent) ? keyOffset(parent, path[n - 1]) : undefined;
    if (offset !== undefined) return counter.linePos(offset).line;
  }
  return firstContentLine(doc, counter, fallback);
}

/** Where a map key (or a sequence item) starts: the line a reader looks for. */
function keyOffset(parent: YAMLMap | YAMLSeq, seg: string | number | undefined): number | undefined {
  if (isMap(parent)) {
    const pair = parent.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === seg);
    // The assertion narrows yaml's `unknown` key node to what carries a source range.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
    const node = (pair?.key ?? undefined) as { range?: [number, number, number] } | undefined;
    return node?.range?.[0];
  }
  const item = typeof seg === 'number' ? (parent.items[seg] as { range?: [number, number, number] } | undefined) : undefined;
  return item?.range?.[0];
}

/** Secrets among the documents (data is base64, stringData is clear), as compile wants them. */
export function secretsOf(objects: readonly unknown[], defaultNamespace: string): SecretInput[] {
  const out: SecretInput[] = [];
  for (const raw of objects) {
    if (!isObject(raw) || raw['kind'] !== 'Secret' || raw['apiVersion'] !== 'v1') continue;
    const meta = isObject(raw['metadata']) ? raw['metadata'] : {};
    const data: Record<string, string> = {};
    for (const [k, v] of Object.entries(isObject(raw['data']) ? raw['data'] : {})) {
      if (typeof v === 'string') data[k] = Buffer.from(v, 'base64').toString('utf8');
    }
    for (const [k, v] of Object.entries(isObject(raw['stringData']) ? raw['stringData'] : {})) {
      if (typeof v === 'string') data[k] = v;
    }
    const name = typeof meta['name'] === 'string' ? meta['name'] : '';
    const namespace = typeof meta['namespace'] === 'string' ? meta['namespace'] : defaultNamespace;
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(isObject(meta['labels']) ? meta['labels'] : {})) if (typeof v === 'string') labels[k] = v;
    out.push({ namespace, name, data, labels });
  }
  return out;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
