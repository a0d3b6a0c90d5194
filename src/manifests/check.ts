/**
 * The offline GitOps check behind `tokenhub validate`: loaded documents → compile → one precise
 * line per problem (file:line, kind/name, field, reason). Pure; the CLI only prints the result.
 */
import { type ObjectIdentity, identityKey } from '../compile/identity.js';
import { API_GROUP } from '../schema/common.js';
import { formatPath } from '../schema/validate.js';
import { type Compiler, createCompiler } from '../compile/compile.js';
import { REASONS } from '../compile/reasons.js';
import type { CompileInput, CompileResult, Verdict } from '../compile/types.js';
import { type LoadProblem, type LoadedDoc, isObject, secretsOf } from './load.js';

export interface CheckLine {
  readonly file: string;
  readonly line: number;
  readonly object: string;
  readonly field: string;
  readonly reason: string;
  readonly message: string;
  readonly severity: 'error' | 'warning';
}

export interface CheckReport {
  readonly lines: CheckLine[];
  readonly compiled: CompileResult;
  readonly objects: number;
  readonly errors: number;
}

export function isOurs(obj: unknown): boolean {
  return isObject(obj) && typeof obj['apiVersion'] === 'string' && obj['apiVersion'].split('/')[0] === API_GROUP;
}

/** The compile input held in a set of documents: our objects and the Secrets among them. */
export function compileInputOf(objects: readonly unknown[], defaultNamespace: string): CompileInput {
  return { objects: objects.filter(isOurs), secrets: secretsOf(objects, defaultNamespace) };
}

export function checkDocuments(
  docs: readonly LoadedDoc[],
  loadProblems: readonly LoadProblem[],
  opts: { now: Date; defaultNamespace?: string; compiler?: Compiler; transform?: (objects: unknown[]) => unknown[] },
): CheckReport {
  const ns = opts.defaultNamespace ?? 'default';
  const lines: CheckLine[] = loadProblems.map((p) => ({
    file: p.file,
    line: p.line,
    object: '-',
    field: '-',
    reason: 'Unreadable',
    message: p.message,
    severity: 'error',
  }));
  let ours: LoadedDoc[] = [];
  for (const doc of docs) {
    const problem = shapeProblem(doc);
    if (problem !== undefined) lines.push(problem);
    else if (isOurs(doc.object)) ours.push(doc);
  }
  const dupes = duplicates(ours, ns);
  lines.push(...dupes.lines);
  ours = ours.filter((d) => !dupes.docs.has(d));
  const compiler = opts.compiler ?? createCompiler();
  const input = compileInputOf(
    docs.map((d) => d.object),
    ns,
  );
  const objects = ours.map((d) => d.object);
  const compiled = compiler({ objects: opts.transform ? opts.transform(objects) : objects, secrets: input.secrets }, { now: opts.now, defaultNamespace: ns });
  for (const v of compiled.verdicts) if (!v.ready) lines.push(...verdictLines(v, locate(ours, v, ns)));
  lines.sort((a, b) => (a.file === b.file ? a.line - b.line : a.file < b.file ? -1 : 1));
  return { lines, compiled, objects: ours.length, errors: lines.filter((l) => l.severity === 'error').length };
}

/** A document that is not a Kubernetes object at all, or a kind of ours we do not know. */
function shapeProblem(doc: LoadedDoc): CheckLine | undefined {
  const base = { file: doc.file, object: `document ${doc.index + 1}`, severity: 'error' as const };
  const o = doc.object;
  if (!isObject(o))
    return { ...base, line: doc.line, field: '-', reason: 'NotAnObject', message: 'expected a Kubernetes object (a mapping with apiVersion and kind)' };
  for (const field of ['apiVersion', 'kind'] as const) {
    if (typeof o[field] !== 'string') return { ...base, line: doc.line, field, reason: 'InvalidSpec', message: 'required field is missing' };
  }
  return undefined;
}

/** Later definitions of the same object are reported and left out of the compile. */
function duplicates(docs: readonly LoadedDoc[], ns: string): { lines: CheckLine[]; docs: Set<LoadedDoc> } {
  const seen = new Map<string, LoadedDoc>();
  const out: CheckLine[] = [];
  const dropped = new Set<LoadedDoc>();
  for (const doc of docs) {
    const identity = identityOfDoc(doc.object, ns);
    const id = identityKey(identity);
    const first = seen.get(id);
    if (first === undefined) seen.set(id, doc);
    else {
      dropped.add(doc);
      out.push({
        file: doc.file,
        line: doc.line,
        object: `${identity.kind}/${identity.name}`,
        field: 'metadata.name',
        reason: 'Duplicate',
        message: `also defined at ${first.file}:${first.line}`,
        severity: 'error',
      });
    }
  }
  return { lines: out, docs: dropped };
}

/** The identity of a document, also of one that lacks a kind or name (those read "undefined"). */
function identityOfDoc(obj: unknown, ns: string): ObjectIdentity {
  const o = obj as Record<string, unknown>;
  const meta = isObject(o['metadata']) ? o['metadata'] : {};
  return { kind: String(o['kind']), namespace: typeof meta['namespace'] === 'string' ? meta['namespace'] : ns, name: String(meta['name']) };
}

const objectId = (obj: unknown, ns: string): string => identityKey(identityOfDoc(obj, ns));

function locate(docs: readonly LoadedDoc[], v: Verdict, ns: string): LoadedDoc | undefined {
  return docs.find((d) => objectId(d.object, ns) === identityKey(v.ref));
}

function verdictLines(v: Verdict, doc: LoadedDoc | undefined): CheckLine[] {
  const object = `${v.ref.kind}/${v.ref.name}`;
  // Offline severity is the reason's own attribute (src/compile/reasons.ts).
  const severity = REASONS[v.reason].offline;
  const file = doc?.file ?? '-';
  if (v.problems !== undefined && v.problems.length > 0) {
    return v.problems.map((p) => ({
      file,
      line: doc?.lineOf(p.path) ?? 0,
      object,
      field: formatPath(p.path) || '-',
      reason: v.reason,
      message: p.message,
      severity,
    }));
  }
  const field = REASONS[v.reason].field;
  const line = doc?.lineOf(field === '-' ? ['spec'] : field.split('.')) ?? 0;
  return [{ file, line, object, field, reason: v.reason, message: v.message, severity }];
}

export function formatCheckLine(l: CheckLine): string {
  return `${l.file}:${l.line}: ${l.severity}: ${l.object}: ${l.field}: ${l.message} (${l.reason})`;
}
